#include "gateway/service/buffer_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "core/exit_codes.h"
#include "core/record.h"
#include "gateway/config/gateway_config.h"

namespace pn::service {

namespace {

std::string HumanBytes(std::int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string HumanAge(double s) {
  if (s < 120) return fmt::format("{:.1f} s", s);
  if (s < 7200) return fmt::format("{:.1f} min", s / 60);
  if (s < 172800) return fmt::format("{:.1f} h", s / 3600);
  return fmt::format("{:.1f} d", s / 86400);
}

// A backlog row: the store's cursors, plus configured upstreams that have none yet (they will
// receive everything held when the daemon next starts).
struct Row {
  UpstreamBacklog b;
  bool configured = true;
  bool has_cursor = true;
};

std::vector<Row> Rows(const StoreReport& r, const std::vector<std::string>& configured) {
  std::set<std::string> conf(configured.begin(), configured.end());
  std::vector<Row> rows;
  for (const UpstreamBacklog& b : r.upstreams) rows.push_back({b, conf.contains(b.name), true});
  for (const std::string& name : conf) {
    bool known = std::any_of(r.upstreams.begin(), r.upstreams.end(),
                             [&](const UpstreamBacklog& b) { return b.name == name; });
    if (known) continue;
    Row row;
    row.b.name = name;
    row.b.depth = r.records;
    row.has_cursor = false;
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return a.b.name < b.b.name; });
  return rows;
}

}  // namespace

std::string FormatBufferReport(const StoreReport& r, const std::vector<std::string>& configured,
                               std::int64_t max_bytes, std::int64_t max_age_s,
                               const std::string& full_policy, std::int64_t now_ns, bool json) {
  std::vector<Row> rows = Rows(r, configured);
  auto age_s = [&](const UpstreamBacklog& b) {
    return std::max(0.0, static_cast<double>(now_ns - b.oldest_ts_ns) / 1e9);
  };
  std::string out;
  if (json) {
    out += "{\"path\":";
    AppendJsonString(out, r.path);
    out += fmt::format(
        ",\"records\":{},\"first_seq\":{},\"last_seq\":{},\"bytes_on_disk\":{},\"bytes_used\":{},"
        "\"max_bytes\":{},\"max_age_s\":{},\"full_policy\":",
        r.records, r.first_seq, r.last_seq, r.bytes_on_disk, r.bytes_used, max_bytes, max_age_s);
    AppendJsonString(out, full_policy);
    out += fmt::format(
        ",\"dropped\":{{\"age\":{},\"size_readings\":{},\"size_events\":{},\"rejected\":{},"
        "\"total\":{}}},\"upstreams\":[",
        r.drops.age, r.drops.size_readings, r.drops.size_events, r.drops.rejected, r.drops.total());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& row = rows[i];
      if (i > 0) out += ',';
      out += "{\"name\":";
      AppendJsonString(out, row.b.name);
      out += fmt::format(",\"cursor\":{},\"depth\":{},\"oldest_pending_ts_ns\":", row.b.cursor,
                         row.b.depth);
      if (row.b.depth > 0 && row.has_cursor) {
        out += fmt::format("{},\"oldest_pending_age_s\":", row.b.oldest_ts_ns);
        AppendJsonNumber(out, age_s(row.b));
      } else {
        out += "null,\"oldest_pending_age_s\":null";
      }
      out += fmt::format(",\"configured\":{},\"has_cursor\":{}}}", row.configured, row.has_cursor);
    }
    out += "]}\n";
    return out;
  }
  out += fmt::format("store {}\n", r.path);
  out += fmt::format("  records held   {}", r.records);
  if (r.records > 0) out += fmt::format(" (seq {}..{})", r.first_seq, r.last_seq);
  out += fmt::format("\n  last seq       {}\n", r.last_seq);
  out += fmt::format("  size on disk   {} (database + WAL; pages in use {}; max_bytes {})\n",
                     HumanBytes(r.bytes_on_disk), HumanBytes(r.bytes_used),
                     max_bytes > 0 ? HumanBytes(max_bytes) : std::string("unbounded"));
  out += fmt::format("  bounds         max_age_s {}, full_policy {}\n",
                     max_age_s > 0 ? std::to_string(max_age_s) : std::string("unbounded"),
                     full_policy);
  out += fmt::format("  dropped        {} age, {} size_readings, {} size_events, {} rejected\n",
                     r.drops.age, r.drops.size_readings, r.drops.size_events, r.drops.rejected);
  out += fmt::format("\n  {:<20} {:>12} {:>10}  {}\n", "upstream", "cursor", "depth",
                     "oldest pending");
  for (const Row& row : rows) {
    std::string oldest = row.b.depth > 0 && row.has_cursor ? HumanAge(age_s(row.b)) : "-";
    std::string note;
    if (!row.configured) note = "  (no longer configured: its cursor is removed at next start)";
    if (!row.has_cursor) note = "  (new: receives everything held at next start)";
    out += fmt::format("  {:<20} {:>12} {:>10}  {}{}\n", row.b.name, row.b.cursor, row.b.depth,
                       oldest, note);
  }
  if (rows.empty()) out += "  (no upstreams)\n";
  return out;
}

int Buffer(const BufferOptions& options) {
  auto cfg = config::Load(options.config_path);
  if (!cfg) {
    std::fputs(cfg.error().ToString().c_str(), stderr);
    return kExitConfig;
  }
  Result<StoreReport> rep = InspectStore(cfg->store.path);
  if (!rep) {
    std::fprintf(stderr, "processnow buffer: %s\n", rep.error().ToString().c_str());
    switch (rep.error().code()) {
      case Code::kNotFound:
        return kExitNoInput;
      case Code::kCorruption:
      case Code::kInvalidArgument:
        return kExitDataErr;
      default:
        return kExitIoError;
    }
  }
  std::vector<std::string> configured;
  for (const auto& u : cfg->upstreams) configured.push_back(u.name);
  std::string text =
      FormatBufferReport(*rep, configured, cfg->store.max_bytes, cfg->store.max_age_s,
                         cfg->store.full_policy, SystemClock::Instance().NowNs(), options.json);
  std::fputs(text.c_str(), stdout);
  return kExitOk;
}

}  // namespace pn::service
