// SQLite implementation of pn::Store. Design notes (see README.md for the user-facing contract):
//
// - One writer connection, guarded by writer_mu_, runs Append and Ack. Every write is one
//   BEGIN IMMEDIATE ... COMMIT transaction, so a failed Append or Ack leaves nothing behind.
// - Readers (ReadAfter, Stats) take a connection from a small pool, so a forwarder reading in WAL
//   mode never waits for the writer and the writer never waits for a reader.
// - Sequence numbers are assigned here (last_seq_ + 1, ...). The last one assigned is always
//   max(meta.last_seq, max(records.seq)): Append adds higher seqs, and every transaction that
//   deletes records also writes last_seq_ to meta.last_seq. So seqs are never reused, even when
//   every record was deleted and the file reopened, and Append writes no extra page for it.
// - cursors_ mirrors the cursors table. It is changed only under writer_mu_ (after the commit that
//   changed the table) and read under cursors_mu_.
#include "gateway/store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gateway/store/store.h"

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

namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr int kSchemaVersion = 1;
constexpr std::size_t kMaxIdleReaders = 8;
// After a checkpoint resets the WAL, truncate it to this size so one burst does not keep the
// file large forever (SQLite's default never truncates).
constexpr const char* kJournalSizeLimit = "PRAGMA journal_size_limit=16777216";
constexpr std::uint64_t kMaxSeq =
    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

std::int64_t ToSql(std::uint64_t v) { return static_cast<std::int64_t>(std::min(v, kMaxSeq)); }

void BindText(sqlite3_stmt* s, int i, std::string_view text) {
  // A null destructor is SQLITE_STATIC: the text outlives the step.
  sqlite3_bind_text64(s, i, text.data(), text.size(), nullptr, SQLITE_UTF8);
}

