// The engine: selection by glob, threshold anomalies, validation, stale data, report-on-change,
// AdoptState; and the glob syntax itself.
#include "rules/engine.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "rules/glob.h"

namespace pn::rules {
namespace {

std::unique_ptr<Engine> Load(const std::string& text) {
  config::ErrorList errors;
  auto engine = Engine::LoadString(text, "r.toml", errors);
  INFO(errors.ToString());
  REQUIRE(engine != nullptr);
  return engine;
}

// Feeds one reading at second `t` and returns its events as "kind:rule:device/series" strings.
struct Feeder {
  Engine& engine;
  bool forwarded = true;
  Quality quality = Quality::kGood;

  std::vector<std::string> Feed(const std::string& device, const std::string& series, double t,
                                double value) {
    Reading r{device, series, value, "", Quality::kGood, static_cast<std::int64_t>(t * 1e9)};
    std::vector<Event> events;
    forwarded = engine.Process(r, events);
    quality = r.quality;
    std::vector<std::string> out;
    for (const auto& e : events) {
      out.push_back(std::string(EventKindName(e.kind)) + ":" + e.rule + ":" + e.device + "/" +
                    e.series);
    }
    return out;
  }
};

using Events = std::vector<std::string>;

constexpr const char* kThreshold = R"(
[[rule]]
name = "hot"
devices = ["pump-*"]
series = ["temp*"]
[rule.detector]
type = "threshold"
above = 80.0
below = 0.0
)";

TEST_CASE("device and series globs select the readings a rule sees") {
  auto engine = Load(kThreshold);
  Feeder f{*engine};
  CHECK(f.Feed("pump-1", "temperature", 1, 90) == Events{"anomaly:hot:pump-1/temperature"});
  CHECK(f.Feed("pump-2", "temp_out", 1, 90) == Events{"anomaly:hot:pump-2/temp_out"});
  CHECK(f.Feed("fan-1", "temperature", 1, 90).empty());
  CHECK(f.Feed("pump-1", "pressure", 1, 90).empty());
}

TEST_CASE("threshold scores 1 above and below the limits and 0 inside") {
  auto engine = Load(kThreshold);
  std::vector<Event> events;
  for (double v : {50.0, 80.0, 80.5, -1.0, 0.0}) {
    Reading r{"pump-1", "temperature", v, "", Quality::kGood, 0};
    engine->Process(r, events);
  }
  REQUIRE(events.size() == 2);
  CHECK(events[0].value == 80.5);
  CHECK(events[0].score == 1.0);
  CHECK(events[0].kind == EventKind::kAnomaly);
  CHECK(events[1].value == -1.0);
}

TEST_CASE("a reading matching several rules gets events from each, in rule order") {
  auto engine = Load(std::string(kThreshold) + R"(
[[rule]]
name = "very_hot"
series = ["temperature"]
[rule.detector]
type = "threshold"
above = 85.0
)");
  Feeder f{*engine};
  CHECK(f.Feed("pump-1", "temperature", 1, 90) ==
        Events{"anomaly:hot:pump-1/temperature", "anomaly:very_hot:pump-1/temperature"});
  CHECK(f.Feed("pump-1", "temperature", 2, 82) == Events{"anomaly:hot:pump-1/temperature"});
}

TEST_CASE("validation marks NaN, inf and out-of-range readings bad without poisoning state") {
  auto engine = Load(R"(
[[rule]]
name = "v"
[rule.validate]
min = 0.0
max = 100.0
max_rate_per_s = 10.0
[rule.detector]
type = "threshold"
above = 50.0
[rule.alarm]
raise_after = 2
)");
  Feeder f{*engine};
  CHECK(f.Feed("d", "s", 1, 60) == Events{"anomaly:v:d/s"});
  CHECK(f.quality == Quality::kGood);
  // Bad readings: no events, quality bad, and the alarm's anomalous run is not broken.
  CHECK(f.Feed("d", "s", 2, std::numeric_limits<double>::quiet_NaN()).empty());
  CHECK(f.quality == Quality::kBad);
  CHECK(f.Feed("d", "s", 3, std::numeric_limits<double>::infinity()).empty());
  CHECK(f.quality == Quality::kBad);
  CHECK(f.Feed("d", "s", 4, 150).empty());  // above max
  CHECK(f.quality == Quality::kBad);
  CHECK(f.Feed("d", "s", 5, -5).empty());  // below min
  CHECK(f.quality == Quality::kBad);
  // The rate reference is the last good value (60 at t=1): 75 at t=5 is 3.75/s, fine.
  CHECK(f.Feed("d", "s", 5, 75) == Events{"anomaly:v:d/s", "alarm:v:d/s"});
  CHECK(f.quality == Quality::kGood);
  // 75 -> 99 within 1 s is 24/s: too fast.
  CHECK(f.Feed("d", "s", 6, 99).empty());
  CHECK(f.quality == Quality::kBad);
}

TEST_CASE("NaN is marked bad even without a validate section") {
  auto engine = Load(kThreshold);
  Feeder f{*engine};
  CHECK(f.Feed("pump-1", "temperature", 1, std::nan("")).empty());
  CHECK(f.quality == Quality::kBad);
}

TEST_CASE("a stuck sensor is marked bad after stuck_count equal values") {
  auto engine = Load("[[rule]]\nname = \"v\"\n[rule.validate]\nstuck_count = 3\n");
  Feeder f{*engine};
  f.Feed("d", "s", 1, 5);
  CHECK(f.quality == Quality::kGood);
  f.Feed("d", "s", 2, 5);
  CHECK(f.quality == Quality::kGood);
  f.Feed("d", "s", 3, 5);
  CHECK(f.quality == Quality::kBad);
  f.Feed("d", "s", 4, 5);
  CHECK(f.quality == Quality::kBad);
  f.Feed("d", "s", 5, 6);
  CHECK(f.quality == Quality::kGood);
}

TEST_CASE("a string reading skips validation and detectors, and report-on-change sees its text") {
  auto engine = Load(std::string(kThreshold) + R"(
[[rule]]
name = "state"
series = ["state"]
[rule.validate]
min = 0.0
[rule.report]
deadband = 0.0
)");
  auto feed = [&](const std::string& series, std::string text, std::vector<Event>& events) {
    Reading r{"pump-1", series, 0.0, "", Quality::kGood, 1'000'000'000};
    r.SetText(std::move(text));
    const bool forwarded = engine->Process(r, events);
    CHECK(r.quality == Quality::kGood);  // a text is not a bad number
    return forwarded;
  };
  std::vector<Event> events;
  // "temperature" is watched by the threshold rule: a text there raises nothing.
  CHECK(feed("temperature", "n/a", events));
  CHECK(events.empty());
  CHECK(feed("state", "RUNNING", events));  // the first text is forwarded
  CHECK_FALSE(feed("state", "RUNNING", events));
  CHECK(feed("state", "STOPPED", events));  // a changed text is
  CHECK(events.empty());
}

TEST_CASE("report-on-change forwards only moves beyond the deadband, or after max_silence_ms") {
  auto engine = Load(R"(
[[rule]]
name = "r"
[rule.report]
deadband = 0.5
max_silence_ms = 10000
)");
  Feeder f{*engine};
  f.Feed("d", "s", 0, 10.0);
  CHECK(f.forwarded);  // first reading
  f.Feed("d", "s", 1, 10.4);
  CHECK_FALSE(f.forwarded);
  f.Feed("d", "s", 2, 9.6);
  CHECK_FALSE(f.forwarded);
  f.Feed("d", "s", 3, 10.6);
  CHECK(f.forwarded);  // moved 0.6 from the last forwarded 10.0
  f.Feed("d", "s", 4, 10.2);
  CHECK_FALSE(f.forwarded);  // 0.4 from 10.6
  f.Feed("d", "s", 13, 10.6);
  CHECK(f.forwarded);  // 10 s of silence since t=3
  f.Feed("d", "s", 14, std::nan(""));
  CHECK(f.forwarded);  // quality changed to bad
  f.Feed("d", "s", 15, std::nan(""));
  CHECK_FALSE(f.forwarded);
  // A series no report rule selects is always forwarded.
  auto plain = Load(kThreshold);
  Feeder g{*plain};
  g.Feed("x", "y", 1, 1);
  CHECK(g.forwarded);
  g.Feed("x", "y", 2, 1);
  CHECK(g.forwarded);
}

constexpr const char* kAlarmRule = R"(
[[rule]]
name = "a"
[rule.detector]
type = "threshold"
above = 10.0
[rule.alarm]
raise_after = 3
)";

TEST_CASE("AdoptState keeps the state of an unchanged rule") {
  auto old_engine = Load(kAlarmRule);
  Feeder f{*old_engine};
  f.Feed("d", "s", 1, 20);
  f.Feed("d", "s", 2, 20);
  auto new_engine = Load(std::string("# reloaded\n") + kAlarmRule);
  new_engine->AdoptState(*old_engine);
  Feeder g{*new_engine};
  // The third anomalous reading in a row raises: the count of two came across.
  CHECK(g.Feed("d", "s", 3, 20) == Events{"anomaly:a:d/s", "alarm:a:d/s"});
}

TEST_CASE("AdoptState keeps a raised alarm raised: no duplicate alarm, one clear") {
  auto old_engine = Load(kAlarmRule);
  Feeder f{*old_engine};
  f.Feed("d", "s", 1, 20);
  f.Feed("d", "s", 2, 20);
  CHECK(f.Feed("d", "s", 3, 20) == Events{"anomaly:a:d/s", "alarm:a:d/s"});
  auto new_engine = Load(kAlarmRule);
  new_engine->AdoptState(*old_engine);
  Feeder g{*new_engine};
  CHECK(g.Feed("d", "s", 4, 20) == Events{"anomaly:a:d/s"});
  CHECK(g.Feed("d", "s", 5, 1) == Events{"clear:a:d/s"});
}

TEST_CASE("AdoptState resets a changed rule") {
  auto old_engine = Load(kAlarmRule);
  Feeder f{*old_engine};
  f.Feed("d", "s", 1, 20);
  f.Feed("d", "s", 2, 20);
  std::string changed = kAlarmRule;
  changed.replace(changed.find("above = 10.0"), 12, "above = 11.0");
  auto new_engine = Load(changed);
  new_engine->AdoptState(*old_engine);
  Feeder g{*new_engine};
  CHECK(g.Feed("d", "s", 3, 20) == Events{"anomaly:a:d/s"});
  CHECK(g.Feed("d", "s", 4, 20) == Events{"anomaly:a:d/s"});
  CHECK(g.Feed("d", "s", 5, 20) == Events{"anomaly:a:d/s", "alarm:a:d/s"});
}

}  // namespace
}  // namespace pn::rules

