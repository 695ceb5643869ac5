// The connection layer of the SQLite store: SqliteStatus (the public SQLite code -> Status map
// declared in sqlite_store.h), Conn's member functions (open, WAL switch, exec/prepare/step/query
// with errors that name the path and SQLite's message, disk-full detection, rollback) and the
// column and file helpers declared in sqlite_conn.h. No knowledge of the store's tables.
#include "gateway/store/sqlite_conn.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace pn {

Status SqliteStatus(int rc, std::string_view what, std::string_view path,
                    std::string_view sqlite_message) {
  std::string msg =
      fmt::format("store {}: {}: {} (sqlite code {})", path, what, sqlite_message, rc);
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return Status::Corruption(std::move(msg));
    case SQLITE_FULL:
      return Status::ResourceExhausted(std::move(msg));
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return Status::IoError(std::move(msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

namespace store_detail {

std::string ColumnText(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

std::int64_t FileSize(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<std::int64_t>(size);
}

Result<Conn> Conn::Open(const std::string& path, const std::string& synchronous, bool read_only) {
  sqlite3* raw = nullptr;
  int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    return Err(SqliteStatus(rc, "open", path, db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(rc)));
  }
  Conn c(std::move(db), path);
  sqlite3_extended_result_codes(c.db(), 1);
  sqlite3_busy_timeout(c.db(), kBusyTimeoutMs);
  if (read_only) return c;
  std::string sync_sql = "PRAGMA synchronous=" + synchronous;
  if (Status s = c.Exec(sync_sql.c_str(), "set synchronous"); !s.ok()) return Err(s);
  return c;
}

Status Conn::EnableWal() {
  Result<std::string> mode = QueryText("PRAGMA journal_mode=WAL", "set WAL mode");
  if (!mode) return mode.error();
  if (*mode != "wal") {
    return Status::IoError(
        fmt::format("store {}: cannot use WAL mode (journal_mode is {})", path_, *mode));
  }
  return Status::Ok();
}

Status Conn::Error(int rc, std::string_view what) const {
  if (rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_TRUNCATE || rc == SQLITE_IOERR_FSYNC) {
    std::string why = DiskFullReason(sqlite3_system_errno(db_.get()));
    if (!why.empty()) {
      return Status::ResourceExhausted(
          fmt::format("store {}: {}: disk full: {} (sqlite code {})", path_, what, why, rc));
    }
  }
  return SqliteStatus(rc, what, path_, sqlite3_errmsg(db_.get()));
}

std::string Conn::DiskFullReason(int saved_errno) const {
  if (saved_errno == ENOSPC || saved_errno == EFBIG || saved_errno == EDQUOT) {
    return std::strerror(saved_errno);
  }
  struct rlimit rl {};
  if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    std::error_code ec;
    for (const std::string& f : {path_, path_ + "-wal"}) {
      auto size = std::filesystem::file_size(f, ec);
      if (!ec && size + 65536 >= rl.rlim_cur) {
        return fmt::format("{} reached the file size limit (RLIMIT_FSIZE {} bytes)", f,
                           rl.rlim_cur);
      }
    }
  }
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  struct statvfs vfs {};
  if (statvfs(dir.empty() ? "." : dir.c_str(), &vfs) == 0 &&
      static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize < 256 * 1024) {
    return fmt::format("{} has {} bytes free", dir.string(),
                       static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize);
  }
  return {};
}

Status Conn::Exec(const char* sql, std::string_view what) {
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : Error(rc, what);
}

Result<StmtPtr> Conn::Prepare(const char* sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  StmtPtr s(raw);
  if (rc != SQLITE_OK) return Err(Error(rc, fmt::format("prepare \"{}\"", sql)));
  return s;
}

Status Conn::StepDone(sqlite3_stmt* s, std::string_view what) {
  int rc = sqlite3_step(s);
  Status st = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? Status::Ok() : Error(rc, what);
  sqlite3_reset(s);
  return st;
}

Result<std::string> Conn::QueryText(const char* sql, std::string_view what) {
  Result<StmtPtr> s = Prepare(sql);
  if (!s) return Err(s.error());
  int rc = sqlite3_step(s->get());
  if (rc == SQLITE_ROW) return ColumnText(s->get(), 0);
  if (rc == SQLITE_DONE) return std::string();
  return Err(Error(rc, what));
}

Result<std::int64_t> Conn::QueryInt(const char* sql, std::string_view what) {
  Result<StmtPtr> s = Prepare(sql);
  if (!s) return Err(s.error());
  int rc = sqlite3_step(s->get());
  if (rc == SQLITE_ROW) return sqlite3_column_int64(s->get(), 0);
  if (rc == SQLITE_DONE) return 0;
  return Err(Error(rc, what));
}

void Conn::Rollback() {
  if (sqlite3_get_autocommit(db_.get()) == 0) {
    sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

Result<std::int64_t> QueryIntArg(Conn& c, const char* sql, std::int64_t arg,
                                 std::string_view what) {
  Result<StmtPtr> s = c.Prepare(sql);
  if (!s) return Err(s.error());
  sqlite3_bind_int64(s->get(), 1, arg);
  int rc = sqlite3_step(s->get());
  if (rc == SQLITE_ROW) return sqlite3_column_int64(s->get(), 0);
  if (rc == SQLITE_DONE) return 0;
  return Err(c.Error(rc, what));
}

}  // namespace store_detail
}  // namespace pn
