// pn_modbus_server: a Modbus TCP or RTU server (libmodbus) holding known values, for the
// modbus driver's tests and benchmark. Not part of the product.
//
//   pn_modbus_server --tcp PORT        listen on 127.0.0.1:PORT (0: any free port)
//   pn_modbus_server --rtu DEVICE      serve one unit (--unit, default 1) on a serial device/pty
// Options:
//   --unit N         RTU: a unit id to answer as (repeatable; default 1)
//   --dead-unit N    never answer requests for unit N (repeatable; TCP)
//   --slow-unit N:MS answer unit N only after MS milliseconds (TCP)
//   --garble-unit N  answer every other request for unit N with a mismatched (TCP: wrong
//                    transaction id) or corrupt (RTU: bad CRC) frame first
//   --no-holes       do not reject reads touching holding/input registers 60..69
// On start it prints "READY <port>" (TCP) or "READY" (RTU) on stdout and flushes.
//
// The values (unit u, every unit the same layout; holding and input registers alike except
// register 0): see kLayout below and drivers/modbus/testcases/. Registers 1000..9999 hold their
// own address (for the benchmark). Reads touching registers 60..69 get exception 02 (illegal
// data address) unless --no-holes.
#include <modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr int kRegisters = 10000;
constexpr int kBits = 10000;
constexpr int kHoleFirst = 60;
constexpr int kHoleLast = 69;

void Put(std::uint16_t* regs, int at, std::initializer_list<std::uint16_t> values) {
  for (std::uint16_t v : values) regs[at++] = v;
}

// Fills one table of registers with the known layout.
void FillRegisters(std::uint16_t* r, int unit, std::uint16_t first) {
  r[0] = first;
  Put(r, 1, {0xFFFE});                             // int16 -2
  Put(r, 2, {0xF8A4, 0x32EB});                     // int32 -123456789 ABCD
  Put(r, 4, {0xEB32, 0xA4F8});                     // DCBA
  Put(r, 6, {0xA4F8, 0xEB32});                     // BADC
  Put(r, 8, {0x32EB, 0xF8A4});                     // CDAB
  Put(r, 10, {0xDEAD, 0xBEEF});                    // uint32 3735928559 ABCD
  Put(r, 12, {0xBEEF, 0xDEAD});                    // CDAB
  Put(r, 14, {0xC49A, 0x5000});                    // float32 -1234.5 ABCD
  Put(r, 16, {0x0050, 0x9AC4});                    // DCBA
  Put(r, 18, {0x9AC4, 0x0050});                    // BADC
  Put(r, 20, {0x5000, 0xC49A});                    // CDAB
  Put(r, 22, {0xC093, 0x4A45, 0x6D5C, 0xFAAD});    // float64 -1234.5678 ABCD
  Put(r, 26, {0xADFA, 0x5C6D, 0x454A, 0x93C0});    // DCBA
  Put(r, 30, {0x93C0, 0x454A, 0x5C6D, 0xADFA});    // BADC
  Put(r, 34, {0xFAAD, 0x6D5C, 0x4A45, 0xC093});    // CDAB
  Put(r, 38, {0x0102, 0x0304, 0x0506, 0x0708});    // int64 72623859790382856 ABCD
  Put(r, 42, {0x0708, 0x0506, 0x0304, 0x0102});    // uint64 same value CDAB
  Put(r, 46, {0x3132, 0x2E35});                    // string "12.5" ABCD
  Put(r, 48, {0x3234, 0x0000});                    // string "24" BADC -> "42"
  Put(r, 50, {250});                               // uint16 250 (scale 0.1 offset -40 -> -15)
  Put(r, 51, {static_cast<std::uint16_t>(unit)});  // the unit id
  Put(r, 55, {5555});
  Put(r, 75, {7575});
  for (int a = 1000; a < kRegisters; ++a) r[a] = static_cast<std::uint16_t>(a);
}

modbus_mapping_t* NewMapping(int unit) {
  modbus_mapping_t* m = modbus_mapping_new(kBits, kBits, kRegisters, kRegisters);
  if (m == nullptr) return nullptr;
  FillRegisters(m->tab_registers, unit, static_cast<std::uint16_t>(1000 + unit));
  FillRegisters(m->tab_input_registers, unit, static_cast<std::uint16_t>(2000 + unit));
  for (int b : {0, 2, 10, 1999}) m->tab_bits[b] = 1;
  for (int b : {1, 5}) m->tab_input_bits[b] = 1;
  return m;
}

struct Options {
  bool tcp = true;
  int port = 0;
  std::string device;
  std::set<int> units;  // RTU: the unit ids served
  std::set<int> dead;
  std::map<int, int> slow_ms;
  std::set<int> garble;
  bool holes = true;
};

int Usage() {
  std::fprintf(stderr,
               "usage: pn_modbus_server (--tcp PORT | --rtu DEVICE [--unit N]) [--dead-unit N]... "
               "[--slow-unit N:MS]... [--garble-unit N]... [--no-holes]\n");
  return 2;
}

class Server {
 public:
  explicit Server(Options o) : opt_(std::move(o)) {}

  modbus_mapping_t* Mapping(int unit) {
    auto it = maps_.find(unit);
    if (it == maps_.end()) it = maps_.emplace(unit, NewMapping(unit)).first;
    return it->second;
  }

