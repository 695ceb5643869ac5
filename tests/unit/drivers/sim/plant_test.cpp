#include "drivers/sim/plant.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pn::sim {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kStart = 1767225600LL * kSecond;  // 2026-01-01T00:00:00Z

// Runs `ticks` samples one second apart and returns every reading.
std::vector<Reading> Run(Plant& plant, int ticks, std::int64_t interval = kSecond) {
  std::vector<Reading> out;
  for (int k = 0; k < ticks; ++k) plant.Step(kStart + k * interval, out);
  return out;
}

PlantOptions Options(std::uint64_t seed) {
  PlantOptions o;
  o.seed = seed;
  o.start_ns = kStart;
  return o;
}

using Key = std::pair<std::string, std::string>;  // device, series
// One tick's readings by device and series.
std::map<Key, double> Tick(Plant& plant, std::int64_t ts) {
  std::vector<Reading> out;
  plant.Step(ts, out);
  std::map<Key, double> m;
  for (const auto& r : out) m[{r.device, r.series}] = r.value;
  return m;
}

}  // namespace

TEST_CASE("plant: each step gives one reading per device per series, in order, with units") {
  PlantOptions o = Options(1);
  o.devices = 2;
  o.series = {Series::kFlow, Series::kTemperature};
  Plant plant(o);
  std::vector<Reading> out;
  plant.Step(kStart, out);
  REQUIRE(out.size() == 4);
  CHECK(out[0].device == "pump-1");
  CHECK(out[0].series == "flow");
  CHECK(out[0].unit == "m3/h");
  CHECK(out[1].series == "temperature");
  CHECK(out[1].unit == "degC");
  CHECK(out[3].device == "pump-2");
  for (const auto& r : out) {
    CHECK(r.ts_ns == kStart);
    CHECK(r.quality == Quality::kGood);
  }
}

TEST_CASE("plant: values are in realistic ranges for a pump") {
  Plant plant(Options(5));
  for (const auto& r : Run(plant, 3600, 24 * kSecond)) {  // one day
    INFO(r.device, " ", r.series, " = ", r.value);
    if (r.series == "temperature") CHECK((r.value > 15 && r.value < 70));
    if (r.series == "vibration_rms") CHECK((r.value > 0.5 && r.value < 4.5));
    if (r.series == "current") CHECK((r.value > 8 && r.value < 45));
    if (r.series == "pressure") CHECK((r.value > 3 && r.value < 7.5));
    if (r.series == "flow") CHECK((r.value > 30 && r.value < 140));
  }
}

TEST_CASE("plant: same seed gives identical sequences over 10k samples") {
  Plant a(Options(42));
  Plant b(Options(42));
  auto ra = Run(a, 10000);
  auto rb = Run(b, 10000);
  REQUIRE(ra.size() == rb.size());
  REQUIRE(ra.size() == 10000u * 3 * 5);
  for (std::size_t i = 0; i < ra.size(); ++i) {
    if (ra[i].value != rb[i].value || ra[i].device != rb[i].device ||
        ra[i].series != rb[i].series || ra[i].ts_ns != rb[i].ts_ns) {
      FAIL("sequences differ at index ", i);
    }
  }
}

TEST_CASE("plant: different seeds give different values") {
  Plant a(Options(1));
  Plant b(Options(2));
  auto ra = Run(a, 1000);
  auto rb = Run(b, 1000);
  REQUIRE(ra.size() == rb.size());
  std::size_t same = 0;
  for (std::size_t i = 0; i < ra.size(); ++i) same += ra[i].value == rb[i].value;
  CHECK(same == 0);
}

