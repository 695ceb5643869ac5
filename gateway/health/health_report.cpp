#include "gateway/health/health_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>

#include "core/record.h"

namespace pn::health {

namespace {

constexpr double kNsPerS = 1e9;

double Seconds(std::int64_t ns) { return static_cast<double>(ns) / kNsPerS; }

// Age in seconds of a wall-clock timestamp; -1 when there is none.
double AgeS(const Snapshot& s, std::int64_t ts_ns) {
  if (ts_ns <= 0) return -1;
  return Seconds(s.now_ns - ts_ns);
}

// Writes one JSON object's members, commas included.
class JsonObject {
 public:
  explicit JsonObject(std::string& out) : out_(out) { out_ += '{'; }
  ~JsonObject() { out_ += '}'; }
  JsonObject(const JsonObject&) = delete;
  JsonObject& operator=(const JsonObject&) = delete;

  std::string& Key(const char* name) {
    if (!first_) out_ += ',';
    first_ = false;
    AppendJsonString(out_, name);
    out_ += ':';
    return out_;
  }
  void Num(const char* name, double v) { AppendJsonNumber(Key(name), v); }
  void Int(const char* name, std::uint64_t v) { Key(name) += std::to_string(v); }
  void Str(const char* name, const std::string& v) { AppendJsonString(Key(name), v); }
  void Bool(const char* name, bool v) { Key(name) += v ? "true" : "false"; }
  // Seconds since the epoch, or null when there is none.
  void Time(const char* name, std::int64_t ts_ns) {
    if (ts_ns <= 0) {
      Key(name) += "null";
    } else {
      AppendJsonNumber(Key(name), Seconds(ts_ns));
    }
  }

 private:
  std::string& out_;
  bool first_ = true;
};

class Metrics {
 public:
  // Starts a metric family; HELP and TYPE lines once.
  void Family(const char* name, const char* type, const char* help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
  }
  void Sample(const char* name, double v, const std::string& labels = {}) {
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += ' ';
    out_ += std::isnan(v) ? std::string("NaN") : fmt::format("{}", v);
    out_ += '\n';
  }
  void One(const char* name, const char* type, const char* help, double v) {
    Family(name, type, help);
    Sample(name, v);
  }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

std::string Label(const char* key, const std::string& value) {
  return std::string(key) + "=\"" + EscapeLabel(value) + "\"";
}

double D(std::uint64_t v) { return static_cast<double>(v); }

std::string Ago(double age_s) {
  if (age_s < 0) return "never";
  if (age_s < 120) return fmt::format("{:.1f} s ago", age_s);
  if (age_s < 7200) return fmt::format("{:.0f} min ago", age_s / 60);
  return fmt::format("{:.1f} h ago", age_s / 3600);
}

std::string Bytes(std::int64_t b) {
  if (b < 1024) return fmt::format("{} B", b);
  if (b < 1024 * 1024) return fmt::format("{:.1f} KiB", static_cast<double>(b) / 1024);
  return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1024.0 * 1024.0));
}

}  // namespace

