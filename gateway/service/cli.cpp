// Command-line parsing (CLI11 is a heavy header: included here only).
#include "gateway/service/cli.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "gateway/service/buffer_command.h"
#include "gateway/service/commands.h"
#include "rules/replay/replay.h"
#include "rules/testing/rule_test.h"

namespace pn::service {

int RunCli(int argc, char** argv) {
  CLI::App app{
      "processnow: edge IoT sensor gateway. Polls sensors, runs rules, buffers durably "
      "and forwards upstream."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("processnow ") + PN_VERSION);

  RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "Run the gateway daemon.");
  run_cmd->add_option("-c,--config", run.config_path, "Configuration file (TOML)")->required();
  run_cmd->add_flag("--exit-when-drained", run.exit_when_drained,
                    "Exit once every driver has finished (e.g. a sim driver with max_samples) "
                    "and every record was forwarded. For tests and benchmarks.");
  run_cmd
      ->add_option("--stats-interval-ms", run.stats_interval_ms,
                   "How often to log throughput and upstream state")
      ->check(CLI::Range(100, 3600000));

  std::string check_path;
  auto* check_cmd = app.add_subcommand(
      "check", "Validate a configuration and its rule files; print every error.");
  check_cmd->add_option("-c,--config", check_path, "Configuration file (TOML)")->required();

  rules::ReplayOptions replay;
  auto* replay_cmd = app.add_subcommand(
      "replay",
      "Feed a recorded CSV through the rules and print the events as JSON lines on stdout.");
  replay_cmd->add_option("--rules", replay.rules_files, "Rule file(s) (TOML)")->required();
  replay_cmd
      ->add_option("--csv", replay.csv,
                   "CSV with a header row; separator , ; or "
                   "whitespace")
      ->required();
  replay_cmd->add_option("--time-column", replay.time_column,
                         "Time column (ISO date-time or a number); default: the first column");
  replay_cmd->add_option("--device-column", replay.device_column,
                         "Column whose value names the device; default: the file's name");
  replay_cmd->add_option("--report", replay.report,
                         "Also write a self-contained HTML report (values, scores, events, "
                         "alarms, labels, per-rule summary) to this file");
  replay_cmd->add_option("--labels", replay.labels,
                         "NAB-style labelled windows (JSON: file -> [[start, end], ...]) to shade "
                         "in the report");
  replay_cmd->add_option("--label-column", replay.label_column,
                         "Column of 0/1 labels (not a series): runs of non-zero rows are "
                         "labelled windows in the report");

  std::vector<std::string> test_files;
  auto* test_cmd = app.add_subcommand(
      "test-rules",
      "Run rule tests written in TOML (input series, expected events), like promtool test rules.");
  test_cmd->add_option("files", test_files, "Rule test files (TOML)")->required();

  StatusOptions status_opts;
  auto* status_cmd = app.add_subcommand(
      "status", "Ask the running daemon (its [health] endpoint) how it is doing; print it.");
  status_cmd->add_option("-c,--config", status_opts.config_path, "Configuration file (TOML)")
      ->required();
  status_cmd->add_option("--timeout-ms", status_opts.timeout_ms, "Connect and read timeout")
      ->check(CLI::Range(100, 60000));

  BufferOptions buffer_opts;
  auto* buffer_cmd = app.add_subcommand(
      "buffer",
      "Inspect the durable store read-only (safe while the daemon runs): depth and oldest "
      "pending age per upstream, records held, size on disk, last seq, drops per reason.");
  buffer_cmd->add_option("-c,--config", buffer_opts.config_path, "Configuration file (TOML)")
      ->required();
  buffer_cmd->add_flag("--json", buffer_opts.json, "Print one JSON object instead of text");

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
  if (*replay_cmd) return rules::RunReplay(replay, std::cout, std::cerr);
  if (*test_cmd) return rules::RunRuleTests(test_files, std::cout, std::cerr);
  if (*status_cmd) return StatusCommand(status_opts);
  if (*buffer_cmd) return Buffer(buffer_opts);
  if (*ref_cmd) return ReferenceConfig();
  if (*version_cmd) return Version();
  return kExitFailure;
}

}  // namespace pn::service
