// Internal to gateway/store: one SQLite connection and the small helpers around it. Conn owns a
// sqlite3 handle and turns every failed call into a Status (SqliteStatus, plus the disk-full
// detection SQLite's own codes miss); DbPtr/StmtPtr are the owning handles, and ToSql, BindText,
// ColumnText, QueryIntArg and FileSize are the bind/column/file helpers that the store, its
// schema code and InspectStore share. Nothing here knows the store's schema. Not an API: other
// code uses store.h.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"
#include "gateway/store/sqlite_store.h"

namespace pn::store_detail {

inline constexpr int kBusyTimeoutMs = 5000;
inline constexpr std::uint64_t kMaxSeq =
    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

inline std::int64_t ToSql(std::uint64_t v) {
  return static_cast<std::int64_t>(std::min(v, kMaxSeq));
}

inline void BindText(sqlite3_stmt* s, int i, std::string_view text) {
  // A null destructor is SQLITE_STATIC: the text outlives the step.
  sqlite3_bind_text64(s, i, text.data(), text.size(), nullptr, SQLITE_UTF8);
}

std::string ColumnText(sqlite3_stmt* s, int i);

// The size of a file, 0 when it does not exist or cannot be read.
std::int64_t FileSize(const std::string& path);

// One SQLite connection. Not safe for concurrent access: the owner serialises its use.
class Conn {
 public:
  static Result<Conn> Open(const std::string& path, const std::string& synchronous,
                           bool read_only = false);

  // Switches the file to WAL mode (persistent). REQUIRES: the file was checked to be ours or
  // empty: this writes the header.
  Status EnableWal();

  sqlite3* db() const { return db_.get(); }
  const std::string& path() const { return path_; }

  // The Status for a failed call. A write error while the disk (or the process's file size
  // limit, RLIMIT_FSIZE) is full is ResourceExhausted, like SQLITE_FULL: SQLite reports a write
  // that fails with EFBIG, or with ENOSPC before anything was written, as SQLITE_IOERR_WRITE.
  Status Error(int rc, std::string_view what) const;

  // Why writing to the store's files fails for lack of space, or "" when it does not look so.
  // SQLite's saved errno is not reliable (it is read after later system calls), so this also
  // looks at the free space and the file size limit.
  std::string DiskFullReason(int saved_errno) const;

  Status Exec(const char* sql, std::string_view what);

  Result<StmtPtr> Prepare(const char* sql);

  // Steps a statement that returns no rows and resets it.
  Status StepDone(sqlite3_stmt* s, std::string_view what);

  // Runs a one-row, one-column query and returns the column as text ("" for no row).
  Result<std::string> QueryText(const char* sql, std::string_view what);

  Result<std::int64_t> QueryInt(const char* sql, std::string_view what);

  // Rolls back the open transaction, if any (SQLite may already have rolled it back).
  void Rollback();

 private:
  Conn(DbPtr db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}

  DbPtr db_;
  std::string path_;
};

// Runs a one-row query with one int64 parameter; 0 when there is no row or it is NULL.
Result<std::int64_t> QueryIntArg(Conn& c, const char* sql, std::int64_t arg, std::string_view what);

}  // namespace pn::store_detail