  // Handles one request in `q` (length n) on `ctx`.
  void Handle(modbus_t* ctx, const std::uint8_t* q, int n) {
    const int hl = modbus_get_header_length(ctx);
    const int unit = q[hl - 1];
    if (opt_.dead.count(unit) != 0) return;
    if (auto it = opt_.slow_ms.find(unit); it != opt_.slow_ms.end()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(it->second));
    }
    const int fc = q[hl];
    if (opt_.garble.count(unit) != 0 && (garble_count_[unit]++ % 2) == 0) {
      Garble(ctx, q, hl);
      return;
    }
    if (opt_.holes && (fc == 3 || fc == 4) && n >= hl + 5) {
      const int addr = q[hl + 1] << 8 | q[hl + 2];
      const int count = q[hl + 3] << 8 | q[hl + 4];
      if (addr <= kHoleLast && addr + count - 1 >= kHoleFirst) {
        modbus_reply_exception(ctx, q, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
        return;
      }
    }
    modbus_reply(ctx, q, n, Mapping(unit));
  }

  void Garble(modbus_t* ctx, const std::uint8_t* q, int hl) {
    const int fd = modbus_get_socket(ctx);
    if (opt_.tcp) {
      // A well-formed frame for another transaction.
      std::uint8_t f[] = {
          q[0], static_cast<std::uint8_t>(q[1] + 1), 0, 0, 0, 5, q[hl - 1], q[hl], 2, 0, 0};
      (void)!write(fd, f, sizeof f);
    } else {
      std::uint8_t f[] = {q[0], q[1], 2, 0x12, 0x34, 0xde, 0xad};  // CRC is wrong
      (void)!write(fd, f, sizeof f);
    }
  }

  int RunTcp() {
    modbus_t* ctx = modbus_new_tcp("127.0.0.1", opt_.port);
    if (ctx == nullptr) return 1;
    const int listener = modbus_tcp_listen(ctx, 16);
    if (listener < 0) {
      std::fprintf(stderr, "listen: %s\n", modbus_strerror(errno));
      return 1;
    }
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    std::printf("READY %d\n", ntohs(addr.sin_port));
    std::fflush(stdout);
    fd_set all;
    FD_ZERO(&all);
    FD_SET(listener, &all);
    int max_fd = listener;
    std::array<std::uint8_t, MODBUS_TCP_MAX_ADU_LENGTH> q{};
    for (;;) {
      fd_set ready = all;
      if (select(max_fd + 1, &ready, nullptr, nullptr, nullptr) == -1) {
        if (errno == EINTR) continue;
        return 1;
      }
      for (int fd = 0; fd <= max_fd; ++fd) {
        if (!FD_ISSET(fd, &ready)) continue;
        if (fd == listener) {
          const int c = accept(listener, nullptr, nullptr);
          if (c >= 0 && c < FD_SETSIZE) {
            FD_SET(c, &all);
            max_fd = std::max(max_fd, c);
          } else if (c >= 0) {
            close(c);
          }
          continue;
        }
        modbus_set_socket(ctx, fd);
        const int n = modbus_receive(ctx, q.data());
        if (n > 0) {
          Handle(ctx, q.data(), n);
        } else if (n == -1) {
          close(fd);
          FD_CLR(fd, &all);
        }
      }
    }
  }

  // RTU: frames are read here, not by modbus_receive, so that requests for other (absent)
  // units are skipped cleanly: libmodbus's server would take the frame after one addressed to
  // another unit for that unit's reply and drop it.
  int RunRtu() {
    modbus_t* ctx = modbus_new_rtu(opt_.device.c_str(), 115200, 'N', 8, 1);
    if (ctx == nullptr || modbus_connect(ctx) == -1) {
      std::fprintf(stderr, "rtu %s: %s\n", opt_.device.c_str(), modbus_strerror(errno));
      return 1;
    }
    const int fd = modbus_get_socket(ctx);
    std::printf("READY\n");
    std::fflush(stdout);
    std::array<std::uint8_t, 8> f{};  // read requests (functions 1-4) are 8 bytes
    std::size_t have = 0;
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      const int r = poll(&p, 1, 50);
      if (r == 0) {
        have = 0;  // a silence ends a frame: drop a partial one
        continue;
      }
      if (r < 0) continue;
      const ssize_t n = read(fd, f.data() + have, f.size() - have);
      if (n <= 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      have += static_cast<std::size_t>(n);
      if (have < f.size()) continue;
      have = 0;
      if (opt_.units.count(f[0]) == 0) continue;  // another unit's request: not ours
      modbus_set_slave(ctx, f[0]);
      Handle(ctx, f.data(), static_cast<int>(f.size()));
    }
  }

 private:
  Options opt_;
  std::map<int, modbus_mapping_t*> maps_;
  std::map<int, int> garble_count_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool mode = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--no-holes") {
      o.holes = false;
      continue;
    }
    if (v == nullptr) return Usage();
    ++i;
    if (a == "--tcp") {
      o.tcp = true;
      o.port = std::atoi(v);
      mode = true;
    } else if (a == "--rtu") {
      o.tcp = false;
      o.device = v;
      mode = true;
    } else if (a == "--unit") {
      o.units.insert(std::atoi(v));
    } else if (a == "--dead-unit") {
      o.dead.insert(std::atoi(v));
    } else if (a == "--garble-unit") {
      o.garble.insert(std::atoi(v));
    } else if (a == "--slow-unit") {
      const char* colon = std::strchr(v, ':');
      if (colon == nullptr) return Usage();
      o.slow_ms[std::atoi(v)] = std::atoi(colon + 1);
    } else {
      return Usage();
    }
  }
  if (!mode) return Usage();
  if (o.units.empty()) o.units.insert(1);
  Server s(o);
  return o.tcp ? s.RunTcp() : s.RunRtu();
}