std::string ColumnText(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

// One SQLite connection. Not safe for concurrent access: the owner serialises its use.
class Conn {
 public:
  static Result<Conn> Open(const std::string& path, const std::string& synchronous) {
    sqlite3* raw = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &raw,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    DbPtr db(raw);
    if (rc != SQLITE_OK) {
      return Err(
          SqliteStatus(rc, "open", path, db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(rc)));
    }
    Conn c(std::move(db), path);
    sqlite3_extended_result_codes(c.db(), 1);
    sqlite3_busy_timeout(c.db(), kBusyTimeoutMs);
    std::string sync_sql = "PRAGMA synchronous=" + synchronous;
    if (Status s = c.Exec(sync_sql.c_str(), "set synchronous"); !s.ok()) return Err(s);
    return c;
  }

  // Switches the file to WAL mode (persistent). REQUIRES: the file was checked to be ours or
  // empty: this writes the header.
  Status EnableWal() {
    Result<std::string> mode = QueryText("PRAGMA journal_mode=WAL", "set WAL mode");
    if (!mode) return mode.error();
    if (*mode != "wal") {
      return Status::IoError(
          fmt::format("store {}: cannot use WAL mode (journal_mode is {})", path_, *mode));
    }
    return Status::Ok();
  }

  sqlite3* db() const { return db_.get(); }
  const std::string& path() const { return path_; }

  Status Error(int rc, std::string_view what) const {
    return SqliteStatus(rc, what, path_, sqlite3_errmsg(db_.get()));
  }

  Status Exec(const char* sql, std::string_view what) {
    int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::Ok() : Error(rc, what);
  }

  Result<StmtPtr> Prepare(const char* sql) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StmtPtr s(raw);
    if (rc != SQLITE_OK) return Err(Error(rc, fmt::format("prepare \"{}\"", sql)));
    return s;
  }

  // Steps a statement that returns no rows and resets it.
  Status StepDone(sqlite3_stmt* s, std::string_view what) {
    int rc = sqlite3_step(s);
    Status st = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? Status::Ok() : Error(rc, what);
    sqlite3_reset(s);
    return st;
  }

  // Runs a one-row, one-column query and returns the column as text ("" for no row).
  Result<std::string> QueryText(const char* sql, std::string_view what) {
    Result<StmtPtr> s = Prepare(sql);
    if (!s) return Err(s.error());
    int rc = sqlite3_step(s->get());
    if (rc == SQLITE_ROW) return ColumnText(s->get(), 0);
    if (rc == SQLITE_DONE) return std::string();
    return Err(Error(rc, what));
  }

  Result<std::int64_t> QueryInt(const char* sql, std::string_view what) {
    Result<StmtPtr> s = Prepare(sql);
    if (!s) return Err(s.error());
    int rc = sqlite3_step(s->get());
    if (rc == SQLITE_ROW) return sqlite3_column_int64(s->get(), 0);
    if (rc == SQLITE_DONE) return 0;
    return Err(Error(rc, what));
  }

  // Rolls back the open transaction, if any (SQLite may already have rolled it back).
  void Rollback() {
    if (sqlite3_get_autocommit(db_.get()) == 0) {
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

 private:
  Conn(DbPtr db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}

  DbPtr db_;
  std::string path_;
};

// Refuses, without writing anything, a file that is not an SQLite database, is damaged, is
// another program's database or is from a newer version of this program.
Status CheckNotForeign(Conn& c) {
  // The first read of the header: a foreign or damaged file fails here (NOTADB, CORRUPT).
  Result<std::int64_t> version = c.QueryInt("PRAGMA user_version", "read schema version");
  if (!version) return version.error();
  if (*version > kSchemaVersion) {
    return Status::InvalidArgument(
        fmt::format("store {}: schema version {} is newer than this program's ({})", c.path(),
                    *version, kSchemaVersion));
  }
  if (*version == 0) {
    Result<std::int64_t> objects =
        c.QueryInt("SELECT count(*) FROM sqlite_schema", "inspect schema");
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

// Creates the schema in a fresh file, or checks that an existing file holds our schema.
Status EnsureSchema(Conn& c) {
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
      INSERT INTO meta(key, value) VALUES('last_seq', 0);
      PRAGMA user_version = 1;
    )sql";
    if (Status s = c.Exec(kSchema, "create schema"); !s.ok()) return fail(s);
  }
  if (Status s = c.Exec("COMMIT", "commit schema"); !s.ok()) return fail(s);
  return Status::Ok();
}

class SqliteStore final : public Store {
 public:
  SqliteStore(StoreOptions options, Conn writer)
      : options_(std::move(options)), writer_(std::move(writer)) {}

  ~SqliteStore() override {
    // Statements before connections (sqlite3_close_v2 would defer anyway).
    idle_readers_.clear();
  }

  // Loads state, reconciles cursors with `upstreams` and prepares the writer's statements.
  Status Init(const std::vector<std::string>& upstreams) {
    Result<std::int64_t> meta_last =
        writer_.QueryInt("SELECT value FROM meta WHERE key='last_seq'", "read last_seq");
    if (!meta_last) return meta_last.error();
    Result<std::int64_t> max_seq =
        writer_.QueryInt("SELECT ifnull(max(seq), 0) FROM records", "read max seq");
    if (!max_seq) return max_seq.error();
    last_seq_ = static_cast<std::uint64_t>(std::max<std::int64_t>({*meta_last, *max_seq, 0}));

    if (Status s = ReconcileCursors(upstreams); !s.ok()) return s;

    struct {
      StmtPtr* stmt;
      const char* sql;
    } const stmts[] = {
        {&begin_, "BEGIN IMMEDIATE"},
        {&commit_, "COMMIT"},
        {&insert_,
         "INSERT INTO records(seq, kind, ts_ns, device, series, body) VALUES(?1,?2,?3,?4,?5,?6)"},
        {&set_last_seq_, "UPDATE meta SET value=?1 WHERE key='last_seq'"},
        {&ack_, "UPDATE cursors SET acked=?2 WHERE upstream=?1 AND acked<?2"},
        {&delete_, "DELETE FROM records WHERE seq<=?1"},
    };
    for (const auto& st : stmts) {
      Result<StmtPtr> p = writer_.Prepare(st.sql);
      if (!p) return p.error();
      *st.stmt = std::move(*p);
    }
    return Status::Ok();
  }

  Result<std::uint64_t> Append(std::span<const NewRecord> records) override {
    std::lock_guard lock(writer_mu_);
    std::uint64_t seq = last_seq_.load();
    if (records.empty()) return seq;
    if (seq + records.size() > kMaxSeq) {
      return Err(Status::ResourceExhausted(
          fmt::format("store {}: sequence numbers exhausted", options_.path)));
    }
    if (Status s = writer_.StepDone(begin_.get(), "begin append"); !s.ok()) return Err(s);
    sqlite3_stmt* ins = insert_.get();
    for (const NewRecord& r : records) {
      ++seq;
      sqlite3_bind_int64(ins, 1, static_cast<std::int64_t>(seq));
      sqlite3_bind_int(ins, 2, static_cast<int>(r.kind));
      sqlite3_bind_int64(ins, 3, r.ts_ns);
      BindText(ins, 4, r.device);
      BindText(ins, 5, r.series);
      BindText(ins, 6, r.body);
      int rc = sqlite3_step(ins);
      if (rc != SQLITE_DONE) {
        Status s = writer_.Error(rc, fmt::format("append seq {}", seq));
        sqlite3_reset(ins);
        writer_.Rollback();
        return Err(s);
      }
      sqlite3_reset(ins);
    }
    if (Status s = writer_.StepDone(commit_.get(), "commit append"); !s.ok()) {
      writer_.Rollback();
      return Err(s);
    }
    last_seq_.store(seq);
    return seq;
  }

  Result<std::vector<Record>> ReadAfter(std::uint64_t after_seq, std::size_t limit) override {
    std::vector<Record> out;
    if (limit == 0) return out;
    Result<std::unique_ptr<Reader>> reader = AcquireReader();
    if (!reader) return Err(reader.error());
    Reader& rd = **reader;
    sqlite3_stmt* s = rd.read.get();
    sqlite3_bind_int64(s, 1, ToSql(after_seq));
    sqlite3_bind_int64(s, 2, static_cast<std::int64_t>(std::min<std::uint64_t>(limit, kMaxSeq)));
    out.reserve(std::min<std::size_t>(limit, 1024));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      Record r;
      r.seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
      r.kind = static_cast<RecordKind>(sqlite3_column_int(s, 1));
      r.ts_ns = sqlite3_column_int64(s, 2);
      r.device = ColumnText(s, 3);
      r.series = ColumnText(s, 4);
      r.body = ColumnText(s, 5);
      out.push_back(std::move(r));
    }
    Status st = rc == SQLITE_DONE ? Status::Ok() : rd.conn.Error(rc, "read records");
    sqlite3_reset(s);
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return Err(st);
    return out;
  }

  std::uint64_t Cursor(std::string_view upstream) const override {
    std::lock_guard lock(cursors_mu_);
    auto it = cursors_.find(upstream);
    return it == cursors_.end() ? 0 : it->second;
  }

  Status Ack(std::string_view upstream, std::uint64_t seq) override {
    std::lock_guard lock(writer_mu_);
    std::uint64_t current;
    std::uint64_t new_min = seq;
    {
      std::lock_guard cursors_lock(cursors_mu_);
      auto it = cursors_.find(upstream);
      if (it == cursors_.end()) {
        return Status::NotFound(
            fmt::format("store {}: no cursor for upstream '{}'", options_.path, upstream));
      }
      current = it->second;
      for (const auto& [name, acked] : cursors_) {
        if (name != upstream) new_min = std::min(new_min, acked);
      }
    }
    if (seq <= current) return Status::Ok();  // never backwards; a repeated ack is a no-op
    if (seq > last_seq_.load()) {
      return Status::InvalidArgument(
          fmt::format("store {}: upstream '{}' acked seq {} beyond the last assigned seq {}",
                      options_.path, upstream, seq, last_seq_.load()));
    }
    if (Status s = writer_.StepDone(begin_.get(), "begin ack"); !s.ok()) return s;
    BindText(ack_.get(), 1, upstream);
    sqlite3_bind_int64(ack_.get(), 2, static_cast<std::int64_t>(seq));
    if (Status s = writer_.StepDone(ack_.get(), "move cursor"); !s.ok()) {
      writer_.Rollback();
      return s;
    }
    const bool purge = new_min > deleted_through_;
    if (purge) {
      sqlite3_bind_int64(delete_.get(), 1, static_cast<std::int64_t>(new_min));
      if (Status s = writer_.StepDone(delete_.get(), "delete acknowledged records"); !s.ok()) {
        writer_.Rollback();
        return s;
      }
      sqlite3_bind_int64(set_last_seq_.get(), 1, static_cast<std::int64_t>(last_seq_.load()));
      if (Status s = writer_.StepDone(set_last_seq_.get(), "record last_seq"); !s.ok()) {
        writer_.Rollback();
        return s;
      }
    }
    if (Status s = writer_.StepDone(commit_.get(), "commit ack"); !s.ok()) {
      writer_.Rollback();
      return s;
    }
    if (purge) deleted_through_ = new_min;
    std::lock_guard cursors_lock(cursors_mu_);
    cursors_.find(upstream)->second = seq;
    return Status::Ok();
  }

  std::uint64_t LastSeq() const override { return last_seq_.load(); }

  StoreStats Stats() const override {
    StoreStats st;
    st.last_seq = last_seq_.load();
    {
      std::lock_guard lock(cursors_mu_);
      st.cursors.insert(cursors_.begin(), cursors_.end());
    }
    Result<std::unique_ptr<Reader>> reader = AcquireReader();
    if (reader) {
      sqlite3_stmt* s = (*reader)->bounds.get();
      if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
        // Sequence numbers are consecutive and only a prefix is ever deleted, so the records
        // held are exactly [min, max]: O(log n) instead of count(*).
        auto lo = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
        auto hi = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
        st.first_seq = lo;
        st.records = hi - lo + 1;
      }
      sqlite3_reset(s);
      ReleaseReader(std::move(*reader));
    } else {
      spdlog::warn("{}", reader.error().ToString());
    }
    std::error_code ec;
    for (const char* suffix : {"", "-wal"}) {
      auto size = std::filesystem::file_size(options_.path + suffix, ec);
      if (!ec) st.bytes_on_disk += static_cast<std::int64_t>(size);
    }
    return st;
  }

 private:
  struct Reader {
    Conn conn;
    StmtPtr read;
    StmtPtr bounds;
  };

  Status ReconcileCursors(const std::vector<std::string>& upstreams) {
    std::set<std::string, std::less<>> wanted(upstreams.begin(), upstreams.end());
    if (Status s = writer_.Exec("BEGIN IMMEDIATE", "begin cursor update"); !s.ok()) return s;
    auto fail = [&](Status s) {
      writer_.Rollback();
      return s;
    };
    std::map<std::string, std::uint64_t, std::less<>> existing;
    {
      Result<StmtPtr> sel = writer_.Prepare("SELECT upstream, acked FROM cursors");
      if (!sel) return fail(sel.error());
      int rc;
      while ((rc = sqlite3_step(sel->get())) == SQLITE_ROW) {
        existing[ColumnText(sel->get(), 0)] = static_cast<std::uint64_t>(
            std::max<std::int64_t>(0, sqlite3_column_int64(sel->get(), 1)));
      }
      if (rc != SQLITE_DONE) return fail(writer_.Error(rc, "read cursors"));
    }
    Result<StmtPtr> del = writer_.Prepare("DELETE FROM cursors WHERE upstream=?1");
    if (!del) return fail(del.error());
    Result<StmtPtr> add = writer_.Prepare("INSERT INTO cursors(upstream, acked) VALUES(?1, 0)");
    if (!add) return fail(add.error());
    std::vector<std::string> removed;
    std::vector<std::string> added;
    for (const auto& [name, acked] : existing) {
      if (wanted.contains(name)) continue;
      BindText(del->get(), 1, name);
      if (Status s = writer_.StepDone(del->get(), "remove cursor"); !s.ok()) return fail(s);
      removed.push_back(name);
    }
    for (const std::string& name : wanted) {
      if (existing.contains(name)) continue;
      BindText(add->get(), 1, name);
      if (Status s = writer_.StepDone(add->get(), "add cursor"); !s.ok()) return fail(s);
      added.push_back(name);
    }
    std::map<std::string, std::uint64_t, std::less<>> cursors;
    for (const std::string& name : wanted) {
      auto it = existing.find(name);
      cursors[name] = it == existing.end() ? 0 : it->second;
    }
    // Removing a slow upstream may release records everyone else has acknowledged.
    std::uint64_t min_cursor = 0;
    if (!cursors.empty()) {
      min_cursor = std::numeric_limits<std::uint64_t>::max();
      for (const auto& [name, acked] : cursors) min_cursor = std::min(min_cursor, acked);
    }
    if (min_cursor > 0) {
      Result<StmtPtr> purge = writer_.Prepare("DELETE FROM records WHERE seq<=?1");
      if (!purge) return fail(purge.error());
      sqlite3_bind_int64(purge->get(), 1, ToSql(min_cursor));
      if (Status s = writer_.StepDone(purge->get(), "delete acknowledged records"); !s.ok()) {
        return fail(s);
      }
      Result<StmtPtr> mark = writer_.Prepare("UPDATE meta SET value=?1 WHERE key='last_seq'");
      if (!mark) return fail(mark.error());
      sqlite3_bind_int64(mark->get(), 1, static_cast<std::int64_t>(last_seq_.load()));
      if (Status s = writer_.StepDone(mark->get(), "record last_seq"); !s.ok()) return fail(s);
    }
    if (Status s = writer_.Exec("COMMIT", "commit cursor update"); !s.ok()) return fail(s);
    for (const auto& name : added)
      spdlog::info("store {}: new cursor for upstream '{}'", options_.path, name);
    for (const auto& name : removed) {
      spdlog::warn("store {}: removed cursor of upstream '{}' (no longer configured)",
                   options_.path, name);
    }
    deleted_through_ = min_cursor;
    std::lock_guard lock(cursors_mu_);
    cursors_ = std::move(cursors);
    return Status::Ok();
  }

  Result<std::unique_ptr<Reader>> AcquireReader() const {
    {
      std::lock_guard lock(readers_mu_);
      if (!idle_readers_.empty()) {
        std::unique_ptr<Reader> r = std::move(idle_readers_.back());
        idle_readers_.pop_back();
        return r;
      }
    }
    Result<Conn> conn = Conn::Open(options_.path, options_.synchronous);
    if (!conn) return Err(conn.error());
    Result<StmtPtr> read = conn->Prepare(
        "SELECT seq, kind, ts_ns, device, series, body FROM records WHERE seq>?1 "
        "ORDER BY seq LIMIT ?2");
    if (!read) return Err(read.error());
    Result<StmtPtr> bounds = conn->Prepare("SELECT min(seq), max(seq) FROM records");
    if (!bounds) return Err(bounds.error());
    return std::unique_ptr<Reader>(
        new Reader{std::move(*conn), std::move(*read), std::move(*bounds)});
  }

  void ReleaseReader(std::unique_ptr<Reader> r) const {
    std::lock_guard lock(readers_mu_);
    if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(r));
  }

  const StoreOptions options_;

  std::mutex writer_mu_;  // guards writer_, its statements and deleted_through_
  Conn writer_;
  StmtPtr begin_, commit_, insert_, set_last_seq_, ack_, delete_;
  std::uint64_t deleted_through_ = 0;  // records with seq <= this are gone

  std::atomic<std::uint64_t> last_seq_{0};  // written under writer_mu_

  mutable std::mutex cursors_mu_;
  std::map<std::string, std::uint64_t, std::less<>> cursors_;

  mutable std::mutex readers_mu_;
  mutable std::vector<std::unique_ptr<Reader>> idle_readers_;
};

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options,
                                           const std::vector<std::string>& upstreams) {
  if (options.path.empty()) return Err(Status::InvalidArgument("store: path is empty"));
  if (options.synchronous != "normal" && options.synchronous != "full") {
    return Err(Status::InvalidArgument(
        fmt::format("store {}: synchronous must be \"normal\" or \"full\", not \"{}\"",
                    options.path, options.synchronous)));
  }
  Result<Conn> writer = Conn::Open(options.path, options.synchronous);
  if (!writer) return Err(writer.error());
  if (Status s = CheckNotForeign(*writer); !s.ok()) return Err(s);
  if (Status s = writer->EnableWal(); !s.ok()) return Err(s);
  if (Status s = writer->Exec(kJournalSizeLimit, "limit WAL size"); !s.ok()) return Err(s);
  if (Status s = EnsureSchema(*writer); !s.ok()) return Err(s);
  auto store = std::make_unique<SqliteStore>(options, std::move(*writer));
  if (Status s = store->Init(upstreams); !s.ok()) return Err(s);
  StoreStats st = store->Stats();
  spdlog::info("store {}: opened, {} records held, last seq {}, {} upstreams", options.path,
               st.records, st.last_seq, st.cursors.size());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace pn
