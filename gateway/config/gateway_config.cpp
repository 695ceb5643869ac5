#include "gateway/config/gateway_config.h"

#include <arpa/inet.h>
#include <glob.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <type_traits>

#include "gateway/config/typed_table.h"

namespace pn::config {

namespace fs = std::filesystem;

const TableSpec& GatewayTableSpec() {
  static const TableSpec spec{
      "The gateway itself.",
      {
          {.name = "id",
           .type = ValueType::kString,
           .default_value = std::string("gateway"),
           .description = "Identifies this gateway upstream: every record it forwards carries "
                          "this id beside its sequence number, so consumers can drop duplicates."},
          {.name = "data_dir",
           .type = ValueType::kString,
           .default_value = std::string("/var/lib/processnow"),
           .description = "Directory for the durable buffer. Must be writable; `run` creates "
                          "it if missing (`check` only checks that it could). A relative path "
                          "is relative to this file's directory."},
          {.name = "log_level",
           .type = ValueType::kString,
           .default_value = std::string("info"),
           .description = "Least severe log level written.",
           .choices = {"trace", "debug", "info", "warn", "error", "off"}},
          {.name = "rules",
           .type = ValueType::kStringList,
           .default_value = std::vector<std::string>{},
           .description = "Rule files to load, as paths or globs relative to this file's "
                          "directory (for example \"rules.d/*.toml\"). A path without wildcards "
                          "must exist; a glob may match nothing."},
          {.name = "shutdown_timeout_ms",
           .type = ValueType::kInt,
           .default_value = std::int64_t{10000},
           .description = "On SIGTERM or SIGINT, how long to wait for drivers to stop, the "
                          "queue to drain, the store to commit and forwarders to finish "
                          "in-flight sends before exiting anyway. Nothing committed is lost "
                          "either way.",
           .min = 100,
           .max = 600000},
      }};
  return spec;
}

const TableSpec& QueueTableSpec() {
  static const TableSpec spec{
      "The bounded queue between the drivers and the rules stage.",
      {
          {.name = "capacity",
           .type = ValueType::kInt,
           .default_value = std::int64_t{65536},
           .description = "Readings the queue holds at most.",
           .min = 16,
           .max = 16777216},
          {.name = "overflow",
           .type = ValueType::kString,
           .default_value = std::string("block"),
           .description = "What a driver does when the queue is full: \"block\" waits for room "
                          "(back-pressure, nothing dropped), \"drop_oldest\" discards the oldest "
                          "queued reading and counts it.",
           .choices = {"block", "drop_oldest"}},
      }};
  return spec;
}

const TableSpec& StoreTableSpec() {
  static const TableSpec spec{
      "The durable SQLite buffer between the rules stage and the upstreams.",
      {
          {.name = "file",
           .type = ValueType::kString,
           .default_value = std::string("buffer.db"),
           .description = "Database file, relative to gateway.data_dir unless absolute."},
          {.name = "batch_records",
           .type = ValueType::kInt,
           .default_value = std::int64_t{1000},
           .description = "A write batch (one transaction) closes when it holds this many "
                          "records...",
           .min = 1,
           .max = 100000},
          {.name = "batch_ms",
           .type = ValueType::kInt,
           .default_value = std::int64_t{100},
           .description = "...or when its first record has waited this long, whichever "
                          "comes first.",
           .min = 1,
           .max = 60000},
          {.name = "synchronous",
           .type = ValueType::kString,
           .default_value = std::string("normal"),
           .description = "SQLite synchronous mode. \"normal\": a committed batch survives a "
                          "crash of the process (kill -9, OOM kill); a power loss or kernel "
                          "crash may roll back the last commits, never corrupting the file. "
                          "\"full\": it also survives a power loss, at a higher cost per "
                          "commit (an fsync each).",
           .choices = {"normal", "full"}},
          {.name = "max_bytes",
           .type = ValueType::kInt,
           .default_value = std::int64_t{1073741824},
           .description = "Bound on the store's size on disk in bytes (database pages in use "
                          "plus the WAL's share, max_bytes/8 up to 16 MiB). When it is reached "
                          "full_policy applies. 0: unbounded; otherwise at least 262144. Keep it "
                          "below the free space of data_dir.",
           .min = 0},
          {.name = "max_age_s",
           .type = ValueType::kInt,
           .default_value = std::int64_t{0},
           .description = "Records whose own time is older than this many seconds are dropped "
                          "(counted as \"age\"), forwarded or not. 0: no age bound.",
           .min = 0,
           .max = 315360000},
          {.name = "full_policy",
           .type = ValueType::kString,
           .default_value = std::string("drop_oldest"),
           .description = "What happens when max_bytes is reached or the disk is full. "
                          "\"drop_oldest\": delete the oldest readings, and only when no "
                          "reading is left the oldest events (alarms and events outlive raw "
                          "readings). \"reject_new\": refuse new batches until the upstreams "
                          "catch up. Every dropped or refused record is counted and logged.",
           .choices = {"drop_oldest", "reject_new"}},
          {.name = "on_corrupt",
           .type = ValueType::kString,
           .default_value = std::string("move_aside"),
           .description = "What `run` does with a damaged file or one that is not a processnow "
                          "store. \"move_aside\": rename it to FILE.corrupt-<UTC time>, log "
                          "where it went, and start with a fresh store. \"fail\": refuse to "
                          "start (exit 74) and leave the file untouched.",
           .choices = {"move_aside", "fail"}},
      }};
  return spec;
}

const TableSpec& HealthTableSpec() {
  static const TableSpec spec{
      "Health and metrics: a local HTTP endpoint serving the status page (/, which polls "
      "/status.json), /health (JSON), /metrics (Prometheus text) and /status (text for "
      "`processnow status`), and the stall limit behind the systemd watchdog.",
      {
          {.name = "enabled",
           .type = ValueType::kBool,
           .default_value = false,
           .description = "Serve the HTTP endpoint. Off by default. Read-only: nothing it "
                          "serves changes the gateway."},
          {.name = "listen",
           .type = ValueType::kString,
           .default_value = std::string("127.0.0.1"),
           .description = "Address the endpoint binds to (an IPv4 or IPv6 address). An address "
                          "other than loopback requires token_file; for TLS, keep it on "
                          "loopback behind a reverse proxy (gateway/health/README.md)."},
          {.name = "port",
           .type = ValueType::kInt,
           .default_value = std::int64_t{9470},
           .description = "TCP port of the endpoint.",
           .min = 1,
           .max = 65535},
          {.name = "stall_timeout_ms",
           .type = ValueType::kInt,
           .default_value = std::int64_t{60000},
           .description = "A pipeline thread (driver, rules, store, forwarder) that shows no "
                          "progress for this long is reported as stalled in /health and stops "
                          "the systemd watchdog pings, so systemd restarts the service. Must "
                          "exceed the longest driver poll interval.",
           .min = 100,
           .max = 3600000},
          {.name = "token_file",
           .type = ValueType::kString,
           .default_value = std::string(),
           .description = "File holding a bearer token (relative to the config file's folder; "
                          "one word, surrounding whitespace ignored). When set, every request must "
                          "send 'Authorization: Bearer "
                          "TOKEN', else 401; `processnow status` sends it. Required when listen "
                          "is not a loopback address. Never logged."},
          {.name = "status_series",
           .type = ValueType::kInt,
           .default_value = std::int64_t{4096},
           .description = "Series whose latest reading and 10-minute sparkline the status page "
                          "keeps in memory (about 0.5 KiB each); readings of further series are "
                          "counted, not shown. 0: the page shows no readings, alarms or events.",
           .min = 0,
           .max = 100000},
      }};
  return spec;
}

const TableSpec& ClockTableSpec() {
  static const TableSpec spec{
      "The wall clock. A gateway without a real-time clock (a Raspberry Pi) boots with the time "
      "of its last shutdown, or 1970, and jumps when NTP syncs. Records taken before are marked "
      "\"clock\":\"unsynced\" and corrected when the offset becomes known; the rules and "
      "stale-data checks never see the jump (gateway/clock/README.md).",
      {
          {.name = "sync_source",
           .type = ValueType::kString,
           .default_value = std::string("kernel"),
           .description = "How the gateway learns that the system clock is synchronised. "
                          "\"kernel\": the kernel's NTP status (adjtimex; what `timedatectl` "
                          "shows as \"System clock synchronized\"), set by systemd-timesyncd, "
                          "chrony or ntpd. \"timesyncd\": timesyncd_file exists. \"none\": "
                          "the clock is always trusted (a gateway with a real-time clock); "
                          "jumps are still followed.",
           .choices = {"kernel", "timesyncd", "none"}},
          {.name = "timesyncd_file",
           .type = ValueType::kString,
           .default_value = std::string("/run/systemd/timesync/synchronized"),
           .description = "With sync_source = \"timesyncd\": the file systemd-timesyncd "
                          "creates at its first synchronisation after boot."},
          {.name = "step_threshold_ms",
           .type = ValueType::kInt,
           .default_value = std::int64_t{1000},
           .description = "A change of the wall clock against the monotonic clock larger than "
                          "this is a jump (a step); smaller ones are drift. Records are "
                          "attributed to the right side of a jump when they reach the rules "
                          "stage faster than this.",
           .min = 100,
           .max = 3600000},
      }};
  return spec;
}

namespace {

const TableSpec& RootSpec() {
  static const TableSpec spec{
      "processnow configuration.",
      {
          {.name = "gateway",
           .type = ValueType::kTable,
           .description = "",
           .table = &GatewayTableSpec()},
          {.name = "queue", .type = ValueType::kTable, .table = &QueueTableSpec()},
          {.name = "store", .type = ValueType::kTable, .table = &StoreTableSpec()},
          {.name = "health", .type = ValueType::kTable, .table = &HealthTableSpec()},
          {.name = "clock", .type = ValueType::kTable, .table = &ClockTableSpec()},
          {.name = "drivers", .type = ValueType::kTable},
          {.name = "upstreams", .type = ValueType::kTable},
      }};
  return spec;
}

KeySpec TypeKey(const std::vector<std::string>& names, std::string_view what) {
  return KeySpec{.name = "type",
                 .type = ValueType::kString,
                 .description = "Which " + std::string(what) + " this instance is.",
                 .required = true,
                 .choices = names};
}

const TableSpec& DriverCommonSpec() {
  static const TableSpec spec = [] {
    std::vector<std::string> names;
    for (const auto& t : DriverTypes()) names.push_back(t.type);
    return TableSpec{"",
                     {TypeKey(names, "driver"),
                      {.name = "enabled",
                       .type = ValueType::kBool,
                       .default_value = true,
                       .description = "Set to false to keep the table but not run the driver."}}};
  }();
  return spec;
}

const TableSpec& UpstreamCommonSpec() {
  static const TableSpec spec = [] {
    std::vector<std::string> names;
    for (const auto& t : UpstreamTypes()) names.push_back(t.type);
    return TableSpec{
        "",
        {TypeKey(names, "upstream"),
         {.name = "enabled",
          .type = ValueType::kBool,
          .default_value = true,
          .description = "Set to false to keep the table but not forward to this upstream. "
                         "Its cursor is dropped: re-enabled, it starts from what the store "
                         "holds."},
         {.name = "batch_records",
          .type = ValueType::kInt,
          .default_value = std::int64_t{1000},
          .description = "Records handed to the upstream per send.",
          .min = 1,
          .max = 100000},
         {.name = "retry_initial_ms",
          .type = ValueType::kInt,
          .default_value = std::int64_t{500},
          .description = "First back-off after a failed send; doubles on every further "
                         "failure, each wait drawn between half and all of it (equal "
                         "jitter)...",
          .min = 1,
          .max = 3600000},
         {.name = "retry_max_ms",
          .type = ValueType::kInt,
          .default_value = std::int64_t{30000},
          .description = "...up to this.",
          .min = 1,
          .max = 3600000}}};
  }();
  return spec;
}

std::string Resolve(const std::string& base, const std::string& p) {
  if (p.empty() || p[0] == '/' || base.empty()) return p;
  return (fs::path(base) / p).lexically_normal().string();
}

bool HasWildcard(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// The data directory must be a writable directory, or, when it does not exist yet, creatable:
// a probe directory made and removed at once in its nearest existing ancestor (access() says
// yes to root on /proc and the like). `check` leaves the file system as it found it; `run`
// creates the directory (CreateDataDir).
void CheckDataDir(const std::string& dir, const Section& gw, ErrorList& errors) {
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec);
  if (ec) p = dir;
  if (!fs::exists(p, ec)) {
    fs::path ancestor = p.parent_path();
    while (!ancestor.empty() && ancestor != ancestor.root_path() && !fs::exists(ancestor, ec)) {
      ancestor = ancestor.parent_path();
    }
    const fs::path probe = ancestor / (".processnow-check-" + std::to_string(::getpid()));
    if (::mkdir(probe.c_str(), 0700) != 0) {
      gw.AddError(errors, "data_dir",
                  "cannot create directory \"" + dir + "\": " + std::strerror(errno));
      return;
    }
    ::rmdir(probe.c_str());
    return;
  }
  if (!fs::is_directory(p, ec)) {
    gw.AddError(errors, "data_dir", "\"" + dir + "\" is not a directory");
    return;
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    gw.AddError(errors, "data_dir",
                "directory \"" + dir + "\" is not writable: " + std::strerror(errno));
  }
}

}  // namespace

Status CreateDataDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Status::IoError("data_dir: cannot create directory \"" + dir + "\": " + ec.message());
  }
  return Status::Ok();
}

