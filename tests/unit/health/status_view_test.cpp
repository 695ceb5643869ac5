// The status page's data: the live view (latest values, sparkline rings, alarms raised until
// cleared, bounded anomalies, assets, the series limit), /status.json parsed back as JSON and
// checked member by member, the embedded page, and bearer-token matching.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "gateway/health/health_report.h"
#include "gateway/health/health_server.h"
#include "gateway/health/live_view.h"

using namespace pn;
using namespace pn::health;

namespace {

constexpr std::int64_t kS = 1'000'000'000;
constexpr std::int64_t kT0 = 1'767'225'600 * kS;  // 2026-01-01T00:00:00Z, a multiple of 10 s

Reading R(const std::string& device, const std::string& series, double value, std::int64_t ts,
          Quality q = Quality::kGood) {
  Reading r;
  r.device = device;
  r.series = series;
  r.value = value;
  r.unit = "degC";
  r.quality = q;
  r.ts_ns = ts;
  return r;
}

Event E(EventKind kind, const std::string& device, std::int64_t ts) {
  Event e;
  e.kind = kind;
  e.device = device;
  e.series = "temperature";
  e.rule = "overheat";
  e.ts_ns = ts;
  e.value = 95;
  e.severity = "critical";
  e.message = "hot";
  return e;
}

LiveView::Options Small() {
  LiveView::Options o;
  o.series_limit = 3;
  o.spark_points = 6;
  o.spark_step_ns = 10 * kS;
  o.anomalies = 4;
  return o;
}

const LiveSeries& Find(const LiveSnapshot& s, const std::string& device,
                       const std::string& series) {
  for (const auto& d : s.devices) {
    if (d.name != device) continue;
    for (const auto& x : d.series) {
      if (x.name == series) return x;
    }
  }
  FAIL("no series " << device << "/" << series);
  static LiveSeries none;
  return none;
}

}  // namespace

TEST_CASE("live view: the latest value by time, and one sparkline value per step with gaps") {
  LiveView v(Small());
  std::vector<Reading> rs = {R("p1", "temperature", 1, kT0 + 1 * kS),
                             R("p1", "temperature", 2, kT0 + 5 * kS),  // same step: last wins
                             R("p1", "temperature", 3, kT0 + 12 * kS),
                             // step 2 has no reading: a gap
                             R("p1", "temperature", 5, kT0 + 31 * kS, Quality::kUncertain)};
  v.OnReadings(rs);
  // A late reading of an earlier step fills its slot but is not the latest value.
  std::vector<Reading> late = {R("p1", "temperature", 9, kT0 + 2 * kS)};
  v.OnReadings(late);
  LiveSnapshot s = v.Take();
  const LiveSeries& t = Find(s, "p1", "temperature");
  CHECK(t.value == 5);
  CHECK(t.quality == Quality::kUncertain);
  CHECK(t.ts_ns == kT0 + 31 * kS);
  CHECK(t.unit == "degC");
  CHECK(t.spark_end_ns == kT0 + 40 * kS);
  REQUIRE(t.spark.size() == 6);
  // Steps -2 and -1 (before any reading), then 0: 9 (the late one), 1: 3, 2: gap, 3: 5.
  CHECK(std::isnan(t.spark[0]));
  CHECK(std::isnan(t.spark[1]));
  CHECK(t.spark[2] == 9);
  CHECK(t.spark[3] == 3);
  CHECK(std::isnan(t.spark[4]));
  CHECK(t.spark[5] == 5);
  // A jump past the whole ring leaves only the new value; a reading older than the ring is
  // dropped from the sparkline.
  std::vector<Reading> later = {R("p1", "temperature", 7, kT0 + 200 * kS),
                                R("p1", "temperature", 8, kT0 + 100 * kS)};
  v.OnReadings(later);
  LiveSnapshot s2 = v.Take();
  const LiveSeries& u = Find(s2, "p1", "temperature");
  CHECK(u.value == 7);
  int kept = 0;
  for (float x : u.spark) kept += std::isnan(x) ? 0 : 1;
  CHECK(kept == 1);
  CHECK(u.spark.back() == 7);
}

