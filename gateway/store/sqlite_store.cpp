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
// - Bounds (max_bytes, max_age_s) are enforced inside the Append transaction: drops, the insert,
//   the drop counters (meta) and last_seq commit together or not at all. Size is judged from page
//   counts (page_count - freelist_count), not the file size, because deleting rows frees pages
//   inside the file; free pages beyond a slack are returned with incremental vacuum.
// - Checkpoints are run here (not by SQLite's auto-checkpoint, whose errors are silent) so a
//   checkpoint that fails because the disk is full is seen and the store shrinks to fit.
#include "gateway/store/sqlite_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

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
constexpr int kRestartWaitMs = 1000;  // how long a checkpoint waits for readers
constexpr int kSchemaVersion = 1;
constexpr std::size_t kMaxIdleReaders = 8;
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
  static Result<Conn> Open(const std::string& path, const std::string& synchronous,
                           bool read_only = false) {
    sqlite3* raw = nullptr;
    int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    DbPtr db(raw);
    if (rc != SQLITE_OK) {
      return Err(
          SqliteStatus(rc, "open", path, db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(rc)));
    }
    Conn c(std::move(db), path);
    sqlite3_extended_result_codes(c.db(), 1);
    sqlite3_busy_timeout(c.db(), kBusyTimeoutMs);
    if (read_only) return c;
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

  // The Status for a failed call. A write error while the disk (or the process's file size
  // limit, RLIMIT_FSIZE) is full is ResourceExhausted, like SQLITE_FULL: SQLite reports a write
  // that fails with EFBIG, or with ENOSPC before anything was written, as SQLITE_IOERR_WRITE.
  Status Error(int rc, std::string_view what) const {
    if (rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_TRUNCATE || rc == SQLITE_IOERR_FSYNC) {
      std::string why = DiskFullReason(sqlite3_system_errno(db_.get()));
      if (!why.empty()) {
        return Status::ResourceExhausted(
            fmt::format("store {}: {}: disk full: {} (sqlite code {})", path_, what, why, rc));
      }
    }
    return SqliteStatus(rc, what, path_, sqlite3_errmsg(db_.get()));
  }

  // Why writing to the store's files fails for lack of space, or "" when it does not look so.
  // SQLite's saved errno is not reliable (it is read after later system calls), so this also
  // looks at the free space and the file size limit.
  std::string DiskFullReason(int saved_errno) const {
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

// Creates the schema in a fresh file, or checks that an existing file holds our schema.
// A new file starts at `first_last_seq` (0, or above an old file's numbers after a move-aside).
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

constexpr std::int64_t kMinMaxBytes = 256 * 1024;
constexpr std::uint64_t kRebootSeqGap = std::uint64_t{1} << 32;
constexpr std::int64_t kUnboundedWalLimit = 16 * 1024 * 1024;
constexpr std::int64_t kRecordOverheadBytes = 40;        // rowid, cell header, pointer, ts, kind
constexpr std::int64_t kLogIntervalNs = 10'000'000'000;  // drop / disk-full logs at most this often
constexpr std::int64_t kAgeCheckIntervalNs = 1'000'000'000;  // age bound checked at most this often
constexpr std::int64_t kDiskCapNs =
    60'000'000'000;  // after a disk-full error, stay small this long
constexpr std::int64_t kDiskGrowIntervalNs = 1'000'000'000;  // then grow by a step this often
constexpr std::int64_t kDiskGrowMinBytes = 1 << 20;          // a step: 1/8 of the cap, >= this
constexpr std::int64_t kMaxVacuumPagesPerTxn = 4096;

constexpr const char* kDropKeys[] = {"dropped_age", "dropped_size_readings", "dropped_size_events",
                                     "dropped_rejected"};

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

std::int64_t FileSize(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<std::int64_t>(size);
}

// YYYYMMDDTHHMMSSZ. Calendar arithmetic in std::chrono's 64-bit types, not time_t: that is 32
// bits on Debian 12 armhf and would wrap in 2038.
std::string UtcStamp(std::int64_t now_ns) {
  using namespace std::chrono;
  const auto t = floor<seconds>(sys_time<nanoseconds>(nanoseconds(now_ns)));
  const auto day = floor<days>(t);
  const year_month_day ymd(day);
  const hh_mm_ss hms(t - day);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

const char* PolicyName(FullPolicy p) {
  return p == FullPolicy::kRejectNew ? "reject_new" : "drop_oldest";
}

class SqliteStore final : public Store {
 public:
  SqliteStore(StoreOptions options, Conn writer)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? *options_.clock : SystemClock::Instance()),
        writer_(std::move(writer)) {
    if (options_.max_bytes > 0) {
      wal_limit_ = std::clamp<std::int64_t>(options_.max_bytes / 8, 64 * 1024, kUnboundedWalLimit);
      budget_ = options_.max_bytes - wal_limit_;
    } else {
      wal_limit_ = kUnboundedWalLimit;
    }
  }

  ~SqliteStore() override {
    FlushDropLog();
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
    for (int i = 0; i < 4; ++i) {
      std::string sql = fmt::format("SELECT value FROM meta WHERE key='{}'", kDropKeys[i]);
      Result<std::int64_t> v = writer_.QueryInt(sql.c_str(), "read drop counters");
      if (!v) return v.error();
      *DropField(drops_, i) = static_cast<std::uint64_t>(std::max<std::int64_t>(0, *v));
    }
    Result<std::int64_t> page_size = writer_.QueryInt("PRAGMA page_size", "read page size");
    if (!page_size) return page_size.error();
    page_size_ = std::max<std::int64_t>(512, *page_size);
    checkpoint_frames_ =
        static_cast<int>(std::clamp<std::int64_t>(wal_limit_ / page_size_ / 2, 4, 1000));
    std::string limit = fmt::format("PRAGMA journal_size_limit={}", wal_limit_);
    if (Status s = writer_.Exec(limit.c_str(), "limit WAL size"); !s.ok()) return s;
    // We checkpoint ourselves (see Checkpoint()); the hook only counts the WAL's frames.
    sqlite3_wal_hook(writer_.db(), &SqliteStore::WalHook, this);

    if (Status s = CheckReboot(); !s.ok()) return s;
    // The number of records held is kept in meta by every transaction that inserts or deletes,
    // so Open is O(1). A file without it (written before it existed) is counted once.
    Result<std::int64_t> stored = writer_.QueryInt(
        "SELECT ifnull((SELECT value FROM meta WHERE key='records'), -1)", "read record count");
    if (!stored) return stored.error();
    stored_records_ = *stored;
    if (Status s = ReconcileCursors(upstreams, /*running=*/false); !s.ok()) return s;
    if (stored_records_ < 0) {
      Result<std::int64_t> count =
          writer_.QueryInt("SELECT count(*) FROM records", "count records");
      if (!count) return count.error();
      std::string sql = fmt::format(
          "INSERT INTO meta(key, value) VALUES('records', {}) ON CONFLICT(key) DO UPDATE SET "
          "value=excluded.value",
          *count);
      if (Status s = writer_.Exec(sql.c_str(), "record the record count"); !s.ok()) return s;
      stored_records_ = *count;
    }
    records_ = static_cast<std::uint64_t>(std::max<std::int64_t>(0, stored_records_));

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
        {&reading_bound_,
         "SELECT max(seq) FROM "
         "(SELECT seq FROM records WHERE seq>?1 AND kind=0 ORDER BY seq LIMIT ?2)"},
        {&event_bound_,
         "SELECT max(seq) FROM "
         "(SELECT seq FROM records WHERE seq>?1 AND kind<>0 ORDER BY seq LIMIT ?2)"},
        {&delete_readings_, "DELETE FROM records WHERE seq>?1 AND seq<=?2 AND kind=0"},
        {&delete_events_, "DELETE FROM records WHERE seq>?1 AND seq<=?2 AND kind<>0"},
        // The third column: the record's time is not known (ToRecord writes this exact text).
        {&oldest_,
         "SELECT seq, ts_ns, instr(body, '\"clock\":\"unsynced\"')>0 FROM records "
         "ORDER BY seq LIMIT 256"},
        {&correct_clock_,
         "UPDATE records SET ts_ns=ts_ns+?4, "
         "body=json_set(body, '$.ts_ns', ts_ns+?4, '$.clock', 'corrected') "
         "WHERE seq>?1 AND ts_ns BETWEEN ?2 AND ?3 AND instr(body, '\"clock\":\"unsynced\"')>0"},
        {&set_meta_,
         "INSERT INTO meta(key, value) VALUES(?1, ?2) "
         "ON CONFLICT(key) DO UPDATE SET value=excluded.value"},
        {&page_count_, "PRAGMA page_count"},
        {&freelist_count_, "PRAGMA freelist_count"},
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
    const std::int64_t now = clock_.MonotonicNs();
    if (disk_cap_ > 0 && now >= disk_cap_until_) GrowDiskCap(now);
    Result<std::uint64_t> r = AppendTxn(records, EffectiveBudget());
    if (r || r.error().code() != Code::kResourceExhausted) return r;

    // The disk (or the file size limit) is full.
    if (now - last_disk_full_log_ >= kLogIntervalNs || last_disk_full_log_ == 0) {
      last_disk_full_log_ = now;
      spdlog::error("store {}: disk full while appending {} records: {}; applying full_policy {}",
                    options_.path, records.size(), r.error().message(),
                    PolicyName(options_.full_policy));
    }
    // A WAL that could not be checkpointed may be what filled the disk: checkpoint, try again.
    if (Checkpoint().ok()) {
      r = AppendTxn(records, EffectiveBudget());
      if (r || r.error().code() != Code::kResourceExhausted) return r;
    }
    if (options_.full_policy == FullPolicy::kRejectNew) {
      Reject(records.size());
      return last_seq_.load();
    }
    // drop_oldest: make room inside the space the file already has, and stay that small for a
    // while (the next checkpoint can then complete and shrink the file to its pages).
    const std::int64_t need = EstimateBytes(records);
    for (int attempt = 1; attempt <= 3; ++attempt) {
      (void)Checkpoint();
      std::int64_t live = LiveBytes().value_or(0);
      std::int64_t file = FileSize(options_.path);
      EnterDiskCap(std::max<std::int64_t>(
          0, std::min(live, file > 0 ? file : live) - need * attempt - 16 * page_size_));
      r = AppendTxn(records, EffectiveBudget());
      if (r || r.error().code() != Code::kResourceExhausted) return r;
    }
    return r;
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
    Status s = AckTxn(upstream, seq);
    if (s.code() == Code::kResourceExhausted && Checkpoint().ok()) s = AckTxn(upstream, seq);
    return s;
  }

  Result<std::uint64_t> CorrectClock(std::uint64_t after_seq, std::int64_t ts_lo_ns,
                                     std::int64_t ts_hi_ns, std::int64_t offset_ns) override {
    std::lock_guard lock(writer_mu_);
    sqlite3_stmt* s = correct_clock_.get();
    sqlite3_bind_int64(s, 1, ToSql(after_seq));
    sqlite3_bind_int64(s, 2, ts_lo_ns);
    sqlite3_bind_int64(s, 3, ts_hi_ns);
    sqlite3_bind_int64(s, 4, offset_ns);
    if (Status st = writer_.StepDone(s, "correct record times"); !st.ok()) return Err(st);
    const auto changed = static_cast<std::uint64_t>(sqlite3_changes64(writer_.db()));
    if (changed > 0) rewrites_.fetch_add(1);
    return changed;
  }

  std::uint64_t Rewrites() const override { return rewrites_.load(); }

  Status SetUpstreams(const std::vector<std::string>& upstreams) override {
    std::lock_guard lock(writer_mu_);
    return ReconcileCursors(upstreams, /*running=*/true);
  }

  StoreDrops Drops() const override {
    std::lock_guard lock(drops_mu_);
    return drops_;
  }

 private:
  // One Ack transaction. REQUIRES: writer_mu_ held.
  Status AckTxn(std::string_view upstream, std::uint64_t seq) {
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
    std::uint64_t deleted = 0;
    if (purge) {
      sqlite3_bind_int64(delete_.get(), 1, static_cast<std::int64_t>(new_min));
      if (Status s = writer_.StepDone(delete_.get(), "delete acknowledged records"); !s.ok()) {
        writer_.Rollback();
        return s;
      }
      deleted = static_cast<std::uint64_t>(sqlite3_changes64(writer_.db()));
      if (deleted > 0) {
        if (Status s = SetMeta("records", records_.load() - std::min(deleted, records_.load()));
            !s.ok()) {
          writer_.Rollback();
          return s;
        }
      }
      sqlite3_bind_int64(set_last_seq_.get(), 1, static_cast<std::int64_t>(last_seq_.load()));
      if (Status s = writer_.StepDone(set_last_seq_.get(), "record last_seq"); !s.ok()) {
        writer_.Rollback();
        return s;
      }
      if (Status s = VacuumFreePages(); !s.ok()) {
        writer_.Rollback();
        return s;
      }
    }
    if (Status s = writer_.StepDone(commit_.get(), "commit ack"); !s.ok()) {
      writer_.Rollback();
      return s;
    }
    if (purge) deleted_through_ = new_min;
    records_ -= std::min<std::uint64_t>(deleted, records_.load());
    {
      std::lock_guard cursors_lock(cursors_mu_);
      cursors_.find(upstream)->second = seq;
    }
    MaybeCheckpoint();
    return Status::Ok();
  }

 public:
  std::uint64_t LastSeq() const override { return last_seq_.load(); }

  StoreStats Stats() const override {
    StoreStats st;
    st.last_seq = last_seq_.load();
    st.records = records_.load();
    st.max_bytes = options_.max_bytes;
    st.drops = Drops();
    {
      std::lock_guard lock(cursors_mu_);
      st.cursors.insert(cursors_.begin(), cursors_.end());
    }
    Result<std::unique_ptr<Reader>> reader = AcquireReader();
    if (reader) {
      sqlite3_stmt* s = (*reader)->bounds.get();
      if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
        st.first_seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
      }
      sqlite3_reset(s);
      Result<std::int64_t> pages = (*reader)->conn.QueryInt("PRAGMA page_count", "page count");
      Result<std::int64_t> free = (*reader)->conn.QueryInt("PRAGMA freelist_count", "free pages");
      if (pages && free) st.bytes_used = (*pages - *free) * page_size_;
      ReleaseReader(std::move(*reader));
    } else {
      spdlog::warn("{}", reader.error().ToString());
    }
    st.bytes_on_disk = FileSize(options_.path) + FileSize(options_.path + "-wal");
    return st;
  }

 private:
  struct Reader {
    Conn conn;
    StmtPtr read;
    StmtPtr bounds;
  };

  // After a reboot (a new boot id), with synchronous=normal, the commits made since the last
  // checkpoint before a power loss may be gone, and their sequence numbers with them, although
  // upstreams may have received those records. Skip kRebootSeqGap numbers so that no number is
  // ever given to a second, different record (consumers deduplicate on (gateway, seq)).
  Status CheckReboot() {
    std::string boot = options_.boot_id;
    if (boot.empty()) {
      std::FILE* f = std::fopen("/proc/sys/kernel/random/boot_id", "re");
      if (f != nullptr) {
        char buf[64] = {};
        if (std::fgets(buf, sizeof buf, f) != nullptr) boot = buf;
        std::fclose(f);
      }
      while (!boot.empty() && (boot.back() == '\n' || boot.back() == ' ')) boot.pop_back();
    }
    if (boot.empty()) return Status::Ok();     // unknown: nothing to compare
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a, stable across builds
    for (unsigned char c : boot) h = (h ^ c) * 1099511628211ull;
    const auto hash = static_cast<std::int64_t>(h & 0x7fffffffffffffffull);
    Result<std::int64_t> stored = writer_.QueryInt(
        "SELECT ifnull((SELECT value FROM meta WHERE key='boot_id'), -1)", "read boot id");
    if (!stored) return stored.error();
    if (*stored == hash) return Status::Ok();
    const bool skip = *stored != -1 && options_.synchronous == "normal" && last_seq_.load() > 0;
    const std::uint64_t new_last = skip ? last_seq_.load() + kRebootSeqGap : last_seq_.load();
    if (new_last > kMaxSeq) {
      return Status::ResourceExhausted(
          fmt::format("store {}: sequence numbers exhausted", options_.path));
    }
    std::string sql = fmt::format(
        "BEGIN IMMEDIATE; INSERT INTO meta(key, value) VALUES('boot_id', {0}) ON CONFLICT(key) "
        "DO UPDATE SET value=excluded.value; UPDATE meta SET value={1} WHERE key='last_seq'; "
        "COMMIT",
        hash, new_last);
    if (Status s = writer_.Exec(sql.c_str(), "record boot id"); !s.ok()) {
      writer_.Rollback();
      return s;
    }
    if (skip) {
      spdlog::warn(
          "store {}: first start after a reboot with synchronous=normal: commits made just "
          "before a power loss may be lost, so sequence numbers continue after {} instead of {} "
          "(never reused; a jump, not a loss)",
          options_.path, new_last, last_seq_.load());
    }
    last_seq_ = new_last;
    return Status::Ok();
  }

  static int WalHook(void* self, sqlite3*, const char*, int frames) {
    static_cast<SqliteStore*>(self)->wal_frames_ = frames;
    return SQLITE_OK;
  }

  // The byte budget for database pages in use: max_bytes minus the WAL's share, lowered while
  // the disk is full. 0: unbounded.
  std::int64_t EffectiveBudget() const {
    if (disk_cap_ > 0) return budget_ > 0 ? std::min(budget_, disk_cap_) : disk_cap_;
    return budget_;
  }

  void EnterDiskCap(std::int64_t cap) {
    if (disk_cap_ == 0) disk_full_at_ = std::max<std::int64_t>(cap, page_size_);
    disk_cap_ = std::max<std::int64_t>(cap, page_size_);
    disk_cap_until_ = clock_.MonotonicNs() + kDiskCapNs;
  }

  // After the hold, the cap grows by a step per kDiskGrowIntervalNs, and only while the WAL is
  // empty (the last checkpoint completed). While the cap is on, every commit is checkpointed at
  // once (MaybeCheckpoint), so a step the file cannot take is seen by the next checkpoint while
  // the WAL holds one transaction, and the store shrinks back inside the file. Lifting the cap
  // at once instead could commit pages past the end of a file that cannot grow into a WAL that
  // a reader keeps from being checkpointed; once that WAL is full too, no DELETE can be written
  // and the store is wedged. The cap is lifted when it reaches max_bytes' budget or twice the
  // size at which the disk was full.
  void GrowDiskCap(std::int64_t now) {
    if (wal_frames_ != 0) return;  // a checkpoint is still pending: not now
    const std::int64_t step = std::max<std::int64_t>(kDiskGrowMinBytes, disk_cap_ / 8);
    if (disk_cap_ + step >= (budget_ > 0 ? budget_ : 2 * disk_full_at_)) {
      spdlog::info("store {}: the disk took {} bytes in use again; the full-disk cap is lifted",
                   options_.path, disk_cap_);
      disk_cap_ = 0;
      return;
    }
    if (now - last_disk_full_log_ >= kLogIntervalNs) {
      last_disk_full_log_ = now;
      spdlog::info("store {}: trying to grow again after a full disk: {} bytes in use allowed",
                   options_.path, disk_cap_ + step);
    }
    disk_cap_ += step;
    disk_cap_until_ = now + kDiskGrowIntervalNs;
  }

  static std::int64_t EstimateBytes(std::span<const NewRecord> records) {
    std::int64_t n = 0;
    for (const NewRecord& r : records) {
      n += static_cast<std::int64_t>(r.body.size() + r.device.size() + r.series.size()) +
           kRecordOverheadBytes;
    }
    return n + n / 4;  // B-tree pages are not full
  }

  Result<std::int64_t> PragmaInt(sqlite3_stmt* s, std::string_view what) {
    int rc = sqlite3_step(s);
    std::int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW) return Err(writer_.Error(rc, what));
    return v;
  }

  // Bytes of database pages in use, as the writer sees them (inside its transaction too).
  Result<std::int64_t> LiveBytes() {
    Result<std::int64_t> pages = PragmaInt(page_count_.get(), "read page count");
    if (!pages) return pages;
    Result<std::int64_t> free = PragmaInt(freelist_count_.get(), "read free page count");
    if (!free) return free;
    return (*pages - *free) * page_size_;
  }

  // Returns free pages beyond a slack to the file system (a no-op for files created without
  // auto_vacuum). While the disk is full, returns all of them. REQUIRES: in a write transaction.
  Status VacuumFreePages() {
    Result<std::int64_t> pages = PragmaInt(page_count_.get(), "read page count");
    if (!pages) return pages.error();
    Result<std::int64_t> free = PragmaInt(freelist_count_.get(), "read free page count");
    if (!free) return free.error();
    std::int64_t slack = disk_cap_ > 0 ? 0 : std::max<std::int64_t>(16, *pages / 8);
    if (*free <= slack) return Status::Ok();
    // While the disk is full every free page goes: the pages in use are then the file's size
    // after the next checkpoint, and it must fit in what the file already has.
    std::int64_t n = disk_cap_ > 0 ? *free : std::min(*free - slack / 2, kMaxVacuumPagesPerTxn);
    std::string sql = fmt::format("PRAGMA incremental_vacuum({})", n);
    return writer_.Exec(sql.c_str(), "incremental vacuum");
  }

  // Deletes the oldest readings (then, with no reading left, the oldest events) until the
  // pages in use fit `target` bytes. REQUIRES: in a write transaction.
  Status FreeSpace(std::int64_t target, std::uint64_t held, StoreDrops& dropped,
                   std::uint64_t& deleted) {
    for (int guard = 0; guard < 100000; ++guard) {
      Result<std::int64_t> live = LiveBytes();
      if (!live) return live.error();
      if (*live <= target) return Status::Ok();
      std::uint64_t now_held = held - std::min(held, deleted);
      if (now_held == 0) return Status::Ok();
      std::int64_t avg = std::max<std::int64_t>(
          32, *live / static_cast<std::int64_t>(std::max<std::uint64_t>(now_held, 1)));
      std::int64_t n = std::clamp<std::int64_t>((*live - target) / avg + 1, 8, 100000);
      bool any = false;
      for (int k = 0; k < 2 && !any; ++k) {  // readings first, then events
        // Every record of this kind at or below the hint is gone (the oldest go first and
        // other deletes remove prefixes), so the search starts there instead of skipping the
        // events that pile up at the front once readings are being dropped.
        std::uint64_t& hint = pending_hint_[k];
        sqlite3_stmt* bound = k == 0 ? reading_bound_.get() : event_bound_.get();
        sqlite3_bind_int64(bound, 1, ToSql(hint));
        sqlite3_bind_int64(bound, 2, n);
        Result<std::int64_t> upto = PragmaInt(bound, "find oldest records");
        if (!upto) return upto.error();
        if (*upto <= 0) continue;  // none of this kind left
        sqlite3_stmt* del = k == 0 ? delete_readings_.get() : delete_events_.get();
        sqlite3_bind_int64(del, 1, ToSql(hint));
        sqlite3_bind_int64(del, 2, *upto);
        if (Status st = writer_.StepDone(del, "drop oldest records"); !st.ok()) return st;
        auto c = static_cast<std::uint64_t>(sqlite3_changes64(writer_.db()));
        hint = static_cast<std::uint64_t>(*upto);
        (k == 0 ? dropped.size_readings : dropped.size_events) += c;
        deleted += c;
        any = c > 0;
      }
      if (!any) return Status::Ok();  // nothing left to delete
    }
    return Status::Ok();
  }

  // Deletes the oldest records while their record time is older than max_age_s (a prefix: a
  // record with a newer time stops the scan). REQUIRES: in a write transaction.
  Status DropAged(StoreDrops& dropped, std::uint64_t& deleted) {
    const std::int64_t cutoff = clock_.NowNs() - options_.max_age_s * 1'000'000'000;
    for (;;) {
      sqlite3_stmt* s = oldest_.get();
      std::int64_t last_old = -1;
      int rows = 0;
      bool stopped = false;
      int rc;
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ++rows;
        if (sqlite3_column_int64(s, 1) >= cutoff || sqlite3_column_int(s, 2) != 0) {
          stopped = true;
          break;
        }
        last_old = sqlite3_column_int64(s, 0);
      }
      sqlite3_reset(s);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return writer_.Error(rc, "read oldest records");
      if (last_old < 0) return Status::Ok();
      sqlite3_bind_int64(delete_.get(), 1, last_old);
      if (Status st = writer_.StepDone(delete_.get(), "drop aged records"); !st.ok()) return st;
      auto c = static_cast<std::uint64_t>(sqlite3_changes64(writer_.db()));
      dropped.age += c;
      deleted += c;
      if (stopped || rows < 256) return Status::Ok();
    }
  }

  // Upserts one meta value. REQUIRES: in a write transaction.
  Status SetMeta(const char* key, std::uint64_t value) {
    BindText(set_meta_.get(), 1, key);
    sqlite3_bind_int64(set_meta_.get(), 2, ToSql(value));
    return writer_.StepDone(set_meta_.get(), "update meta");
  }

  // Writes the drop counters (totals + `delta`) to meta. REQUIRES: in a write transaction.
  Status PersistDrops(const StoreDrops& delta) {
    StoreDrops total = Drops();
    total += delta;
    for (int i = 0; i < 4; ++i) {
      BindText(set_meta_.get(), 1, kDropKeys[i]);
      sqlite3_bind_int64(set_meta_.get(), 2, ToSql(*DropField(total, i)));
      if (Status s = writer_.StepDone(set_meta_.get(), "record drop counters"); !s.ok()) return s;
    }
    return Status::Ok();
  }

  // One Append transaction with the bounds applied. REQUIRES: writer_mu_ held.
  Result<std::uint64_t> AppendTxn(std::span<const NewRecord> records, std::int64_t budget) {
    std::uint64_t seq = last_seq_.load();
    const std::size_t rejected_size = records.size();
    if (Status s = writer_.StepDone(begin_.get(), "begin append"); !s.ok()) return Err(s);
    auto fail = [&](Status s) -> Result<std::uint64_t> {
      writer_.Rollback();
      return Err(std::move(s));
    };
    StoreDrops dropped;
    std::uint64_t deleted = 0;
    pending_hint_[0] = drop_hint_[0];
    pending_hint_[1] = drop_hint_[1];
    const std::uint64_t held = records_.load();
    const std::int64_t now = clock_.MonotonicNs();
    const bool age_due = options_.max_age_s > 0 &&
                         (last_age_check_ == 0 || now - last_age_check_ >= kAgeCheckIntervalNs);
    if (age_due) {
      if (Status s = DropAged(dropped, deleted); !s.ok()) return fail(s);
    }
    const std::int64_t need = EstimateBytes(records);
    bool reject = false;
    if (budget > 0) {
      Result<std::int64_t> live = LiveBytes();  // after the age drops above
      if (!live) return fail(live.error());
      if (*live + need > budget) {
        if (options_.full_policy == FullPolicy::kRejectNew) {
          reject = true;
        } else if (Status s = FreeSpace(budget - need, held, dropped, deleted); !s.ok()) {
          return fail(s);
        }
      }
    }
    if (reject) {
      records = {};  // commit the age drops (if any) without the batch, then count it
    }
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
        return fail(s);
      }
      sqlite3_reset(ins);
    }
    if (budget > 0 && options_.full_policy == FullPolicy::kDropOldest) {
      // The estimate may have been low: fix up after the insert (may drop from this batch).
      if (Status s = FreeSpace(budget, held + records.size(), dropped, deleted); !s.ok()) {
        return fail(s);
      }
    }
    const std::uint64_t held_after =
        held + records.size() - std::min<std::uint64_t>(deleted, held + records.size());
    if (held_after != held) {
      if (Status s = SetMeta("records", held_after); !s.ok()) return fail(s);
    }
    if (deleted > 0) {
      sqlite3_bind_int64(set_last_seq_.get(), 1, static_cast<std::int64_t>(seq));
      if (Status s = writer_.StepDone(set_last_seq_.get(), "record last_seq"); !s.ok()) {
        return fail(s);
      }
      if (Status s = PersistDrops(dropped); !s.ok()) return fail(s);
    }
    if (deleted > 0 || disk_cap_ > 0) {
      if (Status s = VacuumFreePages(); !s.ok()) return fail(s);
    }
    if (Status s = writer_.StepDone(commit_.get(), "commit append"); !s.ok()) return fail(s);
    drop_hint_[0] = pending_hint_[0];
    drop_hint_[1] = pending_hint_[1];
    if (age_due) last_age_check_ = now;
    last_seq_.store(seq);
    records_ = held_after;
    if (deleted > 0) {
      {
        std::lock_guard lock(drops_mu_);
        drops_ += dropped;
      }
      LogDrops(dropped);
    }
    MaybeCheckpoint();
    if (reject) Reject(rejected_size);
    return seq;
  }

  // Counts (and persists, best effort) a batch refused by reject_new. REQUIRES: writer_mu_.
  void Reject(std::size_t n) {
    StoreDrops d;
    d.rejected = n;
    if (writer_.StepDone(begin_.get(), "begin drop counter update").ok()) {
      if (PersistDrops(d).ok() && writer_.StepDone(commit_.get(), "commit drop counters").ok()) {
        // persisted
      } else {
        writer_.Rollback();  // kept in memory; written with the next drop
      }
    }
    {
      std::lock_guard lock(drops_mu_);
      drops_ += d;
    }
    LogDrops(d);
  }

  // Logs drops at most once per kLogIntervalNs with the counts since the last log line.
  void LogDrops(const StoreDrops& d) {
    pending_log_ += d;
    const std::int64_t now = clock_.MonotonicNs();
    if (last_drop_log_ != 0 && now - last_drop_log_ < kLogIntervalNs) return;
    last_drop_log_ = now;
    FlushDropLog();
  }

  void FlushDropLog() {
    if (pending_log_.total() == 0) return;
    StoreDrops total = Drops();
    spdlog::warn(
        "store {}: dropped {} records: {} older than max_age_s={}, {} readings and {} events for "
        "space (max_bytes={} or a full disk), {} new records rejected (full_policy {}); totals: "
        "{} age, {} size_readings, {} size_events, {} rejected",
        options_.path, pending_log_.total(), pending_log_.age, options_.max_age_s,
        pending_log_.size_readings, pending_log_.size_events, options_.max_bytes,
        pending_log_.rejected, PolicyName(options_.full_policy), total.age, total.size_readings,
        total.size_events, total.rejected);
    pending_log_ = StoreDrops();
  }

  // A passive checkpoint once the WAL holds checkpoint_frames_, or after every commit while the
  // disk is full (the cap is on; see GrowDiskCap). A passive checkpoint copies only what no
  // reader still needs; if one could not finish, a RESTART checkpoint waits (the busy timeout)
  // for the readers, which take milliseconds. Otherwise a reader that happens to be reading at
  // every checkpoint would let the WAL grow without bound, and on a full disk a WAL that is full
  // before any checkpoint could tell the store the file cannot grow leaves no room for the
  // DELETE that would make room.
  void MaybeCheckpoint() {
    if (wal_frames_ >= checkpoint_frames_ || (disk_cap_ > 0 && wal_frames_ > 0)) {
      if (Checkpoint().ok() && wal_frames_ >= checkpoint_frames_) {
        sqlite3_busy_timeout(writer_.db(), kRestartWaitMs);  // a stuck reader delays one commit
        (void)Checkpoint(SQLITE_CHECKPOINT_RESTART);
        sqlite3_busy_timeout(writer_.db(), kBusyTimeoutMs);
      }
    }
  }

  // A checkpoint (passive unless told). A disk-full failure makes the store shrink to the space
  // it has. REQUIRES: writer_mu_ held.
  Status Checkpoint(int mode = SQLITE_CHECKPOINT_PASSIVE) {
    int log = 0;
    int done = 0;
    int rc = sqlite3_wal_checkpoint_v2(writer_.db(), nullptr, mode, &log, &done);
    if (rc == SQLITE_OK) {
      if (done >= log) wal_frames_ = 0;
      return Status::Ok();
    }
    Status s = writer_.Error(rc, "checkpoint");
    const std::int64_t now = clock_.MonotonicNs();
    if (s.code() == Code::kResourceExhausted) {
      std::int64_t file = FileSize(options_.path);
      std::int64_t live = LiveBytes().value_or(file);
      if (disk_cap_ == 0 || disk_cap_ > std::min(file, live)) {
        EnterDiskCap(std::min(file, live) - 16 * page_size_);
      }
      if (now - last_disk_full_log_ >= kLogIntervalNs || last_disk_full_log_ == 0) {
        last_disk_full_log_ = now;
        spdlog::error(
            "store {}: disk full: the database file cannot grow ({}); shrinking the store to "
            "{} bytes in use with full_policy {}",
            options_.path, s.message(), disk_cap_, PolicyName(options_.full_policy));
      }
    } else if (s.code() != Code::kUnavailable) {
      spdlog::warn("{}", s.ToString());
    }
    return s;
  }
  // Adds and removes cursors so that exactly `upstreams` have one. `running`: called after
  // Init (SetUpstreams), so the record count is records_; before, Init counts afterwards.
  // REQUIRES: writer_mu_ held, or Init before the store is shared.
  Status ReconcileCursors(const std::vector<std::string>& upstreams, bool running) {
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
    std::uint64_t running_purged = 0;
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
      const std::int64_t purged = sqlite3_changes64(writer_.db());
      Result<StmtPtr> mark = writer_.Prepare("UPDATE meta SET value=?1 WHERE key='last_seq'");
      if (!mark) return fail(mark.error());
      sqlite3_bind_int64(mark->get(), 1, static_cast<std::int64_t>(last_seq_.load()));
      if (Status s = writer_.StepDone(mark->get(), "record last_seq"); !s.ok()) return fail(s);
      if (running) {
        running_purged = static_cast<std::uint64_t>(std::max<std::int64_t>(0, purged));
        if (running_purged > 0) {
          const std::uint64_t held = records_.load();
          if (Status s = SetMeta("records", held - std::min(running_purged, held)); !s.ok()) {
            return fail(s);
          }
        }
      } else if (stored_records_ >= 0) {
        stored_records_ = std::max<std::int64_t>(0, stored_records_ - purged);
        std::string sql =
            fmt::format("UPDATE meta SET value={} WHERE key='records'", stored_records_);
        if (Status s = writer_.Exec(sql.c_str(), "record the record count"); !s.ok()) {
          return fail(s);
        }
      }
    }
    if (Status s = writer_.Exec("COMMIT", "commit cursor update"); !s.ok()) return fail(s);
    records_ -= std::min(running_purged, records_.load());
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
  const Clock& clock_;
  std::int64_t budget_ = 0;     // bytes for pages in use (max_bytes - wal_limit_); 0: unbounded
  std::int64_t wal_limit_ = 0;  // the WAL's share of max_bytes (journal_size_limit)
  std::int64_t page_size_ = 4096;
  int checkpoint_frames_ = 1000;

  std::atomic<std::uint64_t> rewrites_{0};
  std::mutex writer_mu_;  // guards writer_, its statements and everything down to pending_log_
  Conn writer_;
  StmtPtr begin_, commit_, insert_, set_last_seq_, ack_, delete_, reading_bound_, event_bound_,
      delete_readings_, delete_events_, oldest_, correct_clock_, set_meta_, page_count_,
      freelist_count_;
  std::uint64_t drop_hint_[2] = {0, 0};     // no reading [0] / event [1] at or below these seqs
  std::uint64_t pending_hint_[2] = {0, 0};  // the same inside the open transaction
  std::uint64_t deleted_through_ = 0;       // records with seq <= this are gone
  int wal_frames_ = 0;                      // frames in the WAL after the last commit
  std::int64_t disk_cap_ = 0;               // bytes in use allowed while the disk is full (0: none)
  std::int64_t disk_cap_until_ = 0;         // monotonic ns
  std::int64_t disk_full_at_ = 0;           // the first cap of this full-disk episode
  std::int64_t last_age_check_ = 0;         // monotonic ns
  std::int64_t last_drop_log_ = 0;          // monotonic ns
  std::int64_t last_disk_full_log_ = 0;
  StoreDrops pending_log_;  // drops not yet logged

  std::atomic<std::uint64_t> last_seq_{0};  // written under writer_mu_
  std::atomic<std::uint64_t> records_{0};   // records held; written under writer_mu_
  std::int64_t stored_records_ = -1;        // meta.records while opening (-1: not there)

  mutable std::mutex drops_mu_;
  StoreDrops drops_;  // totals, as persisted in meta

  mutable std::mutex cursors_mu_;
  std::map<std::string, std::uint64_t, std::less<>> cursors_;

  mutable std::mutex readers_mu_;
  mutable std::vector<std::unique_ptr<Reader>> idle_readers_;
};