TEST_CASE("plant: flow and current rise together, pressure falls, over the daily cycle") {
  PlantOptions o = Options(3);
  o.devices = 1;
  Plant plant(o);
  // One sample a minute for a day; compare the night trough with the afternoon peak.
  double night_flow = 0, noon_flow = 0, night_cur = 0, noon_cur = 0, night_p = 0, noon_p = 0;
  std::vector<double> flow, current;
  for (int minute = 0; minute < 24 * 60; ++minute) {
    auto m = Tick(plant, kStart + minute * 60 * kSecond);
    const int hour = minute / 60;
    flow.push_back(m[{"pump-1", "flow"}]);
    current.push_back(m[{"pump-1", "current"}]);
    if (hour >= 1 && hour < 3) {
      night_flow += m[{"pump-1", "flow"}];
      night_cur += m[{"pump-1", "current"}];
      night_p += m[{"pump-1", "pressure"}];
    }
    if (hour >= 13 && hour < 15) {
      noon_flow += m[{"pump-1", "flow"}];
      noon_cur += m[{"pump-1", "current"}];
      noon_p += m[{"pump-1", "pressure"}];
    }
  }
  CHECK(noon_flow > night_flow * 1.2);
  CHECK(noon_cur > night_cur * 1.1);
  CHECK(noon_p < night_p);
  // Pearson correlation of flow and current over the day.
  const double n = static_cast<double>(flow.size());
  double mf = 0, mc = 0;
  for (std::size_t i = 0; i < flow.size(); ++i) mf += flow[i] / n, mc += current[i] / n;
  double cov = 0, vf = 0, vc = 0;
  for (std::size_t i = 0; i < flow.size(); ++i) {
    cov += (flow[i] - mf) * (current[i] - mc);
    vf += (flow[i] - mf) * (flow[i] - mf);
    vc += (current[i] - mc) * (current[i] - mc);
  }
  CHECK(cov / std::sqrt(vf * vc) > 0.9);
}

TEST_CASE("plant: degradation makes vibration and temperature creep up over days") {
  PlantOptions o = Options(9);
  o.devices = 1;
  o.noise = 0.0;
  o.degradation_per_day = 0.02;
  Plant worn(o);
  o.degradation_per_day = 0.0;
  Plant fresh(o);
  const std::int64_t day = 86400 * kSecond;
  auto w0 = Tick(worn, kStart);
  auto f0 = Tick(fresh, kStart);
  auto w10 = Tick(worn, kStart + 10 * day);
  auto f10 = Tick(fresh, kStart + 10 * day);
  const Key vib{"pump-1", "vibration_rms"}, temp{"pump-1", "temperature"}, flow{"pump-1", "flow"};
  // Same time of day, so the same load: only wear differs.
  CHECK(f10[vib] == doctest::Approx(f0[vib]));
  CHECK(w0[vib] == doctest::Approx(f0[vib]));
  CHECK(w10[vib] == doctest::Approx(f0[vib] * 1.2));
  CHECK(w10[temp] > f10[temp] + 1.0);
  CHECK(w10[flow] == doctest::Approx(f10[flow]));
}

TEST_CASE("plant: noise 0 gives a smooth series, noise 1 scatters it") {
  PlantOptions o = Options(4);
  o.devices = 1;
  o.series = {Series::kCurrent};
  o.noise = 0.0;
  Plant smooth(o);
  o.noise = 1.0;
  Plant noisy(o);
  auto s = Run(smooth, 100);
  auto n = Run(noisy, 100);
  double max_step_smooth = 0, max_step_noisy = 0;
  for (std::size_t i = 1; i < s.size(); ++i) {
    max_step_smooth = std::max(max_step_smooth, std::abs(s[i].value - s[i - 1].value));
    max_step_noisy = std::max(max_step_noisy, std::abs(n[i].value - n[i - 1].value));
  }
  CHECK(max_step_smooth < 0.01);  // 100 s of a 24 h cycle
  CHECK(max_step_noisy > 0.3);
}

// Runs a plant with one fault on pump-2 flow next to the same plant without it, 200 ticks of
// 1 s, fault at 100 s for 20 s, and calls check(tick, baseline, faulted) per tick.
template <typename F>
void CompareWithFault(FaultKind kind, double magnitude, F check, double at_s = 100.0) {
  PlantOptions o = Options(11);
  Plant base(o);
  o.faults.push_back(Fault{"pump-2", Series::kFlow, kind, static_cast<std::int64_t>(at_s * 1e9),
                           20 * kSecond, magnitude});
  Plant faulted(o);
  for (int k = 0; k < 200; ++k) {
    auto b = Tick(base, kStart + k * kSecond);
    auto f = Tick(faulted, kStart + k * kSecond);
    // Everything but pump-2 flow is untouched.
    for (const auto& [key, value] : b) {
      if (key == Key{"pump-2", "flow"}) continue;
      REQUIRE(f.count(key) == 1);
      CHECK(f[key] == value);
    }
    check(k, b, f);
  }
}

const Key kTarget{"pump-2", "flow"};