TEST_CASE("live view: readings before 1970 land in the right step") {
  LiveView v(Small());
  std::vector<Reading> rs = {R("p1", "s", 1, -15 * kS), R("p1", "s", 2, -5 * kS)};
  v.OnReadings(rs);
  LiveSnapshot s = v.Take();
  const LiveSeries& t = Find(s, "p1", "s");
  CHECK(t.spark_end_ns == 0);  // the step [-10 s, 0) is the newest
  CHECK(t.spark[5] == 2);
  CHECK(t.spark[4] == 1);
}

TEST_CASE("live view: at most series_limit series, the rest are counted, not kept") {
  LiveView v(Small());
  std::vector<Reading> rs = {R("p1", "a", 1, kT0), R("p1", "b", 1, kT0), R("p2", "a", 1, kT0),
                             R("p2", "b", 1, kT0), R("p3", "a", 1, kT0), R("p1", "a", 2, kT0)};
  v.OnReadings(rs);
  LiveSnapshot s = v.Take();
  CHECK(s.series == 3);
  CHECK(s.series_limit == 3);
  CHECK(s.series_dropped == 2);
  REQUIRE(s.devices.size() == 2);
  CHECK(s.devices[0].name == "p1");
  CHECK(s.devices[0].series.size() == 2);
  CHECK(Find(s, "p1", "a").value == 2);  // a kept series still updates
}

TEST_CASE("live view: an alarm stays from its raise until its clear, anomalies are bounded") {
  LiveView v(Small());
  std::vector<Event> raised = {E(EventKind::kAlarm, "p2", kT0 + 5 * kS),
                               E(EventKind::kAlarm, "p1", kT0 + 9 * kS)};
  v.OnEvents(raised);
  std::vector<Event> again = {E(EventKind::kAlarm, "p2", kT0 + 20 * kS)};
  again[0].severity = "warning";
  v.OnEvents(again);
  LiveSnapshot s = v.Take();
  REQUIRE(s.alarms.size() == 2);
  CHECK(s.alarms[0].device == "p2");            // oldest raise first
  CHECK(s.alarms[0].since_ns == kT0 + 5 * kS);  // a repeated raise keeps its start
  CHECK(s.alarms[0].severity == "warning");
  std::vector<Event> clear = {E(EventKind::kClear, "p2", kT0 + 30 * kS)};
  v.OnEvents(clear);
  s = v.Take();
  REQUIRE(s.alarms.size() == 1);
  CHECK(s.alarms[0].device == "p1");

  std::vector<Event> anomalies;
  for (int i = 0; i < 10; ++i) {
    anomalies.push_back(E(EventKind::kAnomaly, "p1", kT0 + i * kS));
    anomalies.back().score = i / 10.0;
  }
  v.OnEvents(anomalies);
  s = v.Take();
  REQUIRE(s.anomalies.size() == 4);
  CHECK(s.anomalies.front().ts_ns == kT0 + 9 * kS);  // newest first
  CHECK(s.anomalies.back().ts_ns == kT0 + 6 * kS);
}

TEST_CASE("live view: health and RUL events of one asset merge") {
  LiveView v(Small());
  Event h = E(EventKind::kHealth, "engine-1", kT0);
  h.rule = "rul";
  h.health = 0.8;
  h.trend = -0.01;
  Event r = E(EventKind::kRul, "engine-1", kT0 + kS);
  r.rule = "rul";
  r.rul = 42;
  std::vector<Event> evs = {h, r};
  v.OnEvents(evs);
  LiveSnapshot s = v.Take();
  REQUIRE(s.assets.size() == 1);
  CHECK(s.assets[0].health == doctest::Approx(0.8));
  CHECK(s.assets[0].rul == 42);
  CHECK(s.assets[0].trend == doctest::Approx(-0.01));
  CHECK(s.assets[0].ts_ns == kT0 + kS);
}

