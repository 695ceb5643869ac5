// InspectStore: the read-only report behind `processnow buffer`. It opens the store file with a
// read-only connection (a WAL reader that neither waits for nor blocks the daemon's writer),
// refuses a foreign or newer file the same way Open does, and reads every number from one read
// transaction: records, sequence bounds, sizes, drop counters and each upstream's cursor, depth
// and oldest pending record. It never writes to the database.
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "gateway/store/sqlite_conn.h"
#include "gateway/store/store.h"
#include "gateway/store/store_schema.h"

namespace pn {
namespace {

using store_detail::CheckNotForeign;
using store_detail::ColumnText;
using store_detail::Conn;
using store_detail::DropField;
using store_detail::FileSize;
using store_detail::kDropKeys;
using store_detail::QueryIntArg;
using store_detail::StmtPtr;
using store_detail::ToSql;

}  // namespace

Result<StoreReport> InspectStore(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Err(
        Status::NotFound(fmt::format("store {}: no such file (the daemon creates it when "
                                     "it first starts)",
                                     path)));
  }
  Result<Conn> conn = Conn::Open(path, "normal", /*read_only=*/true);
  if (!conn) return Err(conn.error());
  Conn& c = *conn;
  if (Status s = CheckNotForeign(c); !s.ok()) return Err(s);
  Result<std::int64_t> version = c.QueryInt("PRAGMA user_version", "read schema version");
  if (!version) return Err(version.error());
  if (*version == 0) {
    return Err(Status::NotFound(fmt::format("store {}: empty file, no store yet", path)));
  }
  // One read transaction: every number below comes from the same snapshot.
  if (Status s = c.Exec("BEGIN", "begin read"); !s.ok()) return Err(s);
  StoreReport rep;
  rep.path = path;
  auto q = [&](const char* sql, std::string_view what) { return c.QueryInt(sql, what); };
  Result<std::int64_t> meta_last = q("SELECT value FROM meta WHERE key='last_seq'", "last_seq");
  Result<std::int64_t> max_seq = q("SELECT ifnull(max(seq), 0) FROM records", "max seq");
  Result<std::int64_t> min_seq = q("SELECT ifnull(min(seq), 0) FROM records", "min seq");
  Result<std::int64_t> count = q("SELECT count(*) FROM records", "count records");
  Result<std::int64_t> pages = q("PRAGMA page_count", "page count");
  Result<std::int64_t> free = q("PRAGMA freelist_count", "free pages");
  Result<std::int64_t> page_size = q("PRAGMA page_size", "page size");
  for (const auto* r : {&meta_last, &max_seq, &min_seq, &count, &pages, &free, &page_size}) {
    if (!*r) return Err(r->error());
  }
  rep.last_seq = static_cast<std::uint64_t>(std::max<std::int64_t>({*meta_last, *max_seq, 0}));
  rep.first_seq = static_cast<std::uint64_t>(*min_seq);
  rep.records = static_cast<std::uint64_t>(*count);
  for (int i = 0; i < 4; ++i) {
    std::string sql = fmt::format("SELECT value FROM meta WHERE key='{}'", kDropKeys[i]);
    Result<std::int64_t> v = c.QueryInt(sql.c_str(), "read drop counters");
    if (!v) return Err(v.error());
    *DropField(rep.drops, i) = static_cast<std::uint64_t>(std::max<std::int64_t>(0, *v));
  }
  Result<StmtPtr> cur = c.Prepare("SELECT upstream, acked FROM cursors ORDER BY upstream");
  if (!cur) return Err(cur.error());
  int rc;
  while ((rc = sqlite3_step(cur->get())) == SQLITE_ROW) {
    UpstreamBacklog b;
    b.name = ColumnText(cur->get(), 0);
    b.cursor =
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, sqlite3_column_int64(cur->get(), 1)));
    rep.upstreams.push_back(std::move(b));
  }
  if (rc != SQLITE_DONE) return Err(c.Error(rc, "read cursors"));
  for (UpstreamBacklog& b : rep.upstreams) {
    Result<std::int64_t> depth =
        QueryIntArg(c, "SELECT count(*) FROM records WHERE seq>?1", ToSql(b.cursor), "depth");
    if (!depth) return Err(depth.error());
    b.depth = static_cast<std::uint64_t>(*depth);
    Result<std::int64_t> oldest =
        QueryIntArg(c, "SELECT ts_ns FROM records WHERE seq>?1 ORDER BY seq LIMIT 1",
                    ToSql(b.cursor), "oldest pending record");
    if (!oldest) return Err(oldest.error());
    b.oldest_ts_ns = b.depth > 0 ? *oldest : 0;
  }
  (void)c.Exec("COMMIT", "end read");
  rep.bytes_on_disk = FileSize(path) + FileSize(path + "-wal");
  rep.bytes_used = (*pages - *free) * *page_size;
  return rep;
}

}  // namespace pn
