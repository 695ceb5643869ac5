// The processnow subcommands, one function each. They print to stdout/stderr and return the
// process exit code (core/exit_codes.h, the one table for every command).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/exit_codes.h"

namespace pn::service {

struct RunOptions {
  std::string config_path;
  bool exit_when_drained = false;  // exit once every driver finished and all was forwarded
  std::int64_t stats_interval_ms = 10000;
};

struct StatusOptions {
  std::string config_path;
  std::int64_t timeout_ms = 3000;
};

int Run(const RunOptions& options);
// `processnow status`: asks the running daemon's health endpoint (from the config's [health]
// table) for its /status text and prints it. 0 healthy or degraded, 1 stalled, 69 not answering,
// 78 the endpoint is not enabled or the config is invalid.
int StatusCommand(const StatusOptions& options);
int Check(const std::string& config_path);
int ReferenceConfig();
int Version();

}  // namespace pn::service