Status ValidateOptions(const StoreOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("store: path is empty");
  if (options.synchronous != "normal" && options.synchronous != "full") {
    return Status::InvalidArgument(
        fmt::format("store {}: synchronous must be \"normal\" or \"full\", not \"{}\"",
                    options.path, options.synchronous));
  }
  if (options.max_bytes != 0 && options.max_bytes < kMinMaxBytes) {
    return Status::InvalidArgument(
        fmt::format("store {}: max_bytes must be 0 (unbounded) or at least {}, not {}",
                    options.path, kMinMaxBytes, options.max_bytes));
  }
  if (options.max_age_s < 0) {
    return Status::InvalidArgument(
        fmt::format("store {}: max_age_s must not be negative", options.path));
  }
  return Status::Ok();
}

Result<std::unique_ptr<Store>> OpenOnce(const StoreOptions& options,
                                        const std::vector<std::string>& upstreams,
                                        std::uint64_t first_last_seq) {
  Result<Conn> writer = Conn::Open(options.path, options.synchronous);
  if (!writer) return Err(writer.error());
  if (Status s = CheckNotForeign(*writer); !s.ok()) return Err(s);
  // A new file gets auto_vacuum=INCREMENTAL, which can only be set before the first table and
  // before the switch to WAL writes the file's first page.
  Result<std::int64_t> objects =
      writer->QueryInt("SELECT count(*) FROM sqlite_schema", "inspect schema");
  if (!objects) return Err(objects.error());
  if (*objects == 0) {
    if (Status s = writer->Exec("PRAGMA auto_vacuum=INCREMENTAL", "set auto_vacuum"); !s.ok()) {
      return Err(s);
    }
  }
  if (Status s = writer->EnableWal(); !s.ok()) return Err(s);
  if (Status s = EnsureSchema(*writer, first_last_seq); !s.ok()) return Err(s);
  auto store = std::make_unique<SqliteStore>(options, std::move(*writer));
  if (Status s = store->Init(upstreams); !s.ok()) return Err(s);
  StoreStats st = store->Stats();
  spdlog::info(
      "store {}: opened, {} records held, last seq {}, {} upstreams, {} bytes on disk (max_bytes "
      "{}), drops so far: {} age, {} size_readings, {} size_events, {} rejected",
      options.path, st.records, st.last_seq, st.cursors.size(), st.bytes_on_disk, options.max_bytes,
      st.drops.age, st.drops.size_readings, st.drops.size_events, st.drops.rejected);
  return std::unique_ptr<Store>(std::move(store));
}