namespace pn::rules {
namespace {

TEST_CASE(
    "a series silent for longer than stale_after_ms raises one stale alarm, cleared on data") {
  auto engine = Load(R"(
[[rule]]
name = "fresh"
[rule.validate]
stale_after_ms = 5000
)");
  std::vector<Event> ev;
  Reading r{"d", "s", 1.0, "", Quality::kGood, 1'000'000'000};
  engine->Process(r, ev);
  engine->Tick(6'000'000'000, ev);  // exactly 5 s: not yet
  CHECK(ev.empty());
  engine->Tick(6'000'000'001, ev);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == EventKind::kAlarm);
  CHECK(ev[0].device == "d");
  CHECK(ev[0].series == "s");
  CHECK(ev[0].message == "stale: no reading for 5000 ms");
  engine->Tick(9'000'000'000, ev);  // deduplicated
  CHECK(ev.size() == 1);
  Reading r2{"d", "s", 2.0, "", Quality::kGood, 10'000'000'000};
  engine->Process(r2, ev);
  REQUIRE(ev.size() == 2);
  CHECK(ev[1].kind == EventKind::kClear);
  CHECK(ev[1].message == "stale: readings resumed");
}

}  // namespace
}  // namespace pn::rules

namespace pn::rules {
namespace {

TEST_CASE("globs: fnmatch syntax and their checks") {
  CHECK(GlobMatch("pump-*", "pump-12"));
  CHECK(GlobMatch("pump-?", "pump-1"));
  CHECK_FALSE(GlobMatch("pump-?", "pump-12"));
  CHECK(GlobMatch("pump-[12]", "pump-2"));
  CHECK_FALSE(GlobMatch("pump-[!12]", "pump-2"));
  CHECK(GlobMatch("a\\*", "a*"));
  CHECK_FALSE(GlobMatch("a\\*", "ab"));
  CHECK(GlobMatch("*", ""));
  CHECK(CheckGlob("pump-[]x]") == "");
  CHECK(CheckGlob("pump-[12") == "unterminated '[' in glob \"pump-[12\"");
  CHECK(CheckGlob("a\\") == "trailing '\\' in glob \"a\\\"");
  CHECK(CheckGlob("") == "empty glob");
  CHECK(IsGlob("s*"));
  CHECK_FALSE(IsGlob("Volume Flow RateRMS"));
}

}  // namespace
}  // namespace pn::rules

namespace pn::rules {
namespace {

TEST_CASE("alarm and clear messages say which series, how bad and why") {
  auto engine = Load(R"(
[[rule]]
name = "pump_overheat"
devices = ["pump-*"]
series = ["temperature"]
[rule.detector]
type = "threshold"
above = 85.0
[rule.alarm]
raise_after = 2
clear_after = 1
severity = "critical"
)");
  std::vector<Event> ev;
  auto feed = [&](double v, std::int64_t t) {
    Reading r{"pump-2", "temperature", v, "degC", Quality::kGood, t * 1'000'000'000};
    engine->Process(r, ev);
  };
  feed(131.25, 1);
  feed(131.5, 2);
  feed(80.0, 3);
  std::vector<std::string> messages;
  for (const Event& e : ev) {
    if (e.kind == EventKind::kAlarm || e.kind == EventKind::kClear) messages.push_back(e.message);
  }
  CHECK(messages == std::vector<std::string>{
                        "pump-2 temperature: critical alarm raised by pump_overheat: value "
                        "131.5, score 1.00 >= 0.50 for 2 readings",
                        "pump-2 temperature: back to normal (pump_overheat): value 80, score "
                        "0.00 < 0.50 for 1 reading"});
}

}  // namespace
}  // namespace pn::rules
