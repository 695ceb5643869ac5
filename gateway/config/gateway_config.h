// The gateway's configuration file: [gateway], [queue], [store], [drivers.NAME] and
// [upstreams.NAME] tables, validated against specs declared as data (see schema.h).
//
// Load() reports every problem at once (unknown keys, wrong types, out-of-range values, unknown
// driver or upstream types, driver-specific checks, a missing file, an unwritable data directory,
// rule globs that match nothing) and never stops at the first.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/bounded_queue.h"
#include "core/status.h"
#include "drivers/driver.h"
#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"
#include "gateway/upstream/upstream.h"

namespace pn::config {

struct GatewaySettings {
  std::string id;
  std::string data_dir;  // absolute, or relative to the working directory
  std::string log_level;
  std::vector<std::string> rule_globs;
  std::int64_t shutdown_timeout_ms = 10000;
};

struct QueueSettings {
  std::size_t capacity = 65536;
  OverflowPolicy overflow = OverflowPolicy::kBlock;
};

struct StoreSettings {
  std::string path;  // resolved against data_dir
  std::int64_t batch_records = 1000;
  std::int64_t batch_ms = 100;
  std::string synchronous = "normal";
  std::int64_t max_bytes = 1073741824;      // 0: unbounded
  std::int64_t max_age_s = 0;               // 0: no age bound
  std::string full_policy = "drop_oldest";  // or "reject_new"
  std::string on_corrupt = "move_aside";    // or "fail"
};

// [health]: the local HTTP health/metrics endpoint and the watchdog's stall limit.
struct HealthSettings {
  bool enabled = false;  // the HTTP endpoint; the systemd watchdog works without it
  std::string listen = "127.0.0.1";
  std::int64_t port = 9470;
  std::int64_t stall_timeout_ms = 60000;  // a thread silent this long is "stalled"
  std::string token_file;                 // bearer token for every request; "": none
  std::int64_t status_series = 4096;      // series the status page keeps (0: no live view)
};

// [clock]: how the gateway learns whether the wall clock is right (gateway/clock/README.md).
struct ClockSettings {
  std::string sync_source = "kernel";  // "kernel", "timesyncd" or "none"
  std::string timesyncd_file = "/run/systemd/timesync/synchronized";
  std::int64_t step_threshold_ms = 1000;
};

// True when `address` is a loopback address: 127.0.0.0/8, ::1 or "localhost".
bool IsLoopbackAddress(const std::string& address);

struct DriverInstance {
  std::string name;
  const DriverType* type = nullptr;
  Section settings;
};

struct UpstreamInstance {
  std::string name;
  const UpstreamType* type = nullptr;
  Section settings;
  std::int64_t batch_records = 1000;
  std::int64_t retry_initial_ms = 500;
  std::int64_t retry_max_ms = 30000;
};

struct GatewayConfig {
  std::unique_ptr<Document> doc;  // owns the tree that the Sections point into
  std::string config_dir;         // rule globs and relative paths resolve against it
  GatewaySettings gateway;
  QueueSettings queue;
  StoreSettings store;
  HealthSettings health;
  ClockSettings clock;
  std::vector<DriverInstance> drivers;      // enabled ones only
  std::vector<UpstreamInstance> upstreams;  // enabled ones only
  std::vector<std::string> rule_files;      // the rule globs expanded, sorted, deduplicated
  // Deprecated key names found (each line "FILE:LINE:COL: key.path: warning: ..."); "": none.
  std::string warnings;

  // Frees the parsed tree once the drivers and upstreams are built from their Sections, which
  // point into it and are emptied here (about 1.3 MB for 1000 Modbus tags). Everything else
  // stays valid.
  void ReleaseDocument();
};

// Loads and validates `path`. On failure returns every error found.
tl::expected<GatewayConfig, ErrorList> Load(const std::string& path);

// The same from text (tests); `name` stands for the file; relative paths resolve against
// `base_dir`. `check_filesystem` false skips the data directory and rule file checks.
tl::expected<GatewayConfig, ErrorList> LoadString(std::string_view text, const std::string& name,
                                                  const std::string& base_dir,
                                                  bool check_filesystem = true);

// Loading checks that gateway.data_dir is a writable directory or can be created, and creates
// nothing; `run` creates it with this before opening the store.
Status CreateDataDir(const std::string& dir);

// The fully commented reference configuration (config/gateway.toml is this text).
std::string ReferenceConfig();

// Specs of the gateway's own tables (exposed for tests and docs).
const TableSpec& GatewayTableSpec();
const TableSpec& QueueTableSpec();
const TableSpec& StoreTableSpec();
const TableSpec& HealthTableSpec();
const TableSpec& ClockTableSpec();

}  // namespace pn::config