namespace {

template <typename TypeEntry, typename Instance, typename FindFn>
void LoadInstances(const Node& root, std::string_view table_name, const TableSpec& common,
                   FindFn find, const std::string& file, ErrorList& errors,
                   std::vector<Instance>& out, std::string_view what) {
  const Node* table = root.Find(table_name);
  if (table == nullptr || !table->is_table()) return;  // type errors reported by RootSpec
  for (const auto& [name, inst] : table->table) {
    std::string path = JoinPath(table_name, name);
    if (!inst.is_table()) {
      errors.Add(file, inst.pos, path,
                 "expected a table ([" + path + "]) describing one " + std::string(what));
      continue;
    }
    // Common keys first (enabled, ...), checked against the common spec; `type` chooses the spec
    // of the others. Keys outside the common spec are left to the type's spec (or, for an
    // unknown type, not reported at all: one error about the type is clearer than a pile of
    // unknown keys).
    std::vector<std::string> skip = {"type"};
    for (const auto& [k, v] : inst.table) {
      if (common.FindNameOrAlias(k) == nullptr) skip.push_back(k);
    }
    Validate(inst, common, path, file, errors, skip);
    Section common_section(&inst, &common, path, file);
    const bool enabled = common_section.GetBool("enabled");
    // `type` is reported as Validate() would report the common spec's `type` key.
    const std::vector<std::string>& type_names = common.Find("type")->choices;
    std::vector<std::string> common_keys;
    for (const auto& k : common.keys) {
      common_keys.push_back(k.name);
      common_keys.insert(common_keys.end(), k.aliases.begin(), k.aliases.end());
    }
    auto typed = LoadTypedTable<TypeEntry>(
        inst, path, file,
        {.key = "type",
         .find = find,
         .unknown_message =
             [&](const std::string& type) { return NotAllowedMessage(type, type_names); },
         .skip = common_keys,
         .run_check = enabled},  // a disabled instance's keys are checked, not its settings
        errors);
    if (!typed || !enabled) continue;
    Instance instance{};
    instance.name = name;
    instance.type = typed->entry;
    instance.settings = typed->section;
    if constexpr (std::is_same_v<Instance, UpstreamInstance>) {
      instance.batch_records = common_section.GetInt("batch_records");
      instance.retry_initial_ms = common_section.GetInt("retry_initial_ms");
      instance.retry_max_ms = common_section.GetInt("retry_max_ms");
    }
    out.push_back(std::move(instance));
  }
}

tl::expected<GatewayConfig, ErrorList> LoadDocument(std::unique_ptr<Document> doc,
                                                    const std::string& base_dir,
                                                    bool check_filesystem) {
  ErrorList errors;
  const std::string& file = doc->file;
  const Node& root = doc->root;
  Validate(root, RootSpec(), "", file, errors, {});

  GatewayConfig cfg;
  cfg.config_dir = base_dir;
  auto table_or_empty = [&](std::string_view key, const TableSpec& spec) {
    const Node* n = root.Find(key);
    if (n != nullptr && n->is_table()) return Section(n, &spec, std::string(key), file);
    return Section(nullptr, &spec, std::string(key), file);
  };
  Section gw = table_or_empty("gateway", GatewayTableSpec());
  Section q = table_or_empty("queue", QueueTableSpec());
  Section st = table_or_empty("store", StoreTableSpec());
  Section hl = table_or_empty("health", HealthTableSpec());
  Section ck = table_or_empty("clock", ClockTableSpec());

  if (errors.empty()) {
    cfg.gateway.id = gw.GetString("id");
    if (cfg.gateway.id.empty()) gw.AddError(errors, "id", "must not be empty");
    cfg.gateway.data_dir = Resolve(base_dir, gw.GetString("data_dir"));
    cfg.gateway.log_level = gw.GetString("log_level");
    cfg.gateway.rule_globs = gw.GetStringList("rules");
    cfg.gateway.shutdown_timeout_ms = gw.GetInt("shutdown_timeout_ms");
    cfg.queue.capacity = static_cast<std::size_t>(q.GetInt("capacity"));
    cfg.queue.overflow = *ParseOverflowPolicy(q.GetString("overflow"));
    cfg.store.path = Resolve(cfg.gateway.data_dir, st.GetString("file"));
    cfg.store.batch_records = st.GetInt("batch_records");
    cfg.store.batch_ms = st.GetInt("batch_ms");
    cfg.store.synchronous = st.GetString("synchronous");
    cfg.store.max_bytes = st.GetInt("max_bytes");
    if (cfg.store.max_bytes != 0 && cfg.store.max_bytes < 262144) {
      st.AddError(errors, "max_bytes", "must be 0 (unbounded) or at least 262144");
    }
    cfg.store.max_age_s = st.GetInt("max_age_s");
    cfg.store.full_policy = st.GetString("full_policy");
    cfg.store.on_corrupt = st.GetString("on_corrupt");
    cfg.health.enabled = hl.GetBool("enabled");
    cfg.health.listen = hl.GetString("listen");
    cfg.health.port = hl.GetInt("port");
    cfg.health.stall_timeout_ms = hl.GetInt("stall_timeout_ms");
    cfg.health.token_file = hl.GetString("token_file");
    if (!cfg.health.token_file.empty()) {
      cfg.health.token_file = Resolve(base_dir, cfg.health.token_file);
    }
    cfg.health.status_series = hl.GetInt("status_series");
    cfg.clock.sync_source = ck.GetString("sync_source");
    cfg.clock.timesyncd_file = ck.GetString("timesyncd_file");
    cfg.clock.step_threshold_ms = ck.GetInt("step_threshold_ms");
    if (check_filesystem && !cfg.health.token_file.empty() &&
        ::access(cfg.health.token_file.c_str(), R_OK) != 0) {
      hl.AddError(errors, "token_file",
                  "cannot read \"" + cfg.health.token_file + "\": " + std::strerror(errno));
    }
    if (cfg.health.enabled && cfg.health.token_file.empty() &&
        !IsLoopbackAddress(cfg.health.listen)) {
      hl.AddError(errors, "listen",
                  "\"" + cfg.health.listen +
                      "\" is not a loopback address: set token_file (a bearer token every "
                      "request must send), or keep listen on 127.0.0.1 behind a reverse proxy");
    }
    if (check_filesystem) CheckDataDir(cfg.gateway.data_dir, gw, errors);

    std::set<std::string> seen;
    for (std::size_t i = 0; i < cfg.gateway.rule_globs.size(); ++i) {
      const std::string& pattern = cfg.gateway.rule_globs[i];
      std::string full = Resolve(base_dir, pattern);
      std::string key = "rules";
      if (!check_filesystem) continue;
      if (!HasWildcard(pattern)) {
        std::error_code ec;
        if (!fs::is_regular_file(full, ec)) {
          errors.Add(file, gw.PosOf(key), gw.PathOf(key) + "[" + std::to_string(i) + "]",
                     "rule file \"" + full + "\" does not exist");
          continue;
        }
        if (seen.insert(full).second) cfg.rule_files.push_back(full);
        continue;
      }
      glob_t g{};
      int rc = ::glob(full.c_str(), 0, nullptr, &g);
      if (rc == 0) {
        for (std::size_t k = 0; k < g.gl_pathc; ++k) {
          std::string p = g.gl_pathv[k];
          if (seen.insert(p).second) cfg.rule_files.push_back(p);
        }
      } else if (rc != GLOB_NOMATCH) {
        errors.Add(file, gw.PosOf(key), gw.PathOf(key) + "[" + std::to_string(i) + "]",
                   "cannot expand \"" + full + "\"");
      }
      ::globfree(&g);
    }
  }

  LoadInstances<DriverType>(root, "drivers", DriverCommonSpec(), FindDriverType, file, errors,
                            cfg.drivers, "driver");
  LoadInstances<UpstreamType>(root, "upstreams", UpstreamCommonSpec(), FindUpstreamType, file,
                              errors, cfg.upstreams, "upstream");

  if (!errors.empty()) return tl::unexpected(std::move(errors));
  cfg.warnings = errors.WarningsToString();
  cfg.doc = std::move(doc);
  return cfg;
}

ErrorList FromSyntaxError(const Status& s, const std::string& file) {
  // ParseString/ParseFile put "FILE:LINE:COL: message" in the status.
  ErrorList errors;
  const std::string& m = s.message();
  SourcePos pos;
  std::string rest = m;
  if (m.rfind(file + ":", 0) == 0) {
    std::istringstream is(m.substr(file.size() + 1));
    char colon = 0;
    if (is >> pos.line >> colon >> pos.col >> colon) {
      std::getline(is, rest);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      errors.Add(file, pos, "", rest);
      return errors;
    }
  }
  errors.Add(file, pos, "", m);
  return errors;
}

}  // namespace

