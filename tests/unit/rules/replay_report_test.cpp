// ReplayReport: decimation keeps the file small and loses no event; alarms, labels and the
// summary are in the HTML. (The browser's view: tests/integration/test_replay_report.py.)
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <string>

#include "rules/replay/report.h"

namespace pn::rules {
namespace {

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

Event Anomaly(std::int64_t ts, double value) {
  Event e;
  e.ts_ns = ts;
  e.device = "d";
  e.series = "s";
  e.rule = "r";
  e.kind = EventKind::kAnomaly;
  e.value = value;
  e.score = 1.0;
  return e;
}

TEST_CASE("report of a million rows stays a few hundred KB and keeps every event mark") {
  ReplayReport report(true);
  constexpr std::int64_t kRows = 1'000'000, kStep = 1'000'000'000;
  std::size_t events = 0;
  for (std::int64_t i = 0; i < kRows; ++i) {
    const double v = static_cast<double>(i % 1000) / 10.0;
    report.AddValue("d", "s", i * kStep, v);
    report.AddScore("r", "d", "s", i * kStep, static_cast<double>(i % 97) / 97.0);
    if (i % 2000 == 0) {  // 500 events, several per pixel column: none may be merged
      report.AddEvent(Anomaly(i * kStep, v));
      ++events;
    }
  }
  const std::string html = report.Render("big", {});
  CHECK(html.size() < 1'000'000);
  CHECK(Count(html, "<circle class=\"event\"") == events);
  // One spike among a million rows still reaches the plot's top: min and max per column.
  ReplayReport spike(true);
  for (std::int64_t i = 0; i < kRows; ++i) {
    spike.AddValue("d", "s", i * kStep, i == 777'777 ? 1e6 : 1.0);
  }
  const std::string s = spike.Render("spike", {});
  CHECK(s.find(">1.05e+06</text>") != std::string::npos);  // the axis reaches the spike (+5%)
  // ...and the value path has a point near the plot's top (y 10..160 spans the values).
  const std::size_t path = s.find("<path class=\"value\" d=\"");
  REQUIRE(path != std::string::npos);
  const std::string d = s.substr(path, s.find('"', path + 25) - path);
  double min_y = 1e9;
  for (std::size_t p = d.find(','); p != std::string::npos; p = d.find(',', p + 1)) {
    min_y = std::min(min_y, std::stod(d.substr(p + 1)));
  }
  CHECK(min_y < 20.0);
}

TEST_CASE("report shades an alarm from raise to clear and one left open to the end") {
  ReplayReport report(false);
  for (std::int64_t i = 0; i < 100; ++i) report.AddValue("d", "s", i * 1'000'000'000, 1.0);
  // (Not named `raise`: doctest breaks into a debugger with raise(SIGTRAP) on ARM.)
  Event raised = Anomaly(10'000'000'000, 1.0);
  raised.kind = EventKind::kAlarm;
  raised.severity = "critical";
  Event cleared = raised;
  cleared.kind = EventKind::kClear;
  cleared.ts_ns = 20'000'000'000;
  Event again = raised;
  again.ts_ns = 90'000'000'000;
  report.AddEvent(raised);
  report.AddEvent(cleared);
  report.AddEvent(again);
  report.AddLabel(5'000'000'000, 25'000'000'000);
  const std::string html = report.Render("alarms", {});
  CHECK(Count(html, "<rect class=\"alarm\"") == 2);
  CHECK(html.find("data-raise=\"10000000000\" data-clear=\"20000000000\"") != std::string::npos);
  CHECK(html.find("data-raise=\"90000000000\" data-clear=\"\"") != std::string::npos);
  CHECK(html.find("r alarm (critical) from 90 to the end") != std::string::npos);
  CHECK(Count(html, "<rect class=\"label\"") == 1);
}

TEST_CASE("report summary lists each rule's counts and flags a rule that fires on everything") {
  ReplayReport report(true);
  report.AddValue("d", "s", 0, 1.0);
  RuleScoreSummary quiet, noisy;
  quiet.rule = "quiet";
  noisy.rule = "noisy";
  for (int i = 0; i < 100; ++i) {
    quiet.Add(i == 0 ? 1.0 : 0.1, 0.99);
    noisy.Add(0.995, 0.99);
  }
  const std::string html = report.Render("summary", {quiet, noisy});
  CHECK(html.find("<td>quiet</td><td>100</td><td>0</td><td>100</td><td>1 (1.00%)</td>") !=
        std::string::npos);
  CHECK(html.find("<td class=\"warn\">100 (100.00%)</td>") != std::string::npos);
}

TEST_CASE("report escapes names") {
  ReplayReport report(true);
  report.AddValue("<dev>", "a&b", 0, 1.0);
  const std::string html = report.Render("t \"q\"", {});
  CHECK(html.find("&lt;dev&gt; / a&amp;b") != std::string::npos);
  CHECK(html.find("<dev>") == std::string::npos);
  CHECK(html.find("<title>t &quot;q&quot;</title>") != std::string::npos);
}

}  // namespace
}  // namespace pn::rules
