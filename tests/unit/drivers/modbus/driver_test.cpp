// The modbus driver against real peers started here: pn_modbus_server over TCP on loopback and
// over RTU on a socat pty pair. Decoding of every type and order, split on exception 02, a dead
// unit next to a live one, reconnect after a server restart, garbled responses, prompt stop.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "drivers/modbus/modbus_driver.h"
#include "modbus_test_util.h"
#include "peer_process.h"

namespace pn::modbus {
namespace {

using testing::PtyPair;
using testing::TcpServer;

constexpr std::int64_t kT0 = 1767225600000000000;  // 2026-01-01T00:00:00Z

TagSettings Tag(std::string name, Table table, int address, DataType type = DataType::kUint16,
                Order order = Order::kABCD, int unit_id = 1) {
  TagSettings t;
  t.name = std::move(name);
  t.device = "dev-" + std::to_string(unit_id);
  t.unit_id = unit_id;
  t.table = table;
  t.address = address;
  t.type = type;
  t.order = order;
  t.poll_interval_ms = 1000;
  return t;
}

ModbusSettings Tcp(int port) {
  ModbusSettings s;
  s.host = "127.0.0.1";
  s.port = port;
  s.timeout_ms = 2000;
  s.retries = 1;
  s.retry_initial_ms = 100;
  s.retry_max_ms = 400;
  return s;
}

// A sink that calls `on_batch` after storing each batch (on the driver thread).
class Sink final : public ReadingSink {
 public:
  bool Deliver(std::vector<Reading>& batch) override {
    std::lock_guard lock(mu_);
    for (auto& r : batch) all_.push_back(std::move(r));
    if (on_batch) on_batch(all_);
    return true;
  }
  std::vector<Reading> all() const {
    std::lock_guard lock(mu_);
    return all_;
  }
  std::function<void(const std::vector<Reading>&)> on_batch;

