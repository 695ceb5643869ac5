// The store file's schema: the checks that a file is ours (or empty) before anything writes to
// it, the creation of the records, cursors and meta tables in a fresh file, and the mapping of
// the drop counters to their meta rows (declared in store_schema.h).
#include "gateway/store/store_schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>

namespace pn::store_detail {

Status CheckNotForeign(Conn& c) {
  // The first read of the header: a foreign or damaged file fails here (NOTADB, CORRUPT).
  Result<std::int64_t> version = c.QueryInt("PRAGMA user_version", "read schema version");
  if (!version) return version.error();
  if (*version > kSchemaVersion) {
    // A downgrade: this build cannot know what the newer schema means, so it neither reads
    // nor writes the file, and it is not "corrupt" either (never moved aside).
    return Status::InvalidArgument(fmt::format(
        "store {}: schema version {} is newer than this program's (schema version {}): the file "
        "was written by a newer processnow, and a downgrade is not supported. Refusing to open "
        "it; it is left untouched. Run the newer version again, or move the file away to start "
        "with an empty store",
        c.path(), *version, kSchemaVersion));
  }
  if (*version == 0) {
    // One statement, one snapshot: the version and the schema are read together, so a store
    // that another process creates (and versions, in the same transaction) between two reads
    // is not mistaken for a foreign database.
    Result<std::int64_t> objects = c.QueryInt(
        "SELECT CASE WHEN user_version = 0 THEN (SELECT count(*) FROM sqlite_schema) ELSE 0 END "
        "FROM pragma_user_version",
        "inspect schema");
    if (!objects) return objects.error();
    if (*objects != 0) {
      return Status::Corruption(fmt::format(
          "store {}: an SQLite database that is not a processnow store ({} schema objects, "
          "user_version 0); refusing to touch it",
          c.path(), *objects));
    }
  }
  return Status::Ok();
}

Status EnsureSchema(Conn& c, std::uint64_t first_last_seq) {
  if (Status s = c.Exec("BEGIN IMMEDIATE", "begin schema transaction"); !s.ok()) return s;
  auto fail = [&](Status s) {
    c.Rollback();
    return s;
  };
  // Checked again under the write lock: another process may have created the file meanwhile.
  if (Status s = CheckNotForeign(c); !s.ok()) return fail(s);
  Result<std::int64_t> version = c.QueryInt("PRAGMA user_version", "read schema version");
  if (!version) return fail(version.error());
  if (*version == 0) {
    static constexpr const char* kSchema = R"sql(
      CREATE TABLE records(
        seq    INTEGER PRIMARY KEY,
        kind   INTEGER NOT NULL,
        ts_ns  INTEGER NOT NULL,
        device TEXT NOT NULL,
        series TEXT NOT NULL,
        body   TEXT NOT NULL);
      CREATE TABLE cursors(
        upstream TEXT PRIMARY KEY,
        acked    INTEGER NOT NULL);
      CREATE TABLE meta(
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL);
      PRAGMA user_version = 1;
    )sql";
    if (Status s = c.Exec(kSchema, "create schema"); !s.ok()) return fail(s);
    std::string init = fmt::format("INSERT INTO meta(key, value) VALUES('last_seq', {})",
                                   std::min(first_last_seq, kMaxSeq));
    if (Status s = c.Exec(init.c_str(), "initialise last_seq"); !s.ok()) return fail(s);
  }
  if (Status s = c.Exec("COMMIT", "commit schema"); !s.ok()) return fail(s);
  return Status::Ok();
}

std::uint64_t* DropField(StoreDrops& d, int i) {
  switch (i) {
    case 0:
      return &d.age;
    case 1:
      return &d.size_readings;
    case 2:
      return &d.size_events;
    default:
      return &d.rejected;
  }
}

StoreDrops& operator+=(StoreDrops& a, const StoreDrops& b) {
  a.age += b.age;
  a.size_readings += b.size_readings;
  a.size_events += b.size_events;
  a.rejected += b.rejected;
  return a;
}

}  // namespace pn::store_detail
