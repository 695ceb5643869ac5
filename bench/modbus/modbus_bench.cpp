// Modbus TCP benchmark: the modbus driver polling 1000 tags over 3 unit ids (with gaps) from
// pn_modbus_server on loopback, beside a bare libmodbus loop reading the same blocks over its
// own connection in the same run. Reports requests per scan (must equal the planner's minimum),
// register values read per second and readings per second, as medians over alternating rounds.
//
//   modbus_bench [--rounds N] [--seconds S]
#include <modbus.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "drivers/modbus/modbus_driver.h"
#include "tests/unit/drivers/modbus/peer_process.h"

namespace {

using namespace pn::modbus;
using Clock = std::chrono::steady_clock;

struct Rates {
  double values_per_s = 0;
  double requests_per_scan = 0;  // the most requests any full scan took
  double readings_per_s = 0;
  double min_requests_per_scan = 0;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// 1000 tags over units 1..3: uint16, int32, float32 and float64 mixed, small gaps (1..5 unused
// registers) every few tags and a large gap (200) every 60 tags, from address 1000.
std::vector<TagSettings> Map() {
  std::vector<TagSettings> tags;
  const DataType types[] = {DataType::kUint16, DataType::kInt32, DataType::kFloat32,
                            DataType::kUint16, DataType::kFloat64};
  int next[4] = {0, 1000, 1000, 1000};  // next free address per unit
  for (int i = 0; i < 1000; ++i) {
    const int unit = 1 + i % 3;
    TagSettings t;
    t.unit_id = unit;
    t.device = "slave-" + std::to_string(unit);
    t.name = "tag" + std::to_string(i);
    t.table = Table::kHolding;
    t.type = types[i % 5];
    t.address = next[unit];
    t.poll_interval_ms = 0;  // back-to-back scans (only code can set 0): measures throughput
    const int k = i / 3;
    next[unit] += t.count() + (k % 7 == 6 ? 1 + k % 5 : 0) + (k % 60 == 59 ? 200 : 0);
    tags.push_back(std::move(t));
  }
  return tags;
}

class CountingSink final : public pn::ReadingSink {
 public:
  bool Deliver(std::vector<pn::Reading>& batch) override {
    count += batch.size();
    return true;
  }
  std::atomic<std::uint64_t> count{0};
};

Rates RunDriver(int port, double seconds) {
  ModbusSettings s;
  s.port = port;
  s.timeout_ms = 2000;
  s.limits.max_gap = 10;
  s.tags = Map();
  ModbusDriver driver("bench", s, &pn::SystemClock::Instance());
  CountingSink sink;
  std::uint64_t values0 = 0, requests0 = 0, scans0 = 0, readings0 = 0;
  Clock::time_point t0;
  std::jthread t([&](std::stop_token st) { driver.Run(st, sink); });
  // Warm up: connect and the first scans.
  while (driver.counters().scans.load() < 3)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  values0 = driver.counters().values.load();
  requests0 = driver.counters().requests.load();
  scans0 = driver.counters().scans.load();
  readings0 = sink.count.load();
  t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const std::uint64_t values = driver.counters().values.load() - values0;
  const std::uint64_t requests = driver.counters().requests.load() - requests0;
  const std::uint64_t scans = driver.counters().scans.load() - scans0;
  const std::uint64_t readings = sink.count.load() - readings0;
  const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  t.request_stop();
  t.join();
  (void)requests;
  (void)scans;
  return {static_cast<double>(values) / dt,
          static_cast<double>(driver.counters().max_scan_requests.load()),
          static_cast<double>(readings) / dt,
          static_cast<double>(driver.counters().min_scan_requests.load())};
}

Rates RunBare(int port, const std::vector<Block>& blocks, double seconds) {
  modbus_t* ctx = modbus_new_tcp_pi("127.0.0.1", std::to_string(port).c_str());
  if (ctx == nullptr || modbus_connect(ctx) == -1) {
    std::fprintf(stderr, "bare: connect failed\n");
    std::exit(1);
  }
  std::vector<std::uint16_t> regs(kMaxRegistersPerRead);
  std::uint64_t values = 0, requests = 0, scans = 0;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    for (const Block& b : blocks) {
      modbus_set_slave(ctx, b.unit_id);
      const int rc = modbus_read_registers(ctx, b.address, b.count, regs.data());
      if (rc != b.count) {
        std::fprintf(stderr, "bare: read failed: %s\n", modbus_strerror(errno));
        std::exit(1);
      }
      values += static_cast<std::uint64_t>(rc);
      ++requests;
    }
    ++scans;
  }
  const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  modbus_close(ctx);
  modbus_free(ctx);
  return {static_cast<double>(values) / dt,
          static_cast<double>(requests) / static_cast<double>(scans), 0, 0};
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  double seconds = 1.5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
  }
  spdlog::set_level(spdlog::level::warn);
  pn::modbus::testing::TcpServer server({"--no-holes"});
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start %s\n", PN_MODBUS_SERVER);
    return 1;
  }
  ModbusSettings s;
  s.tags = Map();
  s.limits.max_gap = 10;
  const Planner planner(
      [&] {
        std::vector<PlanTag> t;
        for (const auto& tag : s.tags)
          t.push_back({tag.unit_id, tag.table, tag.address, tag.count()});
        return t;
      }(),
      s.limits);
  const std::vector<Block> blocks = planner.PlanAll();
  int registers = 0;
  for (const Block& b : blocks) registers += b.count;
  std::printf("map: %zu tags over 3 unit ids, %d registers per scan (gaps included)\n",
              s.tags.size(), registers);
  std::printf("planner minimum: %zu requests per scan (max_gap 10, 125 registers per read)\n",
              blocks.size());

  std::vector<double> drv_values, drv_reqs, drv_readings, bare_values, bare_reqs;
  bool minimum = true;
  for (int r = 0; r < rounds; ++r) {
    const Rates bare = RunBare(server.port(), blocks, seconds);
    const Rates drv = RunDriver(server.port(), seconds);
    bare_values.push_back(bare.values_per_s);
    bare_reqs.push_back(bare.requests_per_scan);
    drv_values.push_back(drv.values_per_s);
    drv_reqs.push_back(drv.requests_per_scan);
    minimum = minimum && drv.requests_per_scan == static_cast<double>(blocks.size()) &&
              drv.min_requests_per_scan == static_cast<double>(blocks.size());
    drv_readings.push_back(drv.readings_per_s);
    std::printf(
        "round %d: driver %.0f registers/s (%.0f..%.0f requests/scan, %.0f readings/s), "
        "bare %.0f registers/s\n",
        r + 1, drv.values_per_s, drv.min_requests_per_scan, drv.requests_per_scan,
        drv.readings_per_s, bare.values_per_s);
  }
  const double dv = Median(drv_values), bv = Median(bare_values);
  std::printf(
      "\n| loop | requests/scan (every scan) | registers read/s (median of %d) | readings/s | vs "
      "bare |\n",
      rounds);
  std::printf("|---|---|---|---|---|\n");
  std::printf("| bare libmodbus, same blocks | %.2f | %.0f | - | 1.00 |\n", Median(bare_reqs), bv);
  std::printf("| modbus driver (plan, decode, deliver) | %.2f | %.0f | %.0f | %.2f |\n",
              Median(drv_reqs), dv, Median(drv_readings), dv / bv);
  std::printf(
      "\nrequests per scan %s the planner's minimum (%zu); driver/bare = %.2f (target "
      ">= 0.80)\n",
      minimum ? "equals" : "DIFFERS FROM", blocks.size(), dv / bv);
  return minimum ? 0 : 1;
}
