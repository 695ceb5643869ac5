#include "drivers/sim/sim_driver.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "sim_test_util.h"

namespace pn::sim {
namespace {

using testing::FakeSink;
using testing::Load;

constexpr std::int64_t kNsPerMs = 1'000'000;

std::unique_ptr<Driver> Create(const config::Section& section, Clock* clock) {
  DriverContext ctx;
  ctx.name = "plant";
  ctx.clock = clock;
  auto d = DriverTypeEntry().create(section, ctx);
  REQUIRE(d.has_value());
  return std::move(*d);
}

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("sim config: defaults validate and give the documented settings") {
  auto l = Load("[drivers.plant]\ntype = \"sim\"\nenabled = true\n");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  SimSettings s = SettingsFromSection(*l.section);
  CHECK(s.plant.seed == 1);
  CHECK(s.plant.devices == 3);
  CHECK(s.plant.device_prefix == "pump");
  CHECK(s.plant.series.size() == 5);
  CHECK(s.interval_ms == 1000);
  CHECK(s.realtime);
  CHECK(s.start_time_ms == 0);
  CHECK(s.max_samples == 0);
  CHECK(s.plant.noise == 1.0);
  CHECK(s.plant.degradation_per_day == 0.02);
  CHECK(s.batch == 256);
  CHECK(s.plant.faults.empty());
}

TEST_CASE("sim config: faults are read with seconds converted to nanoseconds") {
  auto l = Load(R"([drivers.plant]
type = "sim"
series = ["flow", "current"]
[[drivers.plant.fault]]
device = "pump-3"
series = "current"
kind = "drift"
at_s = 1.5
duration_s = 60
magnitude = -4
)");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  SimSettings s = SettingsFromSection(*l.section);
  REQUIRE(s.plant.series == std::vector<Series>{Series::kFlow, Series::kCurrent});
  REQUIRE(s.plant.faults.size() == 1);
  const Fault& f = s.plant.faults[0];
  CHECK(f.device == "pump-3");
  CHECK(f.series == Series::kCurrent);
  CHECK(f.kind == FaultKind::kDrift);
  CHECK(f.at_ns == 1'500'000'000);
  CHECK(f.duration_ns == 60'000'000'000);
  CHECK(f.magnitude == -4.0);
}

TEST_CASE("sim config: an unknown fault kind is reported with its position and choices") {
  auto l = Load(R"([drivers.plant]
type = "sim"
[[drivers.plant.fault]]
device = "pump-1"
series = "flow"
kind = "explode"
at_s = 10
)");
  CHECK(l.errors.ToString() ==
        "gateway.toml:6:1: drivers.plant.fault[0].kind: \"explode\" is not one of the allowed "
        "values: \"spike\", \"step\", \"drift\", \"stuck\", \"dropout\"\n");
}

TEST_CASE("sim config: a negative interval_ms is out of range") {
  auto l = Load("[drivers.plant]\ntype = \"sim\"\ninterval_ms = -5\n");
  CHECK(l.errors.ToString() ==
        "gateway.toml:3:1: drivers.plant.interval_ms: value -5 is out of range: must be between "
        "1 and 86400000\n");
}

TEST_CASE("sim config: a fault on an unknown device is reported by the check") {
  auto l = Load(R"([drivers.plant]
type = "sim"
devices = 2
[[drivers.plant.fault]]
device = "pump-3"
series = "flow"
kind = "spike"
at_s = 10
)");
  CHECK(l.errors.ToString() ==
        "gateway.toml:5:1: drivers.plant.fault[0].device: \"pump-3\" is not a device of this "
        "driver (\"pump-1\" .. \"pump-2\")\n");
}

TEST_CASE(
    "sim config: the check reports bad series, faults on disabled series, drift without "
    "duration") {
  auto l = Load(R"([drivers.plant]
type = "sim"
device_prefix = "p"
series = ["flow", "humidity", "flow"]
[[drivers.plant.fault]]
device = "p-1"
series = "flow"
kind = "drift"
at_s = 0
[[drivers.plant.fault]]
device = "pump-1"
series = "current"
kind = "step"
at_s = 0
)");
  CHECK(l.errors.ToString() ==
        "gateway.toml:4:19: drivers.plant.series[1]: \"humidity\" is not a known series: "
        "expected one of \"temperature\", \"vibration_rms\", \"current\", \"pressure\", "
        "\"flow\"\n"
        "gateway.toml:4:31: drivers.plant.series[2]: \"flow\" is listed twice\n"
        "gateway.toml:8:1: drivers.plant.fault[0].kind: a drift fault needs duration_s > 0\n"
        "gateway.toml:11:1: drivers.plant.fault[1].device: \"pump-1\" is not a device of this "
        "driver (\"p-1\" .. \"p-3\")\n"
        "gateway.toml:12:1: drivers.plant.fault[1].series: \"current\" is not in "
        "drivers.plant.series of this driver\n");
}

TEST_CASE("sim driver: the registry entry is type sim with a spec and a factory") {
  const DriverType* t = FindDriverType("sim");
  REQUIRE(t != nullptr);
  CHECK(t->spec == &Spec());
  CHECK(t->spec->Find("type") == nullptr);
  CHECK(t->spec->Find("enabled") == nullptr);
  CHECK(t->spec->Find("interval_ms") != nullptr);
  CHECK(t->check);
  CHECK(t->create);
}

TEST_CASE("sim driver: as fast as possible, Run honours max_samples and batch, then returns") {
  auto l = Load(R"([drivers.plant]
type = "sim"
realtime = false
max_samples = 1000
batch = 100
interval_ms = 500
)");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  FakeClock clock(123 * kNsPerMs);
  auto driver = Create(*l.section, &clock);
  CHECK(driver->name() == "plant");
  FakeSink sink;
  driver->Run(std::stop_token{}, sink);
  auto readings = sink.readings();
  REQUIRE(readings.size() == 1000u * 3 * 5);
  CHECK(driver->stats().readings.load() == readings.size());
  CHECK(driver->stats().last_success_ns.load() == 123 * kNsPerMs);
  CHECK(driver->stats().heartbeat_ns.load() == 123 * kNsPerMs);
  // The default start of a non-realtime run, one tick per interval.
  CHECK(readings.front().ts_ns == kDefaultStartMs * kNsPerMs);
  CHECK(readings.back().ts_ns == (kDefaultStartMs + 999 * 500) * kNsPerMs);
  auto sizes = sink.sizes();
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) CHECK(sizes[i] >= 100);
  CHECK(sizes.back() > 0);
}

TEST_CASE("sim driver: the readings equal the plant's for the same settings") {
  auto l = Load(R"([drivers.plant]
type = "sim"
realtime = false
max_samples = 50
seed = 77
start_time_ms = 1000
)");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  auto driver = Create(*l.section, &SystemClock::Instance());
  FakeSink sink;
  driver->Run(std::stop_token{}, sink);
  SimSettings s = SettingsFromSection(*l.section);
  s.plant.start_ns = 1000 * kNsPerMs;
  Plant plant(s.plant);
  std::vector<Reading> expected;
  for (int k = 0; k < 50; ++k) plant.Step(s.plant.start_ns + k * 1000 * kNsPerMs, expected);
  auto got = sink.readings();
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].value == expected[i].value);
    CHECK(got[i].ts_ns == expected[i].ts_ns);
  }
}

