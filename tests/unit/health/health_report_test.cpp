// Health renderings: overall state, JSON shape, Prometheus text (families, labels, escaping) and
// the person-readable status.
#include "gateway/health/health_report.h"

#include <doctest/doctest.h>

#include <map>
#include <sstream>

using namespace pn;
using namespace pn::health;

namespace {

constexpr std::int64_t kNow = 1'767'225'600'000'000'000;  // 2026-01-01T00:00:00Z in ns

Snapshot Sample() {
  Snapshot s;
  s.gateway_id = "gw-1";
  s.version = "1.2.3";
  s.now_ns = kNow;
  s.uptime_s = 42;
  s.ready = true;
  s.readings_per_s = 10;
  s.stats.readings_in = 1000;
  s.stats.events = 7;
  s.stats.anomalies = 3;
  s.stats.alarms = 2;
  s.stats.clears = 1;
  s.stats.queue_depth = 5;
  s.stats.queue_capacity = 100;
  s.stats.queue_dropped = 4;
  DriverState d;
  d.name = "plc \"north\"";
  d.type = "modbus";
  d.state = "running";
  d.readings = 990;
  d.errors = 2;
  d.last_success_ns = kNow - 1'500'000'000;
  s.stats.drivers.push_back(d);
  UpstreamState u;
  u.name = "cloud";
  u.state = "ok";
  u.sent = 900;
  u.lag = 100;
  u.reconnects = 1;
  u.last_success_ns = kNow - 2'000'000'000;
  s.stats.upstreams.push_back(u);
  s.store.records = 100;
  s.store.bytes_on_disk = 4096;
  s.store.oldest_ts_ns = kNow - 30'000'000'000;
  return s;
}

std::string MetricLine(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix + " ", 0) == 0) return line;
  }
  return "";
}

}  // namespace

TEST_CASE("overall state: ok, degraded when an upstream is not ok, stalled when a thread is") {
  Snapshot s = Sample();
  CHECK(OverallState(s) == "ok");
  CHECK(HealthHttpStatus(s) == 200);
  s.stats.upstreams[0].state = "retrying";
  CHECK(OverallState(s) == "degraded");
  CHECK(HealthHttpStatus(s) == 200);
  s.stalled = {"driver x"};
  CHECK(OverallState(s) == "stalled");
  CHECK(HealthHttpStatus(s) == 503);
  Snapshot t = Sample();
  t.ready = false;
  CHECK(OverallState(t) == "stalled");
}

TEST_CASE("health JSON carries drivers, upstreams, store and queue with escaped strings") {
  std::string j = RenderHealthJson(Sample());
  CHECK(j.front() == '{');
  CHECK(j.substr(j.size() - 2) == "}\n");
  CHECK(j.find(R"("status":"ok")") != std::string::npos);
  CHECK(j.find(R"("name":"plc \"north\"","type":"modbus","state":"running","readings":990,)"
               R"("errors":2,"last_success":1767225598.5)") != std::string::npos);
  CHECK(j.find(R"("name":"cloud","state":"ok","sent":900)") != std::string::npos);
  CHECK(j.find(R"("lag":100)") != std::string::npos);
  CHECK(j.find(R"("queue":{"depth":5,"capacity":100,"dropped":4})") != std::string::npos);
  CHECK(j.find(R"("oldest_age_s":30)") != std::string::npos);
  CHECK(j.find(R"("stalled":[])") != std::string::npos);
  // Balanced braces and brackets outside strings: a cheap well-formedness check.
  int depth = 0;
  bool in_str = false;
  for (std::size_t i = 0; i < j.size(); ++i) {
    char c = j[i];
    if (in_str) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_str = false;
      }
      continue;
    }
    if (c == '"') in_str = true;
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
    CHECK(depth >= 0);
  }
  CHECK(depth == 0);
}