 private:
  mutable std::mutex mu_;
  std::vector<Reading> all_;
};

// Runs the driver on this thread until its first delivery; returns the readings.
std::vector<Reading> OneScan(ModbusDriver& driver) {
  std::stop_source stop;
  Sink sink;
  sink.on_batch = [&](const std::vector<Reading>&) { stop.request_stop(); };
  driver.Run(stop.get_token(), sink);
  return sink.all();
}

std::map<std::string, Reading> BySeries(const std::vector<Reading>& rs) {
  std::map<std::string, Reading> m;
  for (const auto& r : rs) m[r.device + "/" + r.series] = r;
  return m;
}

// Runs `driver` on a thread until `done(readings)` is true or `timeout` passes.
bool RunUntil(ModbusDriver& driver, std::function<bool(const std::vector<Reading>&)> done,
              std::chrono::milliseconds timeout, Sink& sink) {
  std::atomic<bool> finished{false};
  sink.on_batch = [&](const std::vector<Reading>& all) {
    if (done(all)) finished = true;
  };
  std::jthread t([&](std::stop_token st) { driver.Run(st, sink); });
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!finished && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  t.request_stop();
  t.join();
  sink.on_batch = nullptr;
  return finished;
}

}  // namespace

TEST_CASE("modbus driver: decodes every type and order from a TCP server in the planned reads") {
  TcpServer server;
  REQUIRE(server.ok());
  ModbusSettings s = Tcp(server.port());
  using enum DataType;
  using enum Order;
  const Table H = Table::kHolding;
  s.tags = {
      Tag("u16", H, 0),
      Tag("i16", H, 1, kInt16),
      Tag("i32_abcd", H, 2, kInt32, kABCD),
      Tag("i32_dcba", H, 4, kInt32, kDCBA),
      Tag("i32_badc", H, 6, kInt32, kBADC),
      Tag("i32_cdab", H, 8, kInt32, kCDAB),
      Tag("u32_abcd", H, 10, kUint32, kABCD),
      Tag("u32_cdab", H, 12, kUint32, kCDAB),
      Tag("f32_abcd", H, 14, kFloat32, kABCD),
      Tag("f32_dcba", H, 16, kFloat32, kDCBA),
      Tag("f32_badc", H, 18, kFloat32, kBADC),
      Tag("f32_cdab", H, 20, kFloat32, kCDAB),
      Tag("f64_abcd", H, 22, kFloat64, kABCD),
      Tag("f64_dcba", H, 26, kFloat64, kDCBA),
      Tag("f64_badc", H, 30, kFloat64, kBADC),
      Tag("f64_cdab", H, 34, kFloat64, kCDAB),
      Tag("i64_abcd", H, 38, kInt64, kABCD),
      Tag("u64_cdab", H, 42, kUint64, kCDAB),
      Tag("s_abcd", H, 46, kString, kABCD),
      Tag("s_badc", H, 48, kString, kBADC),
      Tag("scaled", H, 50),
      Tag("in_u16", Table::kInput, 0),
      Tag("in_f32_cdab", Table::kInput, 20, kFloat32, kCDAB),
      Tag("coil0", Table::kCoil, 0, kBool),
      Tag("coil1", Table::kCoil, 1, kBool),
      Tag("coil1999", Table::kCoil, 1999, kBool),
      Tag("di1", Table::kDiscreteInput, 1, kBool),
      Tag("di2", Table::kDiscreteInput, 2, kBool),
      Tag("s_text", H, 46, kString, kABCD),
  };
  s.tags[18].length = 2;
  s.tags[18].as_number = true;
  s.tags[19].length = 2;
  s.tags[19].as_number = true;
  s.tags[28].length = 2;  // the same text as s_abcd, delivered as text
  s.tags[20].scale = 0.1;
  s.tags[20].offset = -40.0;
  s.tags[0].unit = "rpm";
  s.limits.max_gap = 20;
  s.limits.max_gap_bits = 2000;

  FakeClock clock(kT0);
  ModbusDriver driver("plc", s, &clock);
  // holding 0..50, input 0..21, coils 0..1999, discrete inputs 1..2.
  REQUIRE(driver.FullScanPlan().size() == 4);
  const auto readings = OneScan(driver);
  REQUIRE(readings.size() == s.tags.size());
  const auto m = BySeries(readings);
  const std::map<std::string, double> expected = {
      {"u16", 1001.0},
      {"i16", -2.0},
      {"i32_abcd", -123456789.0},
      {"i32_dcba", -123456789.0},
      {"i32_badc", -123456789.0},
      {"i32_cdab", -123456789.0},
      {"u32_abcd", 3735928559.0},
      {"u32_cdab", 3735928559.0},
      {"f32_abcd", -1234.5},
      {"f32_dcba", -1234.5},
      {"f32_badc", -1234.5},
      {"f32_cdab", -1234.5},
      {"f64_abcd", -1234.5678},
      {"f64_dcba", -1234.5678},
      {"f64_badc", -1234.5678},
      {"f64_cdab", -1234.5678},
      {"i64_abcd", 72623859790382856.0},
      {"u64_cdab", 72623859790382856.0},
      {"s_abcd", 12.5},
      {"s_badc", 42.0},
      {"in_u16", 2001.0},
      {"in_f32_cdab", -1234.5},
      {"coil0", 1.0},
      {"coil1", 0.0},
      {"coil1999", 1.0},
      {"di1", 1.0},
      {"di2", 0.0},
  };
  for (const auto& kv : expected) {
    const std::string& series = kv.first;  // (clang 14 cannot capture a structured binding)
    const double value = kv.second;
    INFO(series);
    REQUIRE(m.count("dev-1/" + series) == 1);
    const Reading& r = m.at("dev-1/" + series);
    CHECK(r.value == value);
    CHECK(r.quality == Quality::kGood);
    CHECK(r.ts_ns == kT0);  // the poll time, from the driver's clock
  }
  // Each reading has its source's kind: unscaled integers exact, bits boolean, text as text;
  // floats, uint64 (which may not fit an int64) and scaled values double.
  using K = ValueKind;
  const std::map<std::string, K> kinds = {
      {"u16", K::kInt64},       {"i16", K::kInt64},       {"i32_cdab", K::kInt64},
      {"u32_abcd", K::kInt64},  {"i64_abcd", K::kInt64},  {"u64_cdab", K::kDouble},
      {"f32_abcd", K::kDouble}, {"f64_abcd", K::kDouble}, {"scaled", K::kDouble},
      {"s_abcd", K::kDouble},   {"s_text", K::kString},   {"coil0", K::kBoolean},
      {"di2", K::kBoolean},
  };
  for (const auto& kv : kinds) {
    INFO(kv.first);
    CHECK(m.at("dev-1/" + kv.first).kind == kv.second);
  }
  CHECK(m.at("dev-1/i16").integer == -2);
  CHECK(m.at("dev-1/u32_abcd").integer == 3735928559);
  CHECK(m.at("dev-1/i64_abcd").integer == 72623859790382856);
  CHECK(m.at("dev-1/s_text").text == "12.5");
  CHECK(std::isnan(m.at("dev-1/s_text").value));
  CHECK(m.at("dev-1/scaled").value == doctest::Approx(-15.0));
  CHECK(m.at("dev-1/u16").unit == "rpm");
  CHECK(driver.counters().requests.load() == 4);
  CHECK(driver.counters().values.load() == 51 + 22 + 2000 + 2);
}

TEST_CASE("modbus driver: exception 02 splits the block, the rest is read, the split is kept") {
  TcpServer server;  // registers 60..69 reject reads
  REQUIRE(server.ok());
  ModbusSettings s = Tcp(server.port());
  s.limits.max_gap = 30;
  s.tags = {Tag("a", Table::kHolding, 50), Tag("b", Table::kHolding, 55),
            Tag("c", Table::kHolding, 75), Tag("in", Table::kInput, 0)};
  FakeClock clock(kT0);
  ModbusDriver driver("plc", s, &clock);
  REQUIRE(driver.FullScanPlan().size() == 2);  // holding 50..75, input 0
  auto first = BySeries(OneScan(driver));
  REQUIRE(first.size() == 4);
  CHECK(first.at("dev-1/a").value == 250.0);
  CHECK(first.at("dev-1/b").value == 5555.0);
  CHECK(first.at("dev-1/c").value == 7575.0);
  for (const auto& [k, r] : first) CHECK(r.quality == Quality::kGood);
  // 50..75 rejected -> cut at 55: 50 | 55..75 rejected -> cut at 75: 55 | 75.
  CHECK(driver.counters().exceptions.load() == 2);
  CHECK(driver.counters().splits.load() == 2);
  CHECK(driver.counters().requests.load() == 1 + 1 + 1 + 1 + 1 + 1);
  CHECK(driver.FullScanPlan().size() == 4);
  // The next scan goes straight to the remembered blocks.
  clock.Advance(1'000'000'000);
  auto second = BySeries(OneScan(driver));
  CHECK(second.size() == 4);
  CHECK(driver.counters().requests.load() == 6 + 4);
  CHECK(driver.counters().exceptions.load() == 2);
}

TEST_CASE("modbus driver: an exception on a single tag gives bad readings named by exception") {
  TcpServer server;
  REQUIRE(server.ok());
  ModbusSettings s = Tcp(server.port());
  s.tags = {Tag("hole", Table::kHolding, 65), Tag("past_end", Table::kHolding, 20000),
            Tag("ok", Table::kHolding, 0)};
  FakeClock clock(kT0);
  ModbusDriver driver("plc", s, &clock);
  // Capture the log to see the exception's name.
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  auto m = BySeries(OneScan(driver));
  spdlog::set_default_logger(previous);
  CHECK(log.str().find("unit 1 holding 20000..20000 (1 tag): exception 2 (Illegal data "
                       "address)") != std::string::npos);
  REQUIRE(m.size() == 3);
  CHECK(m.at("dev-1/hole").quality == Quality::kBad);
  CHECK(std::isnan(m.at("dev-1/hole").value));
  CHECK(m.at("dev-1/past_end").quality == Quality::kBad);
  CHECK(m.at("dev-1/ok").quality == Quality::kGood);
  CHECK(driver.counters().exceptions.load() == 2);
}

TEST_CASE("modbus driver: a dead unit gives bad readings and does not stall the live unit") {
  TcpServer server({"--dead-unit", "9"});
  REQUIRE(server.ok());
  ModbusSettings s = Tcp(server.port());
  s.timeout_ms = 300;
  s.retries = 1;
  s.retry_initial_ms = 1000;
  s.retry_max_ms = 4000;
  s.tags = {Tag("live", Table::kHolding, 51, DataType::kUint16, Order::kABCD, 1),
            Tag("dead", Table::kHolding, 51, DataType::kUint16, Order::kABCD, 9),
            Tag("live2", Table::kHolding, 51, DataType::kUint16, Order::kABCD, 2)};
  for (auto& t : s.tags) t.poll_interval_ms = 100;
  ModbusDriver driver("plc", s, &SystemClock::Instance());
  Sink sink;
  auto live_good = [](const std::vector<Reading>& all) {
    int n = 0;
    for (const auto& r : all) n += r.series == "live" && r.quality == Quality::kGood;
    return n;
  };
  const auto t0 = std::chrono::steady_clock::now();
  RunUntil(
      driver, [&](const auto& all) { return live_good(all) >= 20; }, std::chrono::seconds(20),
      sink);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto all = sink.all();
  CHECK(live_good(all) >= 20);
  int dead_bad = 0, dead_good = 0, live2_good = 0;
  for (const auto& r : all) {
    if (r.device == "dev-9") (r.quality == Quality::kBad ? dead_bad : dead_good)++;
    if (r.device == "dev-2" && r.quality == Quality::kGood) ++live2_good;
    if (r.device == "dev-1") CHECK(r.value == 1.0);
  }
  CHECK(dead_good == 0);
  CHECK(dead_bad >= 10);  // one bad reading per tick, backed off or not
  CHECK(live2_good >= 15);
  // 20 ticks of 100 ms with the dead unit retried every ~1-4 s: the first failure costs two
  // timeouts (0.6 s) and each probe one (0.3 s). Without backoff it would be 20 * 0.6 = 12 s.
  CHECK(secs < 8.0);
  CHECK(driver.counters().timeouts.load() <= 2 + static_cast<std::uint64_t>(secs) + 1);
}

TEST_CASE("modbus driver: reconnects after the server restarts, bad readings meanwhile") {
  TcpServer server;
  REQUIRE(server.ok());
  ModbusSettings s = Tcp(server.port());
  s.timeout_ms = 500;
  s.tags = {Tag("u16", Table::kHolding, 0)};
  s.tags[0].poll_interval_ms = 50;
  ModbusDriver driver("plc", s, &SystemClock::Instance());
  Sink sink;
  std::jthread t([&](std::stop_token st) { driver.Run(st, sink); });
  auto wait = [&](auto pred) {
    for (int i = 0; i < 400; ++i) {
      if (pred(sink.all())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  };
  auto count = [](const std::vector<Reading>& all, Quality q) {
    int n = 0;
    for (const auto& r : all) n += r.quality == q;
    return n;
  };
  REQUIRE(wait([&](const auto& all) { return count(all, Quality::kGood) >= 3; }));
  server.Stop();
  REQUIRE(wait([&](const auto& all) { return count(all, Quality::kBad) >= 3; }));
  const int good_before = count(sink.all(), Quality::kGood);
  REQUIRE(server.Restart());
  CHECK(wait([&](const auto& all) { return count(all, Quality::kGood) >= good_before + 3; }));
  t.request_stop();
  t.join();
  CHECK(driver.counters().connects.load() >= 2);
  // The last reading is good again.
  CHECK(sink.all().back().quality == Quality::kGood);
}

TEST_CASE("modbus driver: mismatched TCP responses are discarded and the read retried") {
  TcpServer server({"--garble-unit", "1"});
  REQUIRE(server.ok());
  ModbusSettings s = Tcp(server.port());
  s.timeout_ms = 500;
  s.retries = 2;
  s.tags = {Tag("u16", Table::kHolding, 0), Tag("f32", Table::kHolding, 14, DataType::kFloat32)};
  FakeClock clock(kT0);
  ModbusDriver driver("plc", s, &clock);
  auto m = BySeries(OneScan(driver));
  REQUIRE(m.size() == 2);
  CHECK(m.at("dev-1/u16").quality == Quality::kGood);
  CHECK(m.at("dev-1/u16").value == 1001.0);
  CHECK(m.at("dev-1/f32").value == -1234.5);
  // Two reads (0 and 14..15, max_gap 10), each answered first with a mismatched frame.
  CHECK(driver.counters().garbled.load() == 2);
  CHECK(driver.counters().requests.load() == 4);
}

TEST_CASE("modbus driver: RTU over a socat pty pair, two live units and an absent one") {
  PtyPair pty;
  REQUIRE(pty.ok());
  testing::PeerProcess server;
  REQUIRE(server.Start({PN_MODBUS_SERVER, "--rtu", pty.a(), "--unit", "1", "--unit", "2"}));
  REQUIRE(server.WaitForLine("READY") == "READY");
  ModbusSettings s;
  s.transport = Transport::kRtu;
  s.device_path = pty.b();
  s.baud_rate = 115200;
  s.timeout_ms = 600;  // generous: a loaded machine must not make the live units time out
  s.retries = 0;
  s.retry_initial_ms = 3000;
  s.retry_max_ms = 3000;
  s.retry_jitter = 0.2;  // each probe 2.4 .. 3 s after the last
  s.inter_request_delay_ms = 2;
  s.tags = {Tag("u16", Table::kHolding, 0),
            Tag("f64", Table::kHolding, 26, DataType::kFloat64, Order::kDCBA),
            Tag("coil0", Table::kCoil, 0, DataType::kBool),
            Tag("absent", Table::kHolding, 0, DataType::kUint16, Order::kABCD, 7),
            Tag("unit", Table::kHolding, 51, DataType::kUint16, Order::kABCD, 2)};
  for (auto& t : s.tags) t.poll_interval_ms = 100;
  ModbusDriver driver("line", s, &SystemClock::Instance());
  Sink sink;
  auto good_u16 = [](const std::vector<Reading>& all) {
    int n = 0;
    for (const auto& r : all) n += r.series == "u16" && r.quality == Quality::kGood;
    return n;
  };
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(RunUntil(
      driver, [&](const auto& all) { return good_u16(all) >= 8; }, std::chrono::seconds(30), sink));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int absent_good = 0, absent_bad = 0;
  for (const auto& r : sink.all()) {
    if (r.device == "dev-7") (r.quality == Quality::kBad ? absent_bad : absent_good)++;
    if (r.series == "f64" && r.quality == Quality::kGood) CHECK(r.value == -1234.5678);
    if (r.series == "coil0" && r.quality == Quality::kGood) CHECK(r.value == 1.0);
    if (r.series == "u16") CHECK(r.quality == Quality::kGood);
    if (r.series == "u16") CHECK(r.value == 1001.0);
    if (r.device == "dev-2") CHECK(r.quality == Quality::kGood);
    if (r.device == "dev-2") CHECK(r.value == 2.0);
  }
  CHECK(absent_good == 0);
  CHECK(absent_bad >= 5);
  // Probed once per backoff period (3 s, up to 20 % less), not on every 100 ms tick.
  CHECK(driver.counters().timeouts.load() <= 2 + static_cast<std::uint64_t>(secs / 2.4));
}

TEST_CASE("modbus driver: a stop request ends a pending TCP request at once") {
  TcpServer server({"--dead-unit", "1"});
  REQUIRE(server.ok());
  ModbusSettings s = Tcp(server.port());
  s.timeout_ms = 10000;
  s.tags = {Tag("u16", Table::kHolding, 0)};
  ModbusDriver driver("plc", s, &SystemClock::Instance());
  Sink sink;
  std::jthread t([&](std::stop_token st) { driver.Run(st, sink); });
  for (int i = 0; i < 200 && driver.counters().requests.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  t.request_stop();
  t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(secs < 1.0);
}

}  // namespace pn::modbus

namespace pn::modbus {

TEST_CASE("modbus driver: a slow unit (answers after the timeout) is marked down, others go on") {
  TcpServer server({"--slow-unit", "5:400"});
  REQUIRE(server.ok());
  ModbusSettings s = Tcp(server.port());
  s.timeout_ms = 300;  // the server (one thread) sleeps 400 ms: 100 ms left after a timeout
  s.retries = 2;
  s.retry_initial_ms = 2000;
  s.retry_max_ms = 4000;
  s.tags = {Tag("live", Table::kHolding, 51, DataType::kUint16, Order::kABCD, 1),
            Tag("slow", Table::kHolding, 51, DataType::kUint16, Order::kABCD, 5)};
  for (auto& t : s.tags) t.poll_interval_ms = 100;
  ModbusDriver driver("plc", s, &SystemClock::Instance());
  Sink sink;
  auto count = [](const std::vector<Reading>& all, const std::string& dev, Quality q) {
    int n = 0;
    for (const auto& r : all) n += r.device == dev && r.quality == q;
    return n;
  };
  RunUntil(
      driver, [&](const auto& all) { return count(all, "dev-1", Quality::kGood) >= 20; },
      std::chrono::seconds(20), sink);
  const auto all = sink.all();
  CHECK(count(all, "dev-1", Quality::kGood) >= 20);
  CHECK(count(all, "dev-5", Quality::kGood) == 0);
  CHECK(count(all, "dev-5", Quality::kBad) >= 10);
  // Its late answers never pass for another unit's: every timeout is followed by a reconnect.
  CHECK(driver.counters().timeouts.load() >= 1);
  CHECK(driver.counters().resyncs.load() >= driver.counters().timeouts.load());
}

}  // namespace pn::modbus