// The stop tests bound the time to stop far below what ignoring the stop would take (never
// stopping; a 60 s wait), not near the scheduler's latency: a busy machine delays a wake-up by
// tens of milliseconds, and how fast is a benchmark's business.
TEST_CASE("sim driver: as fast as possible, a stop request ends Run between ticks") {
  auto l = Load("[drivers.plant]\ntype = \"sim\"\nrealtime = false\n");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  auto driver = Create(*l.section, &SystemClock::Instance());
  FakeSink sink;
  sink.set_keep(false);
  std::jthread t([&](std::stop_token st) { driver->Run(st, sink); });
  while (sink.count() < 100000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto t0 = std::chrono::steady_clock::now();
  t.request_stop();
  t.join();
  CHECK(MsSince(t0) < 5000.0);
  CHECK(driver->stats().readings.load() == sink.count());
}

TEST_CASE("sim driver: realtime, a stop request interrupts the 60 s wait") {
  auto l = Load("[drivers.plant]\ntype = \"sim\"\ninterval_ms = 60000\n");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  auto driver = Create(*l.section, &SystemClock::Instance());
  FakeSink sink;
  std::jthread t([&](std::stop_token st) { driver->Run(st, sink); });
  while (sink.count() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // now inside the 60 s wait
  auto t0 = std::chrono::steady_clock::now();
  t.request_stop();
  t.join();
  CHECK(MsSince(t0) < 5000.0);
  CHECK(sink.count() == 15);  // exactly the first tick
}

TEST_CASE("sim driver: realtime paces ticks to the interval on its clock and starts at its now") {
  auto l = Load("[drivers.plant]\ntype = \"sim\"\ninterval_ms = 20\nmax_samples = 5\n");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  FakeClock clock(1'700'000'000'123'456'789);
  auto driver = Create(*l.section, &clock);
  FakeSink sink;
  std::jthread t([&](std::stop_token st) { driver->Run(st, sink); });
  // Tick k waits for the clock to reach k * 20 ms: it never comes a nanosecond early, and
  // each one comes once the clock gets there.
  auto wait_count = [&](std::size_t n) {
    for (int i = 0; i < 20000 && sink.count() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return sink.count();
  };
  REQUIRE(wait_count(15) == 15);  // tick 0 at once
  for (std::size_t k = 1; k < 5; ++k) {
    clock.Advance(20 * kNsPerMs - 1);
    // Still waiting: the tick is one nanosecond away (checked across a few of the driver's
    // FakeClock wake-ups, Clock::MaxSleepNs apart).
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    CHECK(sink.count() == 15 * k);
    clock.Advance(1);
    CHECK(wait_count(15 * (k + 1)) == 15 * (k + 1));
  }
  t.join();  // max_samples reached: Run returns by itself
  auto sizes = sink.sizes();
  CHECK(sizes == std::vector<std::size_t>(5, 15));  // one Deliver per tick
  auto readings = sink.readings();
  REQUIRE(readings.size() == 75);
  CHECK(readings.front().ts_ns == 1'700'000'000'123 * kNsPerMs);
  CHECK(readings.back().ts_ns == (1'700'000'000'123 + 80) * kNsPerMs);
}

TEST_CASE("sim driver: Run returns when the sink refuses readings") {
  auto l = Load("[drivers.plant]\ntype = \"sim\"\nrealtime = false\nbatch = 10\n");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  auto driver = Create(*l.section, &SystemClock::Instance());
  FakeSink sink;
  sink.set_accept(false);
  driver->Run(std::stop_token{}, sink);  // would never end if the refusal were ignored
  CHECK(sink.sizes().size() == 1);
  CHECK(driver->stats().readings.load() == 0);
}

}  // namespace pn::sim