TEST_CASE("plant: a spike fault changes exactly one sample") {
  CompareWithFault(FaultKind::kSpike, 50.0, [](int k, auto& b, auto& f) {
    INFO("tick ", k);
    if (k == 100) {
      CHECK(f[kTarget] == doctest::Approx(b[kTarget] + 50.0));
    } else {
      CHECK(f[kTarget] == b[kTarget]);
    }
  });
  // A spike between ticks lands on the next tick.
  CompareWithFault(
      FaultKind::kSpike, -30.0,
      [](int k, auto& b, auto& f) {
        INFO("tick ", k);
        if (k == 101) {
          CHECK(f[kTarget] == doctest::Approx(b[kTarget] - 30.0));
        } else {
          CHECK(f[kTarget] == b[kTarget]);
        }
      },
      100.5);
}

TEST_CASE("plant: a step fault offsets every sample in its window and none outside") {
  CompareWithFault(FaultKind::kStep, 25.0, [](int k, auto& b, auto& f) {
    INFO("tick ", k);
    if (k >= 100 && k < 120) {
      CHECK(f[kTarget] == doctest::Approx(b[kTarget] + 25.0));
    } else {
      CHECK(f[kTarget] == b[kTarget]);
    }
  });
}

TEST_CASE("plant: a drift fault ramps linearly over its window") {
  CompareWithFault(FaultKind::kDrift, 40.0, [](int k, auto& b, auto& f) {
    INFO("tick ", k);
    if (k >= 100 && k < 120) {
      CHECK(f[kTarget] - b[kTarget] == doctest::Approx(40.0 * (k - 100) / 20.0));
    } else {
      CHECK(f[kTarget] == b[kTarget]);
    }
  });
}

TEST_CASE("plant: a stuck fault freezes the value for its window") {
  double frozen = 0;
  CompareWithFault(FaultKind::kStuck, 0.0, [&frozen](int k, auto& b, auto& f) {
    INFO("tick ", k);
    if (k == 100) frozen = b[kTarget];
    if (k >= 100 && k < 120) {
      CHECK(f[kTarget] == frozen);
    } else {
      CHECK(f[kTarget] == b[kTarget]);
    }
  });
  CHECK(frozen != 0.0);
}

TEST_CASE("plant: a dropout fault removes the series' readings in its window only") {
  int missing = 0;
  CompareWithFault(FaultKind::kDropout, 0.0, [&missing](int k, auto& b, auto& f) {
    INFO("tick ", k);
    if (k >= 100 && k < 120) {
      CHECK(f.count(kTarget) == 0);
      CHECK(f.size() == b.size() - 1);
      ++missing;
    } else {
      REQUIRE(f.count(kTarget) == 1);
      CHECK(f[kTarget] == b[kTarget]);
    }
  });
  CHECK(missing == 20);
}

TEST_CASE("plant: an open-ended step (duration 0) lasts to the end") {
  PlantOptions o = Options(2);
  o.devices = 1;
  o.series = {Series::kPressure};
  Plant base(o);
  o.faults.push_back(Fault{"pump-1", Series::kPressure, FaultKind::kStep, 10 * kSecond, 0, 1.5});
  Plant faulted(o);
  auto b = Run(base, 1000);
  auto f = Run(faulted, 1000);
  REQUIRE(b.size() == f.size());
  for (std::size_t k = 0; k < b.size(); ++k) {
    if (k < 10) {
      CHECK(f[k].value == b[k].value);
    } else {
      CHECK(f[k].value == doctest::Approx(b[k].value + 1.5));
    }
  }
}

TEST_CASE("plant: faults on unknown devices or disabled series are ignored") {
  PlantOptions o = Options(2);
  o.series = {Series::kFlow};
  Plant base(o);
  o.faults.push_back(Fault{"pump-9", Series::kFlow, FaultKind::kStep, 0, 0, 5.0});
  o.faults.push_back(Fault{"pump-1", Series::kCurrent, FaultKind::kStep, 0, 0, 5.0});
  Plant faulted(o);
  auto b = Run(base, 50);
  auto f = Run(faulted, 50);
  REQUIRE(b.size() == f.size());
  for (std::size_t i = 0; i < b.size(); ++i) CHECK(f[i].value == b[i].value);
}

TEST_CASE("plant: names parse and print both ways") {
  for (Series s : kAllSeries) CHECK(ParseSeries(SeriesName(s)) == s);
  CHECK_FALSE(ParseSeries("humidity").has_value());
  for (auto k : {FaultKind::kSpike, FaultKind::kStep, FaultKind::kDrift, FaultKind::kStuck,
                 FaultKind::kDropout}) {
    CHECK(ParseFaultKind(FaultKindName(k)) == k);
  }
  CHECK_FALSE(ParseFaultKind("explode").has_value());
}

}  // namespace pn::sim