tl::expected<GatewayConfig, ErrorList> LoadString(std::string_view text, const std::string& name,
                                                  const std::string& base_dir,
                                                  bool check_filesystem) {
  auto doc = ParseString(text, name);
  if (!doc) return tl::unexpected(FromSyntaxError(doc.error(), name));
  return LoadDocument(std::make_unique<Document>(std::move(*doc)), base_dir, check_filesystem);
}

void GatewayConfig::ReleaseDocument() {
  for (auto& d : drivers) d.settings = Section();
  for (auto& u : upstreams) u.settings = Section();
  doc.reset();
}

tl::expected<GatewayConfig, ErrorList> Load(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    ErrorList errors;
    errors.Add(path, SourcePos{0, 0}, "", "configuration file does not exist");
    return tl::unexpected(std::move(errors));
  }
  auto doc = ParseFile(path);
  if (!doc) {
    ErrorList errors;
    if (doc.error().message().rfind(path + ": cannot read", 0) == 0) {
      errors.Add(path, SourcePos{0, 0}, "", doc.error().message().substr(path.size() + 2));
      return tl::unexpected(std::move(errors));
    }
    return tl::unexpected(FromSyntaxError(doc.error(), path));
  }
  std::string base = fs::path(path).parent_path().string();
  if (base.empty()) base = ".";
  return LoadDocument(std::make_unique<Document>(std::move(*doc)), base, true);
}