TEST_CASE("status JSON: /health's members, then config, memory, drops and the live view") {
  LiveView v(Small());
  std::vector<Reading> rs = {R("pump-<b>1</b>", "temperature", 61.5, kT0 - 2 * kS),
                             R("pump-<b>1</b>", "temperature", 61.25, kT0 - 1 * kS)};
  v.OnReadings(rs);
  std::vector<Event> evs = {E(EventKind::kAlarm, "pump-<b>1</b>", kT0 - 1 * kS),
                            E(EventKind::kAnomaly, "pump-<b>1</b>", kT0 - 1 * kS)};
  v.OnEvents(evs);
  Snapshot snap;
  snap.gateway_id = "gw \"1\"";
  snap.version = "1.2.3";
  snap.now_ns = kT0;
  snap.ready = true;
  snap.config_path = "/etc/processnow/gateway.toml";
  snap.rss_bytes = 12 << 20;
  UpstreamState up;
  up.name = "cloud";
  up.state = "retrying";
  up.last_error = "connect refused";
  snap.stats.upstreams.push_back(up);
  snap.stats.queue_dropped = 3;
  snap.store.drops.size_readings = 5;
  snap.store.oldest_pending_ts_ns = {kT0 - 90 * kS};
  snap.live = v.Take();

  const std::string text = RenderStatusJson(snap);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
  CHECK(std::string_view(doc["status"]) == "degraded");
  CHECK(std::string_view(doc["gateway"]) == "gw \"1\"");
  CHECK(std::string_view(doc["config"]) == "/etc/processnow/gateway.toml");
  CHECK(int64_t(doc["rss_bytes"]) == (12 << 20));
  CHECK(double(doc["now"]) == doctest::Approx(1'767'225'600.0));
  CHECK(int64_t(doc["drops"]["queue_overflow"]) == 3);
  CHECK(int64_t(doc["drops"]["store_full"]) == 5);
  simdjson::dom::element upstream = doc["upstreams"].at(0);
  CHECK(std::string_view(upstream["state"]) == "retrying");
  CHECK(std::string_view(upstream["last_error"]) == "connect refused");
  CHECK(double(upstream["oldest_pending_age_s"]) == doctest::Approx(90));

  simdjson::dom::element dev = doc["devices"].at(0);
  CHECK(std::string_view(dev["name"]) == "pump-<b>1</b>");  // data, escaped only as JSON
  simdjson::dom::element ser = dev["series"].at(0);
  CHECK(std::string_view(ser["name"]) == "temperature");
  CHECK(double(ser["value"]) == 61.25);
  CHECK(std::string_view(ser["unit"]) == "degC");
  CHECK(std::string_view(ser["quality"]) == "good");
  CHECK(double(ser["age_s"]) == doctest::Approx(1));
  CHECK(double(ser["spark"]["step_s"]) == 10);
  CHECK(double(ser["spark"]["end"]) == doctest::Approx(1'767'225'600.0));
  simdjson::dom::array values = ser["spark"]["values"];
  CHECK(values.size() == 6);
  CHECK(values.at(0).is_null());  // a gap
  CHECK(double(values.at(5)) == 61.25);

  simdjson::dom::element alarm = doc["alarms"].at(0);
  CHECK(std::string_view(alarm["severity"]) == "critical");
  CHECK(std::string_view(alarm["rule"]) == "overheat");
  CHECK(double(alarm["since"]) == doctest::Approx(1'767'225'599.0));
  CHECK(doc["anomalies"].get_array().size() == 1);
  CHECK(doc["assets"].get_array().size() == 0);
  CHECK(int64_t(doc["live"]["series"]) == 1);
}

TEST_CASE("status JSON without a live view has empty lists, not missing ones") {
  Snapshot snap;
  snap.ready = true;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(RenderStatusJson(snap)).get(doc) == simdjson::SUCCESS);
  CHECK(doc["devices"].get_array().size() == 0);
  CHECK(doc["alarms"].get_array().size() == 0);
  CHECK(int64_t(doc["live"]["series_limit"]) == 0);
}

TEST_CASE("the status page is embedded, self-contained and reads status.json") {
  const std::string& page = StatusPageHtml();
  std::string head = page.substr(0, 15);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  CHECK(head == "<!doctype html>");
  CHECK(page.find("status.json") != std::string::npos);
  CHECK(page.find("http://") == std::string::npos);  // nothing from the network
  CHECK(page.find("https://") == std::string::npos);
  CHECK(page.find("innerHTML") == std::string::npos);  // data goes in as text only
}

TEST_CASE("bearer token: exact match only") {
  CHECK(BearerMatches("Bearer s3cret", "s3cret"));
  CHECK_FALSE(BearerMatches("Bearer s3cre", "s3cret"));
  CHECK_FALSE(BearerMatches("Bearer s3cretX", "s3cret"));
  CHECK_FALSE(BearerMatches("bearer s3cret", "s3cret"));
  CHECK_FALSE(BearerMatches("Basic s3cret", "s3cret"));
  CHECK_FALSE(BearerMatches("", "s3cret"));
  CHECK_FALSE(BearerMatches("Bearer ", ""));  // no token configured never matches
}