TEST_CASE("health JSON: no last success is null, not 0") {
  Snapshot s = Sample();
  s.stats.drivers[0].last_success_ns = 0;
  s.store.oldest_ts_ns = 0;
  std::string j = RenderHealthJson(s);
  CHECK(j.find(R"("last_success":null)") != std::string::npos);
  CHECK(j.find(R"("oldest_age_s":null)") != std::string::npos);
}

TEST_CASE("an oldest record stamped before the clock synchronised has no age: null, NaN, unknown") {
  Snapshot s = Sample();
  s.store.oldest_ts_ns = 1'000'000'000;  // 1970: a Raspberry Pi booted without a clock
  s.store.oldest_unsynced = true;
  std::string j = RenderHealthJson(s);
  CHECK(j.find(R"("oldest_age_s":null)") != std::string::npos);
  CHECK(j.find(R"("oldest_clock":"unsynced")") != std::string::npos);
  CHECK(MetricLine(RenderMetrics(s), "processnow_store_oldest_age_seconds") ==
        "processnow_store_oldest_age_seconds NaN");
  CHECK(RenderStatusText(s).find("oldest unknown (clock not synchronised)") != std::string::npos);
  // Synchronised, the same record has its age again.
  s.store.oldest_unsynced = false;
  s.store.oldest_ts_ns = kNow - 30'000'000'000;
  CHECK(RenderHealthJson(s).find(R"("oldest_age_s":30)") != std::string::npos);
  CHECK(RenderHealthJson(s).find("oldest_clock") == std::string::npos);
}

TEST_CASE("metrics: every family has HELP and TYPE once, samples carry escaped labels") {
  std::string m = RenderMetrics(Sample());
  CHECK(MetricLine(m, "processnow_readings_in_total") == "processnow_readings_in_total 1000");
  CHECK(MetricLine(m, R"(processnow_driver_errors_total{driver="plc \"north\""})") ==
        R"(processnow_driver_errors_total{driver="plc \"north\""} 2)");
  CHECK(MetricLine(m, R"(processnow_dropped_total{reason="queue_overflow"})") ==
        R"(processnow_dropped_total{reason="queue_overflow"} 4)");
  CHECK(MetricLine(m, R"(processnow_upstream_lag_records{upstream="cloud"})") ==
        R"(processnow_upstream_lag_records{upstream="cloud"} 100)");
  CHECK(MetricLine(m, "processnow_store_oldest_age_seconds") ==
        "processnow_store_oldest_age_seconds 30");
  CHECK(MetricLine(m, "processnow_alarms_total") == "processnow_alarms_total 2");
  std::istringstream in(m);
  std::string line;
  std::map<std::string, int> help, type;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) ++help[line.substr(7, line.find(' ', 7) - 7)];
    if (line.rfind("# TYPE ", 0) == 0) ++type[line.substr(7, line.find(' ', 7) - 7)];
    if (line[0] != '#') {
      std::string name = line.substr(0, line.find_first_of("{ "));
      CHECK_MESSAGE(type.count(name) == 1, name);  // TYPE comes before the samples
    }
  }
  for (const auto& entry : help) CHECK_MESSAGE(entry.second == 1, entry.first);
  CHECK(help.size() == type.size());
}

TEST_CASE("label escaping: backslash, quote and newline") {
  CHECK(EscapeLabel("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
}

TEST_CASE("status text for a person") {
  Snapshot s = Sample();
  s.stalled = {"driver plc", "rules"};
  std::string t = RenderStatusText(s);
  CHECK(t.find("processnow 1.2.3, gateway gw-1: stalled (up 42 s)") == 0);
  CHECK(t.find("STALLED threads: driver plc, rules") != std::string::npos);
  CHECK(t.find("plc \"north\" (modbus): running, 990 readings, 2 errors, last success 1.5 s ago") !=
        std::string::npos);
  CHECK(t.find("cloud: ok, 900 sent, lag 100, 0 errors, 1 reconnects, last success 2.0 s ago") !=
        std::string::npos);
  CHECK(t.find("store: 100 records, 4.0 KiB, oldest 30.0 s ago") != std::string::npos);
}
