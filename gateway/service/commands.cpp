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

std::optional<Loaded> LoadAll(const std::string& path, bool to_journal = false) {
  auto cfg = config::Load(path);
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

int Run(const RunOptions& options) {
  InstallSignalHandlers();
  const SystemdNotifier notifier;
  const auto started_at = std::chrono::steady_clock::now();
  notifier.Status("loading configuration");
  const bool to_journal = SetupLogging();
  auto loaded = LoadAll(options.config_path, to_journal);
  if (!loaded) {
    notifier.Status("configuration error; see the log");
    return kExitConfig;
  }
  spdlog::set_level(spdlog::level::from_str(loaded->cfg.gateway.log_level));
  const config::GatewayConfig& cfg = loaded->cfg;
  spdlog::info("processnow {} starting: gateway {}, config {}, {} rules", PN_VERSION,
               cfg.gateway.id, options.config_path, loaded->rules->rule_count());

  std::string token;
  if (cfg.health.enabled && !cfg.health.token_file.empty()) {
    auto t = ReadToken(cfg.health.token_file);
    if (!t) {
      spdlog::error("cannot start: {}", t.error().message());
      notifier.Status("configuration error; see the log");
      return kExitConfig;
    }
    token = std::move(*t);
  }
  // The status page's live view: only with the endpoint on (it costs memory per series). Made
  // before the pipeline, so that it outlives the pipeline's threads.
  std::unique_ptr<health::LiveView> live;
  if (cfg.health.enabled && cfg.health.status_series > 0) {
    health::LiveView::Options lo;
    lo.series_limit = static_cast<std::size_t>(cfg.health.status_series);
    live = std::make_unique<health::LiveView>(lo);
  }
  auto pipeline = Pipeline::Create(cfg, std::move(loaded->rules), SystemClock::Instance());
  if (!pipeline) {
    spdlog::error("cannot start: {}", pipeline.error().ToString());
    notifier.Status("cannot start: " + pipeline.error().ToString());
    return pipeline.error().code() == Code::kConfig ? kExitConfig : kExitIoError;
  }
  if (live) (*pipeline)->SetObserver(live.get());
  std::error_code path_error;
  const std::string config_file =
      std::filesystem::absolute(options.config_path, path_error).lexically_normal().string();
  // Drivers and upstreams hold their own settings now; the parsed tree is not needed again.
  loaded->cfg.ReleaseDocument();
  Status st = (*pipeline)->Start();
  if (!st.ok()) {
    spdlog::error("cannot start: {}", st.ToString());
    return kExitFailure;
  }
  const Pipeline& pl = **pipeline;
  const auto stall = milliseconds(cfg.health.stall_timeout_ms);

  // Shared with the health endpoint's threads.
  std::atomic<bool> ready{false};
  std::atomic<double> rate{0};
  std::unique_ptr<health::HealthServer> health_server;
  if (cfg.health.enabled) {
    auto snapshot = [&pl, &cfg, &ready, &rate, &live, &config_file, started_at, stall] {
      health::Snapshot snap;
      snap.gateway_id = cfg.gateway.id;
      snap.version = PN_VERSION;
      snap.now_ns = SystemClock::Instance().NowNs();
      snap.uptime_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at).count();
      snap.ready = ready.load();
      snap.readings_per_s = rate.load();
      snap.stats = pl.Stats();
      snap.store = pl.StoreContents();
      snap.stalled = pl.StalledThreads(stall);
      snap.config_path = config_file;
      snap.rss_bytes = ResidentBytes();
      if (live) snap.live = live->Take();
      return snap;
    };
    auto server = health::HealthServer::Start(cfg.health.listen, static_cast<int>(cfg.health.port),
                                              snapshot, token);
    if (!server) {
      spdlog::error("cannot start: {}", server.error().ToString());
      notifier.Status("cannot start: " + server.error().ToString());
      (void)(*pipeline)->Stop(milliseconds(cfg.gateway.shutdown_timeout_ms));
      return kExitFailure;
    }
    health_server = std::move(*server);
  }

  // Config, store, drivers (threads started) and the endpoint are up.
  ready = true;
  // Start-up (config parsing, rule compilation) leaves free holes in the heap that glibc keeps;
  // hand their pages back so idle memory is what the pipeline uses (bench/deploy).
  malloc_trim(0);
  notifier.Ready();
  notifier.Status("started; 0 readings/s");
  const auto watchdog_every =
      std::chrono::duration_cast<milliseconds>(notifier.watchdog_interval()) / 2;
  if (watchdog_every.count() > 0) {
    spdlog::info("systemd watchdog: pinging every {} ms while no thread stalls for {} ms",
                 watchdog_every.count(), stall.count());
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
      // Rule files only: drivers, store and upstreams keep running untouched.
      config::ErrorList errors;
      auto again = config::Load(options.config_path);
      if (!again) {
        spdlog::error("reload: config has errors, keeping the current rules:\n{}",
                      again.error().ToString());
      } else {
        auto engine = rules::Engine::LoadFiles(again->rule_files, errors);
        if (!errors.empty() || !engine) {
          spdlog::error("reload: rule files have errors, keeping the current rules:\n{}",
                        errors.ToString());
        } else {
          (*pipeline)->ReplaceRules(std::move(engine));
        }
      }
      notifier.Ready();
    }
    if (options.exit_when_drained && (*pipeline)->DriversFinished()) {
      // Let the queue and the store settle, then stop once everything was forwarded.
      std::this_thread::sleep_for(milliseconds(cfg.store.batch_ms + 50));
      spdlog::info("drivers finished; draining and exiting");
      break;
    }
    now = std::chrono::steady_clock::now();
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
      rate = r;
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
  Status stopped = (*pipeline)->Stop(milliseconds(cfg.gateway.shutdown_timeout_ms));
  if (health_server) health_server->Stop();
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