std::string EscapeLabel(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string OverallState(const Snapshot& s) {
  if (!s.ready || !s.stalled.empty()) return "stalled";
  for (const auto& u : s.stats.upstreams) {
    if (u.state != "ok") return "degraded";
  }
  return "ok";
}

int HealthHttpStatus(const Snapshot& s) { return OverallState(s) == "stalled" ? 503 : 200; }

namespace {

// The members of /health, which /status.json repeats.
void HealthMembers(JsonObject& o, std::string& out, const Snapshot& s) {
  const PipelineStats& st = s.stats;
  {
    o.Str("status", OverallState(s));
    o.Str("gateway", s.gateway_id);
    o.Str("version", s.version);
    o.Num("uptime_s", s.uptime_s);
    o.Bool("ready", s.ready);
    std::string& stalled = o.Key("stalled");
    stalled += '[';
    for (std::size_t i = 0; i < s.stalled.size(); ++i) {
      if (i > 0) stalled += ',';
      AppendJsonString(stalled, s.stalled[i]);
    }
    stalled += ']';
    o.Num("readings_per_s", s.readings_per_s);
    o.Int("readings_in", st.readings_in);
    o.Int("events", st.events);
    {
      o.Key("queue");
      JsonObject q(out);
      q.Int("depth", st.queue_depth);
      q.Int("capacity", st.queue_capacity);
      q.Int("dropped", st.queue_dropped);
    }
    {
      o.Key("store");
      JsonObject q(out);
      q.Int("records", s.store.records);
      q.Int("bytes", static_cast<std::uint64_t>(std::max<std::int64_t>(0, s.store.bytes_on_disk)));
      q.Int("max_bytes", static_cast<std::uint64_t>(std::max<std::int64_t>(0, s.store.max_bytes)));
      if (s.store.oldest_ts_ns > 0 && !s.store.oldest_unsynced) {
        q.Num("oldest_age_s", AgeS(s, s.store.oldest_ts_ns));
      } else {
        q.Key("oldest_age_s") += "null";  // empty, or its time not known yet
      }
      if (s.store.oldest_unsynced) q.Str("oldest_clock", "unsynced");
      q.Int("commit_errors", st.store_errors);
      q.Int("dropped", s.store.drops.total() + st.store_given_up);
    }
    {
      o.Key("clock");
      JsonObject q(out);
      q.Bool("synced", st.clock.synced);
      q.Str("source", st.clock.source);
      q.Int("steps", st.clock.steps);
      q.Num("last_step_s", static_cast<double>(st.clock.last_step_ns) / 1e9);
      q.Int("corrected_records", st.clock_corrected);
      q.Int("uncorrected_spans", st.clock.uncorrected);
    }
    o.Key("drivers") += '[';
    for (std::size_t i = 0; i < st.drivers.size(); ++i) {
      const DriverState& d = st.drivers[i];
      if (i > 0) out += ',';
      JsonObject q(out);
      q.Str("name", d.name);
      q.Str("type", d.type);
      q.Str("state", d.state);
      q.Int("readings", d.readings);
      q.Int("errors", d.errors);
      q.Time("last_success", d.last_success_ns);
      q.Num("heartbeat_age_s", static_cast<double>(d.heartbeat_age_ms) / 1000.0);
    }
    out += ']';
    o.Key("upstreams") += '[';
    for (std::size_t i = 0; i < st.upstreams.size(); ++i) {
      const UpstreamState& u = st.upstreams[i];
      if (i > 0) out += ',';
      JsonObject q(out);
      q.Str("name", u.name);
      q.Str("state", u.state);
      q.Int("sent", u.sent);
      q.Int("errors", u.errors);
      q.Int("rejected", u.rejected);
      q.Int("reconnects", u.reconnects);
      q.Int("lag", u.lag);
      q.Time("last_success", u.last_success_ns);
      q.Str("last_error", u.last_error);
      // By name when the names are there: a reload between Stats() and StoreContents() may
      // have changed the list of upstreams.
      std::size_t at = i;
      const auto& names = s.store.pending_names;
      if (!names.empty()) {
        at =
            static_cast<std::size_t>(std::find(names.begin(), names.end(), u.name) - names.begin());
      }
      const std::int64_t pending =
          at < s.store.oldest_pending_ts_ns.size() ? s.store.oldest_pending_ts_ns[at] : 0;
      if (pending > 0) {
        q.Num("oldest_pending_age_s", AgeS(s, pending));
      } else {
        q.Key("oldest_pending_age_s") += "null";
      }
    }
    out += ']';
  }
}

void LiveMembers(JsonObject& o, std::string& out, const Snapshot& s, const LiveSnapshot& live) {
  o.Key("devices") += '[';
  for (std::size_t i = 0; i < live.devices.size(); ++i) {
    const LiveDevice& d = live.devices[i];
    if (i > 0) out += ',';
    JsonObject dev(out);
    dev.Str("name", d.name);
    dev.Key("series") += '[';
    for (std::size_t j = 0; j < d.series.size(); ++j) {
      const LiveSeries& ls = d.series[j];
      if (j > 0) out += ',';
      JsonObject q(out);
      q.Str("name", ls.name);
      q.Num("value", ls.value);
      if (!ls.text.empty()) q.Str("text", ls.text);
      q.Str("unit", ls.unit);
      q.Str("quality", std::string(QualityName(ls.quality)));
      q.Time("ts", ls.ts_ns);
      q.Num("age_s", AgeS(s, ls.ts_ns));
      q.Key("spark");
      JsonObject sp(out);
      sp.Num("step_s", live.spark_step_s);
      sp.Time("end", ls.spark_end_ns);
      std::string& values = sp.Key("values");
      values += '[';
      for (std::size_t k = 0; k < ls.spark.size(); ++k) {
        if (k > 0) values += ',';
        if (std::isfinite(ls.spark[k])) {
          fmt::format_to(std::back_inserter(values), "{}", ls.spark[k]);  // a float's digits
        } else {
          values += "null";  // a step without a reading
        }
      }
      values += ']';
    }
    out += ']';
  }
  out += ']';
  o.Key("alarms") += '[';
  for (std::size_t i = 0; i < live.alarms.size(); ++i) {
    const LiveAlarm& a = live.alarms[i];
    if (i > 0) out += ',';
    JsonObject q(out);
    q.Str("rule", a.rule);
    q.Str("device", a.device);
    q.Str("series", a.series);
    q.Str("severity", a.severity);
    q.Time("since", a.since_ns);
    q.Num("value", a.value);
    q.Str("message", a.message);
  }
  out += ']';
  o.Key("anomalies") += '[';
  for (std::size_t i = 0; i < live.anomalies.size(); ++i) {
    const LiveAnomaly& a = live.anomalies[i];
    if (i > 0) out += ',';
    JsonObject q(out);
    q.Time("ts", a.ts_ns);
    q.Str("rule", a.rule);
    q.Str("device", a.device);
    q.Str("series", a.series);
    q.Num("score", a.score);
    q.Num("value", a.value);
    q.Str("message", a.message);
  }
  out += ']';
  o.Key("assets") += '[';
  for (std::size_t i = 0; i < live.assets.size(); ++i) {
    const LiveAsset& a = live.assets[i];
    if (i > 0) out += ',';
    JsonObject q(out);
    q.Str("device", a.device);
    q.Str("rule", a.rule);
    q.Num("health", a.health);
    q.Num("rul", a.rul);
    q.Num("trend", a.trend);
    q.Time("ts", a.ts_ns);
  }
  out += ']';
  o.Key("live");
  JsonObject q(out);
  q.Int("series", live.series);
  q.Int("series_limit", live.series_limit);
  q.Int("series_dropped", live.series_dropped);
}

}  // namespace

std::string RenderHealthJson(const Snapshot& s) {
  std::string out;
  {
    JsonObject o(out);
    HealthMembers(o, out, s);
  }
  out += '\n';
  return out;
}

std::string RenderStatusJson(const Snapshot& s) {
  const PipelineStats& st = s.stats;
  std::string out;
  {
    JsonObject o(out);
    HealthMembers(o, out, s);
    o.Time("now", s.now_ns);
    o.Str("config", s.config_path);
    o.Int("rss_bytes", static_cast<std::uint64_t>(std::max<std::int64_t>(0, s.rss_bytes)));
    {
      o.Key("drops");
      JsonObject q(out);
      std::uint64_t rejected = 0;
      for (const auto& u : st.upstreams) rejected += u.rejected;
      q.Int("queue_overflow", st.queue_dropped);
      q.Int("store_max_age", s.store.drops.age);
      q.Int("store_full", s.store.drops.size_readings + s.store.drops.size_events);
      q.Int("store_rejected", s.store.drops.rejected);
      q.Int("store_shutdown", st.store_given_up);
      q.Int("upstream_rejected", rejected);
    }
    LiveMembers(o, out, s, s.live ? *s.live : LiveSnapshot());
  }
  out += '\n';
  return out;
}

std::string RenderMetrics(const Snapshot& s) {
  const PipelineStats& st = s.stats;
  Metrics m;
  m.Family("processnow_build_info", "gauge", "Version of the running processnow.");
  m.Sample("processnow_build_info", 1,
           Label("version", s.version) + "," + Label("gateway", s.gateway_id));
  m.One("processnow_uptime_seconds", "gauge", "Seconds since the daemon started.", s.uptime_s);
  m.One("processnow_ready", "gauge", "1 once config, store and drivers are up.", s.ready ? 1 : 0);
  m.One("processnow_threads_stalled", "gauge",
        "Pipeline threads without progress for longer than health.stall_timeout_ms.",
        D(s.stalled.size()));

  m.Family("processnow_driver_readings_total", "counter", "Readings a driver delivered.");
  for (const auto& d : st.drivers) {
    m.Sample("processnow_driver_readings_total", D(d.readings), Label("driver", d.name));
  }
  m.Family("processnow_driver_errors_total", "counter",
           "Failed polls, bad lines or bad payloads of a driver.");
  for (const auto& d : st.drivers) {
    m.Sample("processnow_driver_errors_total", D(d.errors), Label("driver", d.name));
  }
  m.Family("processnow_driver_last_success_timestamp_seconds", "gauge",
           "When a driver last delivered readings (0: never).");
  for (const auto& d : st.drivers) {
    m.Sample("processnow_driver_last_success_timestamp_seconds", Seconds(d.last_success_ns),
             Label("driver", d.name));
  }
  m.Family("processnow_driver_heartbeat_age_seconds", "gauge",
           "Time since a driver thread last showed progress.");
  for (const auto& d : st.drivers) {
    m.Sample("processnow_driver_heartbeat_age_seconds",
             static_cast<double>(d.heartbeat_age_ms) / 1000.0, Label("driver", d.name));
  }

  m.One("processnow_readings_in_total", "counter", "Readings taken from the queue by the rules.",
        D(st.readings_in));
  m.One("processnow_readings_suppressed_total", "counter",
        "Readings not forwarded by report-on-change rules.", D(st.readings_suppressed));
  m.Family("processnow_dropped_total", "counter", "Records or readings dropped, by reason.");
  m.Sample("processnow_dropped_total", D(st.queue_dropped), Label("reason", "queue_overflow"));
  m.Sample("processnow_dropped_total", D(s.store.drops.age), Label("reason", "store_max_age"));
  m.Sample("processnow_dropped_total", D(s.store.drops.size_readings + s.store.drops.size_events),
           Label("reason", "store_full"));
  m.Sample("processnow_dropped_total", D(s.store.drops.rejected),
           Label("reason", "store_rejected"));
  m.Sample("processnow_dropped_total", D(st.store_given_up), Label("reason", "store_shutdown"));
  std::uint64_t rejected = 0;
  for (const auto& u : st.upstreams) rejected += u.rejected;
  m.Sample("processnow_dropped_total", D(rejected), Label("reason", "upstream_rejected"));

  m.One("processnow_clock_synchronized", "gauge",
        "1 when the sync source ([clock] sync_source) says the system clock is synchronised.",
        st.clock.synced ? 1 : 0);
  m.One("processnow_clock_steps_total", "counter", "Jumps of the wall clock seen since the start.",
        D(st.clock.steps));
  m.One("processnow_clock_corrected_records_total", "counter",
        "Records taken while the clock was unsynchronised whose time was corrected.",
        D(st.clock_corrected));

  m.One("processnow_queue_depth", "gauge", "Readings waiting in the queue.", D(st.queue_depth));
  m.One("processnow_queue_capacity", "gauge", "Readings the queue holds at most.",
        D(st.queue_capacity));

  m.Family("processnow_rule_evaluations_total", "counter",
           "Rule engine evaluations: one per reading, one per periodic tick.");
  m.Sample("processnow_rule_evaluations_total", D(st.readings_in), Label("trigger", "reading"));
  m.Sample("processnow_rule_evaluations_total", D(st.rule_ticks), Label("trigger", "tick"));
  m.One("processnow_events_total", "counter", "Events the rules produced (all kinds).",
        D(st.events));
  m.One("processnow_anomalies_total", "counter", "Anomaly events.", D(st.anomalies));
  m.One("processnow_alarms_total", "counter", "Alarms raised.", D(st.alarms));
  m.One("processnow_alarms_cleared_total", "counter", "Alarms cleared.", D(st.clears));

  m.One("processnow_store_records_committed_total", "counter", "Records committed to the store.",
        D(st.records_stored));
  m.One("processnow_store_commit_errors_total", "counter", "Failed store commits (retried).",
        D(st.store_errors));
  m.One("processnow_store_records", "gauge", "Records held in the store.", D(s.store.records));
  m.One("processnow_store_bytes", "gauge", "Store database and WAL size on disk.",
        static_cast<double>(s.store.bytes_on_disk));
  m.One("processnow_store_max_bytes", "gauge", "Configured store size bound (0: unbounded).",
        static_cast<double>(s.store.max_bytes));
  m.One("processnow_store_oldest_age_seconds", "gauge",
        "Age of the oldest record held, by its reading time (0 when empty, NaN while its time "
        "comes from a clock not yet synchronised).",
        s.store.oldest_unsynced    ? std::nan("")
        : s.store.oldest_ts_ns > 0 ? AgeS(s, s.store.oldest_ts_ns)
                                   : 0);
  m.One("processnow_store_last_seq", "gauge", "Highest sequence number assigned.",
        D(st.store_last_seq));

  m.Family("processnow_upstream_up", "gauge", "1 when the upstream is connected and sending.");
  for (const auto& u : st.upstreams) {
    m.Sample("processnow_upstream_up", u.state == "ok" ? 1 : 0, Label("upstream", u.name));
  }
  m.Family("processnow_upstream_sent_total", "counter", "Records delivered to an upstream.");
  for (const auto& u : st.upstreams) {
    m.Sample("processnow_upstream_sent_total", D(u.sent), Label("upstream", u.name));
  }
  m.Family("processnow_upstream_send_errors_total", "counter",
           "Failed sends and failed starts (connecting), each retried.");
  for (const auto& u : st.upstreams) {
    m.Sample("processnow_upstream_send_errors_total", D(u.errors), Label("upstream", u.name));
  }
  m.Family("processnow_upstream_reconnects_total", "counter",
           "Times an upstream went from ok to retrying.");
  for (const auto& u : st.upstreams) {
    m.Sample("processnow_upstream_reconnects_total", D(u.reconnects), Label("upstream", u.name));
  }
  m.Family("processnow_upstream_lag_records", "gauge",
           "Records in the store not yet acknowledged by an upstream.");
  for (const auto& u : st.upstreams) {
    m.Sample("processnow_upstream_lag_records", D(u.lag), Label("upstream", u.name));
  }
  m.Family("processnow_upstream_last_success_timestamp_seconds", "gauge",
           "When an upstream last acknowledged records (0: never).");
  for (const auto& u : st.upstreams) {
    m.Sample("processnow_upstream_last_success_timestamp_seconds", Seconds(u.last_success_ns),
             Label("upstream", u.name));
  }
  return std::move(m.str());
}

std::string RenderStatusText(const Snapshot& s) {
  const PipelineStats& st = s.stats;
  std::string out;
  auto line = [&out](const std::string& l) {
    out += l;
    out += '\n';
  };
  line(fmt::format("processnow {}, gateway {}: {} (up {:.0f} s)", s.version, s.gateway_id,
                   OverallState(s), s.uptime_s));
  if (!s.stalled.empty()) {
    std::string names;
    for (const auto& n : s.stalled) names += (names.empty() ? "" : ", ") + n;
    line("STALLED threads: " + names);
  }
  line(
      fmt::format("readings: {:.0f}/s, {} in, {} suppressed; events: {} ({} anomalies, {} "
                  "alarms, {} cleared)",
                  s.readings_per_s, st.readings_in, st.readings_suppressed, st.events, st.anomalies,
                  st.alarms, st.clears));
  std::uint64_t rejected = 0;
  for (const auto& u : st.upstreams) rejected += u.rejected;
  line(
      fmt::format("queue: {} of {}; dropped: {} queue overflow, {} store bounds, {} upstream "
                  "rejected",
                  st.queue_depth, st.queue_capacity, st.queue_dropped,
                  s.store.drops.total() + st.store_given_up, rejected));
  line(fmt::format(
      "clock: {} ({}), {} jumps{}, {} records corrected{}",
      st.clock.synced ? "synchronised" : "NOT synchronised", st.clock.source, st.clock.steps,
      st.clock.steps == 0
          ? std::string()
          : fmt::format(" (last {:+.3f} s)", static_cast<double>(st.clock.last_step_ns) / 1e9),
      st.clock_corrected,
      st.clock.uncorrected == 0 ? std::string()
                                : fmt::format(", {} spans left unsynced", st.clock.uncorrected)));
  line(fmt::format("store: {} records, {}, oldest {}", s.store.records,
                   Bytes(s.store.bytes_on_disk),
                   s.store.records == 0      ? std::string("-")
                   : s.store.oldest_unsynced ? std::string("unknown (clock not synchronised)")
                                             : Ago(AgeS(s, s.store.oldest_ts_ns))));
  line("drivers:");
  if (st.drivers.empty()) line("  none");
  for (const auto& d : st.drivers) {
    line(fmt::format("  {} ({}): {}, {} readings, {} errors, last success {}", d.name, d.type,
                     d.state, d.readings, d.errors, Ago(AgeS(s, d.last_success_ns))));
  }
  line("upstreams:");
  if (st.upstreams.empty()) line("  none");
  for (const auto& u : st.upstreams) {
    line(fmt::format("  {}: {}, {} sent, lag {}, {} errors, {} reconnects, last success {}{}",
                     u.name, u.state, u.sent, u.lag, u.errors, u.reconnects,
                     Ago(AgeS(s, u.last_success_ns)),
                     u.last_error.empty() ? std::string() : "; last error: " + u.last_error));
  }
  return out;
}

}  // namespace pn::health
