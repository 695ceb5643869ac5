// Command-line parsing (CLI11 is a heavy header: included here only).
#include "gateway/service/cli.h"

#include <CLI/CLI.hpp>

#include "gateway/service/commands.h"

namespace pn::service {

int RunCli(int argc, char** argv) {
  CLI::App app{"processnow: edge IoT sensor gateway. Polls sensors, runs rules, buffers durably "
               "and forwards upstream."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("processnow ") + PN_VERSION);

  RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "Run the gateway daemon.");
  run_cmd->add_option("-c,--config", run.config_path, "Configuration file (TOML)")->required();
  run_cmd->add_flag("--exit-when-drained", run.exit_when_drained,
                    "Exit once every driver has finished (e.g. a sim driver with max_samples) "
                    "and every record was forwarded. For tests and benchmarks.");
  run_cmd->add_option("--stats-interval-ms", run.stats_interval_ms,
                      "How often to log throughput and upstream state")
      ->check(CLI::Range(100, 3600000));

  std::string check_path;
  auto* check_cmd =
      app.add_subcommand("check", "Validate a configuration and its rule files; print every error.");
  check_cmd->add_option("-c,--config", check_path, "Configuration file (TOML)")->required();

  auto* ref_cmd = app.add_subcommand(
      "reference-config", "Print the fully commented reference configuration (every key).");
  auto* version_cmd = app.add_subcommand("version", "Print the version.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*run_cmd) return Run(run);
  if (*check_cmd) return Check(check_path);
  if (*ref_cmd) return ReferenceConfig();
  if (*version_cmd) return Version();
  return kExitFailure;
}

}  // namespace pn::service