// Renames a damaged or foreign store file (and its WAL) to <path>.corrupt-<UTC time>[-N] and
// removes its -shm index (derived data). Returns the new name.
Result<std::string> MoveAside(const std::string& path, std::int64_t now_ns) {
  namespace fs = std::filesystem;
  std::string base = path + ".corrupt-" + UtcStamp(now_ns);
  std::string dest = base;
  std::error_code ec;
  for (int i = 1; fs::exists(dest, ec) || fs::exists(dest + "-wal", ec); ++i) {
    dest = fmt::format("{}-{}", base, i);
  }
  fs::rename(path, dest, ec);
  if (ec) {
    return Err(Status::IoError(
        fmt::format("store {}: cannot move it to {}: {}", path, dest, ec.message())));
  }
  if (fs::exists(path + "-wal", ec)) {
    fs::rename(path + "-wal", dest + "-wal", ec);
    if (ec) {
      return Err(
          Status::IoError(fmt::format("store {}: moved the database to {} but cannot "
                                      "move its WAL {}-wal: {}",
                                      path, dest, path, ec.message())));
    }
  }
  fs::remove(path + "-shm", ec);
  return dest;
}

// Runs a one-row query with one int64 parameter; 0 when there is no row or it is NULL.
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

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options,
                                           const std::vector<std::string>& upstreams) {
  if (Status s = ValidateOptions(options); !s.ok()) return Err(s);
  {
    // A WAL without its database (a kill between the two renames of a move-aside, or someone
    // deleting only the database) holds committed records; SQLite silently deletes such a WAL
    // when it opens an empty database. Keep it instead.
    std::error_code ec;
    if (!std::filesystem::exists(options.path, ec) &&
        std::filesystem::exists(options.path + "-wal", ec)) {
      Status orphan = Status::Corruption(fmt::format(
          "store {}: there is a WAL file {}-wal but no database", options.path, options.path));
      if (options.on_corrupt != CorruptPolicy::kMoveAside) return Err(orphan);
      const Clock& clock = options.clock != nullptr ? *options.clock : SystemClock::Instance();
      std::string dest = options.path + ".corrupt-" + UtcStamp(clock.NowNs()) + "-orphan-wal";
      std::filesystem::rename(options.path + "-wal", dest, ec);
      if (ec)
        return Err(Status::Corruption(orphan.message() + "; cannot move it: " + ec.message()));
      std::filesystem::remove(options.path + "-shm", ec);
      spdlog::error("{}; MOVED it ASIDE to {}", orphan.message(), dest);
    }
  }
  Result<std::unique_ptr<Store>> store = OpenOnce(options, upstreams, 0);
  if (store || store.error().code() != Code::kCorruption ||
      options.on_corrupt != CorruptPolicy::kMoveAside) {
    return store;
  }
  const Clock& clock = options.clock != nullptr ? *options.clock : SystemClock::Instance();
  const std::int64_t now_ns = clock.NowNs();
  Result<std::string> moved = MoveAside(options.path, now_ns);
  if (!moved) {
    return Err(Status::Corruption(store.error().message() + "; " + moved.error().message()));
  }
  // The old file's numbers are unknown: start above the current time in microseconds, which
  // stays above them unless the old store averaged over a million records per second, so
  // consumers that deduplicate on (gateway, seq) do not drop new records as duplicates.
  const auto first_last_seq = static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_ns / 1000));
  spdlog::error(
      "store {}: {}. The file was MOVED ASIDE to {} (not deleted; its records were not "
      "forwarded and can be inspected with sqlite3). Starting with a fresh, empty store whose "
      "sequence numbers start after {}.",
      options.path, store.error().message(), *moved, first_last_seq);
  return OpenOnce(options, upstreams, first_last_seq);
}

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
