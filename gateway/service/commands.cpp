#include "gateway/service/commands.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "gateway/config/gateway_config.h"
#include "gateway/pipeline/pipeline.h"
#include "gateway/service/signals.h"
#include "rules/engine.h"

#ifndef PN_VERSION
#define PN_VERSION "0.0.0"
#endif

namespace pn::service {

namespace {

using std::chrono::milliseconds;

// Loads the config and the rule files it names; prints every error and returns nullopt if any.
struct Loaded {
  config::GatewayConfig cfg;
  std::unique_ptr<rules::Engine> rules;
};

std::optional<Loaded> LoadAll(const std::string& path) {
  auto cfg = config::Load(path);
  if (!cfg) {
    std::fputs(cfg.error().ToString().c_str(), stderr);
    return std::nullopt;
  }
  config::ErrorList errors;
  auto engine = rules::Engine::LoadFiles(cfg->rule_files, errors);
  if (!errors.empty() || engine == nullptr) {
    std::fputs(errors.ToString().c_str(), stderr);
    return std::nullopt;
  }
  return Loaded{std::move(*cfg), std::move(engine)};
}

void SetupLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("processnow");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
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
  auto loaded = LoadAll(options.config_path);
  if (!loaded) return kExitConfig;
  SetupLogging(loaded->cfg.gateway.log_level);
  const config::GatewayConfig& cfg = loaded->cfg;
  spdlog::info("processnow {} starting: gateway {}, config {}, {} rules", PN_VERSION,
               cfg.gateway.id, options.config_path, loaded->rules->rule_count());

  auto pipeline = Pipeline::Create(cfg, std::move(loaded->rules), SystemClock::Instance());
  if (!pipeline) {
    spdlog::error("cannot start: {}", pipeline.error().ToString());
    return pipeline.error().code() == Code::kConfig ? kExitConfig : kExitIoError;
  }
  Status st = (*pipeline)->Start();
  if (!st.ok()) {
    spdlog::error("cannot start: {}", st.ToString());
    return kExitFailure;
  }

  auto last_stats_at = std::chrono::steady_clock::now();
  PipelineStats prev = (*pipeline)->Stats();
  for (;;) {
    std::this_thread::sleep_for(milliseconds(50));
    if (TakeStopRequest()) {
      spdlog::info("stop requested; shutting down (deadline {} ms)",
                   cfg.gateway.shutdown_timeout_ms);
      break;
    }
    if (TakeReloadRequest()) {
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
    }
    if (options.exit_when_drained && (*pipeline)->DriversFinished()) {
      // Let the queue and the store settle, then stop once everything was forwarded.
      std::this_thread::sleep_for(milliseconds(cfg.store.batch_ms + 50));
      spdlog::info("drivers finished; draining and exiting");
      break;
    }
    auto now = std::chrono::steady_clock::now();
    double secs = std::chrono::duration<double>(now - last_stats_at).count();
    if (secs * 1000 >= static_cast<double>(options.stats_interval_ms)) {
      PipelineStats s = (*pipeline)->Stats();
      LogStats(s, prev, secs);
      prev = s;
      last_stats_at = now;
    }
  }
  Status stopped = (*pipeline)->Stop(milliseconds(cfg.gateway.shutdown_timeout_ms));
  PipelineStats s = (*pipeline)->Stats();
  LogStats(s, prev, 0);
  if (!stopped.ok()) {
    spdlog::warn("{}", stopped.message());
  }
  spdlog::info("stopped");
  spdlog::shutdown();
  return kExitOk;
}

}  // namespace pn::service