namespace {

// Comments out the table header and key lines of an instance block, so the reference file
// stays valid while still showing every key.
std::string CommentOut(const std::string& block) {
  std::istringstream in(block);
  std::string line, out;
  while (std::getline(in, line)) {
    if (!line.empty() && line.rfind("#", 0) != 0) line = "# " + line;
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace

std::string ReferenceConfig() {
  std::string out;
  out +=
      "# processnow reference configuration.\n"
      "#\n"
      "# Generated by `processnow reference-config` from the keys the code declares; every key is\n"
      "# shown with its default, commented out. Lines starting with `##` describe the key below\n"
      "# them. Durations are in milliseconds (`_ms`) or seconds (`_s`) as the key name says.\n"
      "# `processnow check --config FILE` validates a file and prints every error.\n"
      "#\n"
      "# SIGHUP (`systemctl reload processnow`) applies a changed file to the running daemon:\n"
      "# changed drivers and upstreams restart, the rest keeps running, nothing buffered is lost.\n"
      "# gateway.id, gateway.data_dir, [store] keys other than batch_records and batch_ms,\n"
      "# [queue], [clock] and health.status_series cannot change while it runs: a reload\n"
      "# changing one is refused as a whole (README.md, \"Reload\").\n\n";
  out += RenderReference(GatewayTableSpec(), "gateway");
  out += RenderReference(QueueTableSpec(), "queue");
  out += RenderReference(StoreTableSpec(), "store");
  out += RenderReference(HealthTableSpec(), "health");
  out += RenderReference(ClockTableSpec(), "clock");
  out +=
      "## Drivers: one table per instance, [drivers.NAME]; NAME appears in logs and metrics.\n"
      "## Keys every driver has:\n";
  out += CommentOut(RenderReference(DriverCommonSpec(), "drivers.NAME"));
  for (const auto& t : DriverTypes()) {
    out += "## type = \"" + t.type + "\": " + t.summary + "\n";
    out += CommentOut(RenderReference(*t.spec, "drivers.NAME"));
  }
  out +=
      "## Upstreams: one table per instance, [upstreams.NAME]. Each keeps its own cursor in the\n"
      "## store; a slow or dead upstream never holds up another.\n"
      "## Keys every upstream has:\n";
  out += CommentOut(RenderReference(UpstreamCommonSpec(), "upstreams.NAME"));
  for (const auto& t : UpstreamTypes()) {
    out += "## type = \"" + t.type + "\": " + t.summary + "\n";
    out += CommentOut(RenderReference(*t.spec, "upstreams.NAME"));
  }
  while (out.size() > 1 && out[out.size() - 1] == '\n' && out[out.size() - 2] == '\n') {
    out.pop_back();
  }
  return out;
}

bool IsLoopbackAddress(const std::string& address) {
  if (address == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, address.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace pn::config
