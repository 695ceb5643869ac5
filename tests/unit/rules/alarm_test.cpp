// Alarms: debounce by count and by duration, hysteresis, clear delay, deduplication.
#include "rules/alarms/alarm.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "rules/engine.h"

namespace pn::rules {
namespace {

using T = AlarmState::Transition;
constexpr std::int64_t kSec = 1'000'000'000;

TEST_CASE("alarm raises after raise_after consecutive anomalous readings") {
  AlarmParams p;
  p.raise_after = 3;
  AlarmState a;
  CHECK(a.Update(p, 1 * kSec, 1.0) == T::kNone);
  CHECK(a.Update(p, 2 * kSec, 1.0) == T::kNone);
  CHECK(a.Update(p, 3 * kSec, 0.0) == T::kNone);  // breaks the run
  CHECK(a.Update(p, 4 * kSec, 1.0) == T::kNone);
  CHECK(a.Update(p, 5 * kSec, 1.0) == T::kNone);
  CHECK(a.Update(p, 6 * kSec, 1.0) == T::kRaised);
  CHECK(a.raised());
}

TEST_CASE("alarm raises only after the anomalous run lasted raise_after_ms") {
  AlarmParams p;
  p.raise_after_ms = 10'000;
  AlarmState a;
  CHECK(a.Update(p, 100 * kSec, 1.0) == T::kNone);
  CHECK(a.Update(p, 105 * kSec, 1.0) == T::kNone);
  CHECK(a.Update(p, 109 * kSec, 0.2) == T::kNone);  // run broken
  CHECK(a.Update(p, 111 * kSec, 1.0) == T::kNone);
  CHECK(a.Update(p, 120 * kSec, 1.0) == T::kNone);
  CHECK(a.Update(p, 121 * kSec, 1.0) == T::kRaised);
}

TEST_CASE("alarm is deduplicated while raised and clears with hysteresis and delay") {
  AlarmParams p;
  p.raise_level = 0.8;
  p.clear_level = 0.3;
  p.clear_after = 2;
  p.clear_after_ms = 5'000;
  AlarmState a;
  CHECK(a.Update(p, 0, 0.9) == T::kRaised);
  CHECK(a.Update(p, 1 * kSec, 0.95) == T::kNone);  // no repeat while raised
  CHECK(a.Update(p, 2 * kSec, 0.5) == T::kNone);   // below raise level, above clear level
  CHECK(a.Update(p, 3 * kSec, 0.5) == T::kNone);
  CHECK(a.raised());
  CHECK(a.Update(p, 4 * kSec, 0.1) == T::kNone);  // normal run starts
  CHECK(a.Update(p, 5 * kSec, 0.1) == T::kNone);  // 2 normals but only 1 s
  CHECK(a.Update(p, 9 * kSec, 0.1) == T::kCleared);
  CHECK_FALSE(a.raised());
  CHECK(a.Update(p, 10 * kSec, 0.1) == T::kNone);  // no repeated clear
}

TEST_CASE("NaN scores (warm-up) neither count nor break a run") {
  AlarmParams p;
  p.raise_after = 2;
  AlarmState a;
  CHECK(a.Update(p, 1, 1.0) == T::kNone);
  CHECK(a.Update(p, 2, std::nan("")) == T::kNone);
  CHECK(a.Update(p, 3, 1.0) == T::kRaised);
}

TEST_CASE("engine emits one alarm and one clear event per episode with severity") {
  config::ErrorList errors;
  auto engine = Engine::LoadString(R"(
[[rule]]
name = "a"
[rule.detector]
type = "threshold"
above = 10.0
[rule.alarm]
raise_after = 2
clear_after = 2
severity = "critical"
)",
                                   "r.toml", errors);
  REQUIRE(engine != nullptr);
  std::vector<Event> events;
  double values[] = {5, 20, 20, 20, 5, 20, 5, 5, 5};
  for (int i = 0; i < 9; ++i) {
    Reading r{"d", "s", values[i], "", Quality::kGood, i * kSec};
    engine->Process(r, events);
  }
  std::string kinds;
  for (const auto& e : events) {
    kinds += std::string(EventKindName(e.kind)) + "@" + std::to_string(e.ts_ns / kSec) + " ";
    if (e.kind != EventKind::kAnomaly) CHECK(e.severity == "critical");
  }
  CHECK(kinds == "anomaly@1 anomaly@2 alarm@2 anomaly@3 anomaly@5 clear@7 ");
}

}  // namespace
}  // namespace pn::rules
