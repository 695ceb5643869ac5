#include "gateway/service/commands.h"

#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "gateway/config/config_diff.h"
#include "gateway/config/gateway_config.h"
#include "gateway/health/health_server.h"
#include "gateway/pipeline/pipeline.h"
#include "gateway/service/notify.h"
#include "gateway/service/signals.h"
#include "rules/engine.h"

#ifndef PN_VERSION
#define PN_VERSION "0.0.0"
#endif

namespace pn::service {

namespace {

using std::chrono::milliseconds;

// Under systemd with stderr going to the journal, logs go to journald directly with their
// priority (info -> LOG_INFO, warn -> LOG_WARNING, ...); otherwise to stderr with a timestamp.
// Set up before the config is read, so what loading logs (a driver checking its settings) goes
// the same way; the config's log level is applied once it is known. Returns whether the logs go
// to the journal.
bool SetupLogging() {
  const bool to_journal = StderrIsJournal();
  if (to_journal) {
    auto logger = spdlog::systemd_logger_mt("processnow", "processnow");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%v");  // journald stamps time, priority and identifier itself
  } else {
    auto logger = spdlog::stderr_color_mt("processnow");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  spdlog::set_level(spdlog::level::info);
  return to_journal;
}

// Config errors, one FILE:LINE:COL line each: plain on stderr for a person, or at error
// priority in the journal (as text on the journal's stderr stream they would be info, and
// `journalctl -p err` would not say why the service exited 78).
void ReportConfigErrors(const std::string& text, bool to_journal) {
  if (!to_journal) {
    std::fputs(text.c_str(), stderr);
    return;
  }
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) spdlog::error("{}", line);
  }
}

// Loads the config and the rule files it names; reports every error and returns nullopt if any.
struct Loaded {
  config::GatewayConfig cfg;
  std::unique_ptr<rules::Engine> rules;
};

// `text`: when not null, receives the file's text the config was loaded from (a reload compares
// the new file with it).
std::optional<Loaded> LoadAll(const std::string& path, bool to_journal = false,
                              std::string* text = nullptr) {
  tl::expected<config::GatewayConfig, config::ErrorList> cfg;
  std::ifstream in(path, std::ios::binary);
  if (text != nullptr && in) {
    std::ostringstream ss;
    ss << in.rdbuf();
    *text = ss.str();
    std::string base = std::filesystem::path(path).parent_path().string();
    cfg = config::LoadString(*text, path, base.empty() ? "." : base, true);
  } else {
    cfg = config::Load(path);  // its messages for a missing or unreadable file
  }
  if (!cfg) {
    ReportConfigErrors(cfg.error().WarningsToString() + cfg.error().ToString(), to_journal);
    return std::nullopt;
  }
  if (!cfg->warnings.empty()) {
    if (to_journal) {
      std::istringstream lines(cfg->warnings);
      for (std::string line; std::getline(lines, line);) spdlog::warn("{}", line);
    } else {
      std::fputs(cfg->warnings.c_str(), stderr);
    }
  }
  config::ErrorList errors;
  auto engine = rules::Engine::LoadFiles(cfg->rule_files, errors);
  if (!errors.empty() || engine == nullptr) {
    ReportConfigErrors(errors.ToString(), to_journal);
    return std::nullopt;
  }
  return Loaded{std::move(*cfg), std::move(engine)};
}

// One line for systemd's STATUS= (shown by `systemctl status`).
std::string StatusLine(const PipelineStats& s, double rate) {
  std::string ups;
  for (const auto& u : s.upstreams) {
    if (!ups.empty()) ups += ", ";
    ups += u.name + " " + u.state;
    if (u.lag > 0) ups += " (lag " + std::to_string(u.lag) + ")";
  }
  return fmt::format("{:.0f} readings/s, queue {}, upstreams: {}", rate, s.queue_depth,
                     ups.empty() ? "none" : ups);
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
  return out;
}

void LogStats(const PipelineStats& s, const PipelineStats& prev, double seconds) {
  double rate = seconds > 0 ? static_cast<double>(s.readings_in - prev.readings_in) / seconds : 0;
  std::string ups;
  for (const auto& u : s.upstreams) {
    if (!ups.empty()) ups += ", ";
    ups += u.name + " " + u.state + " (sent " + std::to_string(u.sent) + ")";
  }
  spdlog::info("{:.0f} readings/s; {} readings, {} events, {} stored, queue {}{}; upstreams: {}",
               rate, s.readings_in, s.events, s.records_stored, s.queue_depth,
               s.queue_dropped ? ", dropped " + std::to_string(s.queue_dropped) : std::string(),
               ups.empty() ? "none" : ups);
}

// The bearer token of [health] token_file: the file's text without surrounding whitespace.
Result<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Err(
        Status::Config("health.token_file: cannot read \"" + path + "\": " + std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string t = text.str();
  const auto first = t.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return Err(Status::Config("health.token_file: \"" + path + "\" is empty"));
  }
  t = t.substr(first, t.find_last_not_of(" \t\r\n") - first + 1);
  if (t.find_first_of(" \t\r\n") != std::string::npos) {
    return Err(Status::Config("health.token_file: \"" + path + "\" holds more than one word"));
  }
  return t;
}

// Resident memory of this process (/proc/self/statm); 0 when unknown.
std::int64_t ResidentBytes() {
  std::ifstream in("/proc/self/statm");
  long long size = 0;
  long long resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<std::int64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

int Check(const std::string& config_path) {
  auto loaded = LoadAll(config_path);
  if (!loaded) return kExitConfig;
  std::printf("%s: OK (%zu drivers, %zu upstreams, %zu rule files, %zu rules)\n",
              config_path.c_str(), loaded->cfg.drivers.size(), loaded->cfg.upstreams.size(),
              loaded->cfg.rule_files.size(), loaded->rules->rule_count());
  return kExitOk;
}

int ReferenceConfig() {
  std::fputs(config::ReferenceConfig().c_str(), stdout);
  return kExitOk;
}

int Version() {
  std::printf("processnow %s\n", PN_VERSION);
  return kExitOk;
}

namespace {

// The running daemon: what `run` starts and what a reload (SIGHUP) may change. Owned and
// changed by the main thread only; the health endpoint's threads see it through the snapshot
// function, which reads only the pipeline (thread-safe), atomics and values fixed at its start.
// Members are destroyed in reverse order: the endpoint before the pipeline, the pipeline (its
// threads call the live view) before the live view.
struct Daemon {
  std::string config_path;
  std::string config_file;  // absolute, for the status page
  bool to_journal = false;
  std::chrono::steady_clock::time_point started_at;
  config::GatewayConfig cfg;  // the running configuration (document released)
  std::string text;           // the file text it was loaded from; a reload compares with it
  std::string token;          // [health] bearer token; "": none
  std::atomic<bool> ready{false};
  std::atomic<double> rate{0};
  std::atomic<std::int64_t> stall_ms{60000};
  std::unique_ptr<health::LiveView> live;
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<health::HealthServer> health_server;

  // Creates the status page's live view (once; it then stays installed for good, so that the
  // rules thread never calls a destroyed one) when the endpoint is on and wants one.
  void EnsureLiveView(const config::HealthSettings& h) {
    if (live || !h.enabled || h.status_series <= 0) return;
    health::LiveView::Options lo;
    lo.series_limit = static_cast<std::size_t>(h.status_series);
    live = std::make_unique<health::LiveView>(lo);
    if (pipeline) pipeline->SetObserver(live.get());
  }

  // Starts the endpoint for `h` with `tok`. REQUIRES: none running, h.enabled.
  Status StartHealth(const config::HealthSettings& h, const std::string& tok) {
    EnsureLiveView(h);
    const Pipeline* pl = pipeline.get();
    health::LiveView* lv = live.get();
    auto snapshot = [this, pl, lv, id = cfg.gateway.id] {
      health::Snapshot snap;
      snap.gateway_id = id;
      snap.version = PN_VERSION;
      snap.now_ns = SystemClock::Instance().NowNs();
      snap.uptime_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at).count();
      snap.ready = ready.load();
      snap.readings_per_s = rate.load();
      snap.stats = pl->Stats();
      snap.store = pl->StoreContents();
      snap.stalled = pl->StalledThreads(milliseconds(stall_ms.load()));
      snap.config_path = config_file;
      snap.rss_bytes = ResidentBytes();
      if (lv != nullptr) snap.live = lv->Take();
      return snap;
    };
    auto server = health::HealthServer::Start(h.listen, static_cast<int>(h.port), snapshot, tok);
    if (!server) return server.error();
    health_server = std::move(*server);
    return Status::Ok();
  }

  void Reload();
};

const char* KindWord(config::InstanceChangeKind k) {
  switch (k) {
    case config::InstanceChangeKind::kAdded:
      return "added";
    case config::InstanceChangeKind::kRemoved:
      return "removed";
    case config::InstanceChangeKind::kChanged:
      return "changed";
    case config::InstanceChangeKind::kUnchanged:
      break;
  }
  return "unchanged";
}

// SIGHUP: loads and checks the whole new configuration exactly as a start would (the file, the
// rule files, every new or changed driver and upstream built by its factory, the token file),
// then applies what changed: drivers and upstreams per instance, rules, log level and the other
// live settings, the health endpoint. Any error, or a change to a setting that cannot change
// while running (config_diff.h), and nothing changes: the running configuration stays whole
// and one `reload:` error line says why.
void Daemon::Reload() {
  auto refuse = [](const std::string& why, std::string details = {}) {
    while (!details.empty() && details.back() == '\n') details.pop_back();
    if (details.empty()) {
      spdlog::error("reload: {}; the running configuration stays", why);
    } else {
      spdlog::error("reload: {}; the running configuration stays:\n{}", why, details);
    }
  };
  // 1. The file, as a start reads it.
  std::string next_text;
  {
    std::ifstream in(config_path, std::ios::binary);
    if (!in) {
      refuse("cannot read " + config_path + ": " + std::strerror(errno));
      return;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    next_text = ss.str();
  }
  std::string base = std::filesystem::path(config_path).parent_path().string();
  if (base.empty()) base = ".";
  auto next = config::LoadString(next_text, config_path, base, true);
  if (!next) {
    refuse("the configuration has errors", next.error().ToString());
    return;
  }
  if (!next->warnings.empty()) {  // deprecated key names, as a start logs them
    std::istringstream lines(next->warnings);
    for (std::string line; std::getline(lines, line);) spdlog::warn("reload: {}", line);
  }
  config::ErrorList rule_errors;
  auto engine = rules::Engine::LoadFiles(next->rule_files, rule_errors);
  if (!rule_errors.empty() || engine == nullptr) {
    refuse("rule files have errors", rule_errors.ToString());
    return;
  }
  // 2. What changed, against the text the running configuration came from.
  auto running = config::LoadString(text, config_path, base, false);
  if (!running) {
    refuse("cannot re-read the running configuration to compare", running.error().ToString());
    return;
  }
  const config::ReloadPlan plan = config::PlanReload(*running, *next);
  if (!plan.refused.empty()) {
    std::string why;
    for (const auto& r : plan.refused) why += (why.empty() ? "" : "; ") + r;
    refuse(why);
    return;
  }
  // 3. Build every new or changed instance before anything stops.
  Reconfiguration rc;
  rc.stall_timeout_ms = next->health.stall_timeout_ms;
  rc.store_batch_records = next->store.batch_records;
  rc.store_batch_ms = next->store.batch_ms;
  for (const auto& d : next->drivers) rc.driver_order.push_back(d.name);
  for (const auto& u : next->upstreams) rc.upstream_order.push_back(u.name);
  for (const auto& c : plan.drivers) {
    if (c.kind == config::InstanceChangeKind::kUnchanged) continue;
    if (c.kind != config::InstanceChangeKind::kAdded) rc.stop_drivers.push_back(c.name);
    if (c.kind == config::InstanceChangeKind::kRemoved) continue;
    const auto& inst = *std::find_if(next->drivers.begin(), next->drivers.end(),
                                     [&](const auto& d) { return d.name == c.name; });
    auto built = BuildDriver(inst, SystemClock::Instance());
    if (!built) {
      refuse(built.error().message());
      return;
    }
    rc.start_drivers.push_back(std::move(*built));
  }
  for (const auto& c : plan.upstreams) {
    if (c.kind == config::InstanceChangeKind::kUnchanged) continue;
    if (c.kind != config::InstanceChangeKind::kAdded) rc.stop_upstreams.push_back(c.name);
    if (c.kind == config::InstanceChangeKind::kRemoved) continue;
    const auto& inst = *std::find_if(next->upstreams.begin(), next->upstreams.end(),
                                     [&](const auto& u) { return u.name == c.name; });
    auto built = BuildUpstream(inst, next->gateway.id, SystemClock::Instance());
    if (!built) {
      refuse(built.error().message());
      return;
    }
    rc.start_upstreams.push_back(std::move(*built));
  }
  std::string next_token;
  if (next->health.enabled && !next->health.token_file.empty()) {
    auto t = ReadToken(next->health.token_file);
    if (!t) {
      refuse(t.error().message());
      return;
    }
    next_token = std::move(*t);
  }
  // 4. The health endpoint first: the one step that can be undone if the next one fails.
  const bool restart_health = plan.restart_health || (next->health.enabled && next_token != token);
  if (restart_health) {
    if (health_server) health_server->Stop();
    health_server.reset();
    Status hs = next->health.enabled ? StartHealth(next->health, next_token) : Status::Ok();
    if (!hs.ok()) {
      if (cfg.health.enabled) {
        Status back = StartHealth(cfg.health, token);
        if (!back.ok()) {
          spdlog::error("reload: the health endpoint cannot be restarted on {}:{} either: {}",
                        cfg.health.listen, cfg.health.port, back.ToString());
        }
      }
      refuse("the health endpoint cannot start on " + next->health.listen + ":" +
             std::to_string(next->health.port) + ": " + hs.ToString());
      return;
    }
  }
  // 5. The log level first, so that what the reload does is logged at it, then drivers and
  // upstreams.
  const spdlog::level::level_enum old_level = spdlog::get_level();
  spdlog::set_level(spdlog::level::from_str(next->gateway.log_level));
  for (const auto& l : plan.live) spdlog::info("reload: {}", l);
  for (const auto& c : plan.drivers) {
    if (c.kind == config::InstanceChangeKind::kUnchanged) continue;
    spdlog::info("reload: driver '{}' {}{}; {}", c.name, KindWord(c.kind),
                 c.details.empty() ? "" : " (" + c.details + ")",
                 c.kind == config::InstanceChangeKind::kAdded     ? "starting"
                 : c.kind == config::InstanceChangeKind::kRemoved ? "stopping"
                                                                  : "restarting");
  }
  for (const auto& c : plan.upstreams) {
    if (c.kind == config::InstanceChangeKind::kUnchanged) continue;
    spdlog::info("reload: upstream '{}' {}{}; {}", c.name, KindWord(c.kind),
                 c.details.empty() ? "" : " (" + c.details + ")",
                 c.kind == config::InstanceChangeKind::kAdded ? "starting with what the store holds"
                 : c.kind == config::InstanceChangeKind::kRemoved
                     ? "stopping; its cursor is removed"
                     : "restarting from its cursor");
  }
  Status applied = pipeline->Reconfigure(std::move(rc));
  if (!applied.ok()) {
    spdlog::set_level(old_level);
    if (restart_health) {
      if (health_server) health_server->Stop();
      health_server.reset();
      if (cfg.health.enabled) (void)StartHealth(cfg.health, token);
    }
    refuse(applied.ToString());
    return;
  }
  // 6. Rules and the other live settings (shutdown_timeout_ms is read from cfg at the stop).
  pipeline->ReplaceRules(std::move(engine));
  stall_ms = next->health.stall_timeout_ms;
  std::size_t changed = 0;
  for (const auto& c : plan.drivers) changed += c.kind != config::InstanceChangeKind::kUnchanged;
  for (const auto& c : plan.upstreams) {
    changed += c.kind != config::InstanceChangeKind::kUnchanged;
  }
  spdlog::info(
      "reload: done: {} drivers, {} upstreams ({} added, removed or restarted), "
      "{} rule files",
      next->drivers.size(), next->upstreams.size(), changed, next->rule_files.size());
  token = std::move(next_token);
  text = std::move(next_text);
  cfg = std::move(*next);
  cfg.ReleaseDocument();
}

}  // namespace

int Run(const RunOptions& options) {
  InstallSignalHandlers();
  const SystemdNotifier notifier;
  Daemon d;
  d.started_at = std::chrono::steady_clock::now();
  d.config_path = options.config_path;
  notifier.Status("loading configuration");
  d.to_journal = SetupLogging();
  auto loaded = LoadAll(options.config_path, d.to_journal, &d.text);
  if (!loaded) {
    notifier.Status("configuration error; see the log");
    return kExitConfig;
  }
  spdlog::set_level(spdlog::level::from_str(loaded->cfg.gateway.log_level));
  d.cfg = std::move(loaded->cfg);
  const config::GatewayConfig& cfg = d.cfg;  // replaced by a reload: read it afresh each time
  spdlog::info("processnow {} starting: gateway {}, config {}, {} rules", PN_VERSION,
               cfg.gateway.id, options.config_path, loaded->rules->rule_count());

  if (cfg.health.enabled && !cfg.health.token_file.empty()) {
    auto t = ReadToken(cfg.health.token_file);
    if (!t) {
      spdlog::error("cannot start: {}", t.error().message());
      notifier.Status("configuration error; see the log");
      return kExitConfig;
    }
    d.token = std::move(*t);
  }
  if (Status s = config::CreateDataDir(cfg.gateway.data_dir); !s.ok()) {
    spdlog::error("cannot start: {}", s.message());
    notifier.Status("configuration error; see the log");
    return kExitConfig;
  }
  auto pipeline = Pipeline::Create(cfg, std::move(loaded->rules), SystemClock::Instance());
  if (!pipeline) {
    spdlog::error("cannot start: {}", pipeline.error().ToString());
    notifier.Status("cannot start: " + pipeline.error().ToString());
    return pipeline.error().code() == Code::kConfig ? kExitConfig : kExitIoError;
  }
  d.pipeline = std::move(*pipeline);
  // The status page's live view: only with the endpoint on (it costs memory per series).
  d.EnsureLiveView(cfg.health);
  std::error_code path_error;
  d.config_file =
      std::filesystem::absolute(options.config_path, path_error).lexically_normal().string();
  // Drivers and upstreams hold their own settings now; the parsed tree is not needed again.
  d.cfg.ReleaseDocument();
  Status st = d.pipeline->Start();
  if (!st.ok()) {
    spdlog::error("cannot start: {}", st.ToString());
    return kExitFailure;
  }
  const Pipeline& pl = *d.pipeline;
  d.stall_ms = cfg.health.stall_timeout_ms;

  if (cfg.health.enabled) {
    Status hs = d.StartHealth(cfg.health, d.token);
    if (!hs.ok()) {
      spdlog::error("cannot start: {}", hs.ToString());
      notifier.Status("cannot start: " + hs.ToString());
      (void)d.pipeline->Stop(milliseconds(cfg.gateway.shutdown_timeout_ms));
      return kExitFailure;
    }
  }

  // Config, store, drivers (threads started) and the endpoint are up.
  d.ready = true;
  // Start-up (config parsing, rule compilation) leaves free holes in the heap that glibc keeps;
  // hand their pages back so idle memory is what the pipeline uses (bench/deploy).
  malloc_trim(0);
  notifier.Ready();
  notifier.Status("started; 0 readings/s");
  const auto watchdog_every =
      std::chrono::duration_cast<milliseconds>(notifier.watchdog_interval()) / 2;
  if (watchdog_every.count() > 0) {
    spdlog::info("systemd watchdog: pinging every {} ms while no thread stalls for {} ms",
                 watchdog_every.count(), d.stall_ms.load());
  }
  // STATUS= lines: at the stats interval, but at least every 5 s.
  const auto status_every = std::min(milliseconds(options.stats_interval_ms), milliseconds(5000));

  auto now = std::chrono::steady_clock::now();
  auto last_stats_at = now;
  auto last_status_at = now;
  auto last_ping_at = now - watchdog_every;
  PipelineStats prev = pl.Stats();
  PipelineStats status_prev = prev;
  std::string stalled_before;
  for (;;) {
    // Sleep until a signal or the next thing due: a watchdog ping, a STATUS= line, a stats log
    // line (or, with exit_when_drained, the next look at the drivers). An idle gateway wakes
    // here a few times a minute, not 20 times a second.
    {
      const auto at = std::chrono::steady_clock::now();
      auto next = last_status_at + status_every;
      next = std::min(next, last_stats_at + milliseconds(options.stats_interval_ms));
      if (watchdog_every.count() > 0) next = std::min(next, last_ping_at + watchdog_every);
      auto wait = std::chrono::duration_cast<milliseconds>(next - at) + milliseconds(1);
      wait = std::clamp(wait, milliseconds(0), milliseconds(options.exit_when_drained ? 50 : 5000));
      WaitForSignal(wait);
    }
    if (TakeStopRequest()) {
      spdlog::info("stop requested; shutting down (deadline {} ms)",
                   cfg.gateway.shutdown_timeout_ms);
      break;
    }
    if (TakeReloadRequest()) {
      notifier.Reloading();
      spdlog::info("reload: SIGHUP; reading {}", options.config_path);
      d.Reload();
      notifier.Ready();
    }
    if (options.exit_when_drained && pl.DriversFinished()) {
      // Let the queue and the store settle, then stop once everything was forwarded.
      std::this_thread::sleep_for(milliseconds(cfg.store.batch_ms + 50));
      spdlog::info("drivers finished; draining and exiting");
      break;
    }
    now = std::chrono::steady_clock::now();
    const auto stall = milliseconds(d.stall_ms.load());
    if (watchdog_every.count() > 0 && now - last_ping_at >= watchdog_every) {
      // WATCHDOG=1 only while every pipeline thread makes progress: a stuck thread stops the
      // pings and systemd restarts the service after WatchdogSec.
      std::vector<std::string> stalled = pl.StalledThreads(stall);
      std::string names = Join(stalled);
      if (stalled.empty()) {
        notifier.Watchdog();
        last_ping_at = now;
        if (!stalled_before.empty()) spdlog::warn("watchdog: all threads make progress again");
      } else if (names != stalled_before) {
        spdlog::error("watchdog: no progress for {} ms from: {}; withholding watchdog pings",
                      stall.count(), names);
        notifier.Status("STALLED: " + names);
      }
      stalled_before = names;
    }
    if (now - last_status_at >= status_every) {
      PipelineStats s = pl.Stats();
      double secs = std::chrono::duration<double>(now - last_status_at).count();
      double r = static_cast<double>(s.readings_in - status_prev.readings_in) / secs;
      d.rate = r;
      if (stalled_before.empty()) notifier.Status(StatusLine(s, r));
      status_prev = s;
      last_status_at = now;
    }
    double secs = std::chrono::duration<double>(now - last_stats_at).count();
    if (secs * 1000 >= static_cast<double>(options.stats_interval_ms)) {
      PipelineStats s = pl.Stats();
      LogStats(s, prev, secs);
      prev = s;
      last_stats_at = now;
    }
  }
  notifier.Stopping();
  notifier.Status("stopping: draining the queue and forwarding what the store holds");
  Status stopped = d.pipeline->Stop(milliseconds(cfg.gateway.shutdown_timeout_ms));
  if (d.health_server) d.health_server->Stop();
  PipelineStats s = pl.Stats();
  LogStats(s, prev, 0);
  if (!stopped.ok()) {
    spdlog::warn("{}", stopped.message());
  }
  spdlog::info("stopped");
  spdlog::shutdown();
  return kExitOk;
}

int StatusCommand(const StatusOptions& options) {
  // Only the [health] table matters here: no filesystem checks (the data directory may be
  // unreadable for the person asking).
  std::ifstream in(options.config_path);
  if (!in) {
    std::fprintf(stderr, "%s: cannot read the configuration file\n", options.config_path.c_str());
    return kExitConfig;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string dir = std::filesystem::path(options.config_path).parent_path().string();
  auto cfg = config::LoadString(text.str(), options.config_path, dir.empty() ? "." : dir, false);
  if (!cfg) {
    std::fputs(cfg.error().ToString().c_str(), stderr);
    return kExitConfig;
  }
  if (!cfg->health.enabled) {
    std::fprintf(stderr,
                 "%s: the health endpoint is off; set [health] enabled = true to use `status`\n",
                 options.config_path.c_str());
    return kExitConfig;
  }
  std::string token;
  if (!cfg->health.token_file.empty()) {
    auto t = ReadToken(cfg->health.token_file);
    if (!t) {
      std::fprintf(stderr, "%s\n", t.error().message().c_str());
      return kExitConfig;
    }
    token = std::move(*t);
  }
  std::string host = cfg->health.listen;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  auto res = health::HttpGet(host, static_cast<int>(cfg->health.port), "/status",
                             milliseconds(options.timeout_ms), token);
  if (!res) {
    std::fprintf(stderr, "processnow is not answering: %s\n", res.error().message().c_str());
    return kExitUnavailable;
  }
  std::fputs(res->body.c_str(), stdout);
  return res->status == 200 ? kExitOk : kExitFailure;
}

}  // namespace pn::service
