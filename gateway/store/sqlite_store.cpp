// The core of SqliteStore (declared, with its design notes, in sqlite_store_impl.h): construction
// and Init (state, cursors, the writer's prepared statements), Append and its transaction,
// ReadAfter and Stats on the reader pool, Ack, CorrectClock, and the reconciliation of cursors
// with the configured upstreams (Open and SetUpstreams). The bounds, drops and checkpoints these
// call are in sqlite_store_space.cpp; opening a file is in store_open.cpp.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "gateway/store/sqlite_store_impl.h"
#include "gateway/store/store_schema.h"

namespace pn::store_detail {
namespace {

constexpr std::size_t kMaxIdleReaders = 8;
constexpr std::int64_t kUnboundedWalLimit = 16 * 1024 * 1024;
constexpr std::int64_t kAgeCheckIntervalNs = 1'000'000'000;  // age bound checked at most this often

}  // namespace

SqliteStore::SqliteStore(StoreOptions options, Conn writer)
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

SqliteStore::~SqliteStore() {
  FlushDropLog();
  // Statements before connections (sqlite3_close_v2 would defer anyway).
  idle_readers_.clear();
}

Status SqliteStore::Init(const std::vector<std::string>& upstreams) {
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
    Result<std::int64_t> count = writer_.QueryInt("SELECT count(*) FROM records", "count records");
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

Result<AppendResult> SqliteStore::Append(std::span<const NewRecord> records) {
  std::lock_guard lock(writer_mu_);
  std::uint64_t seq = last_seq_.load();
  if (records.empty()) return AppendResult{.last_seq = seq, .rejected = 0};
  if (seq + records.size() > kMaxSeq) {
    return Err(Status::ResourceExhausted(
        fmt::format("store {}: sequence numbers exhausted", options_.path)));
  }
  const std::int64_t now = clock_.MonotonicNs();
  if (disk_cap_ > 0 && now >= disk_cap_until_) GrowDiskCap(now);
  Result<AppendResult> r = AppendTxn(records, EffectiveBudget());
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
    return AppendResult{.last_seq = last_seq_.load(), .rejected = records.size()};
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

Result<std::vector<Record>> SqliteStore::ReadAfter(std::uint64_t after_seq, std::size_t limit) {
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

std::uint64_t SqliteStore::Cursor(std::string_view upstream) const {
  std::lock_guard lock(cursors_mu_);
  auto it = cursors_.find(upstream);
  return it == cursors_.end() ? 0 : it->second;
}

Status SqliteStore::Ack(std::string_view upstream, std::uint64_t seq) {
  std::lock_guard lock(writer_mu_);
  Status s = AckTxn(upstream, seq);
  if (s.code() == Code::kResourceExhausted && Checkpoint().ok()) s = AckTxn(upstream, seq);
  return s;
}

Result<std::uint64_t> SqliteStore::CorrectClock(std::uint64_t after_seq, std::int64_t ts_lo_ns,
                                                std::int64_t ts_hi_ns, std::int64_t offset_ns) {
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

Status SqliteStore::SetUpstreams(const std::vector<std::string>& upstreams) {
  std::lock_guard lock(writer_mu_);
  return ReconcileCursors(upstreams, /*running=*/true);
}

StoreDrops SqliteStore::Drops() const {
  std::lock_guard lock(drops_mu_);
  return drops_;
}

Status SqliteStore::AckTxn(std::string_view upstream, std::uint64_t seq) {
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

StoreStats SqliteStore::Stats() const {
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

Result<AppendResult> SqliteStore::AppendTxn(std::span<const NewRecord> records,
                                            std::int64_t budget) {
  std::uint64_t seq = last_seq_.load();
  const std::size_t rejected_size = records.size();
  if (Status s = writer_.StepDone(begin_.get(), "begin append"); !s.ok()) return Err(s);
  auto fail = [&](Status s) -> Result<AppendResult> {
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
  return AppendResult{.last_seq = seq, .rejected = reject ? rejected_size : 0};
}

Status SqliteStore::SetMeta(const char* key, std::uint64_t value) {
  BindText(set_meta_.get(), 1, key);
  sqlite3_bind_int64(set_meta_.get(), 2, ToSql(value));
  return writer_.StepDone(set_meta_.get(), "update meta");
}

Status SqliteStore::ReconcileCursors(const std::vector<std::string>& upstreams, bool running) {
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
    spdlog::warn("store {}: removed cursor of upstream '{}' (no longer configured)", options_.path,
                 name);
  }
  deleted_through_ = min_cursor;
  std::lock_guard lock(cursors_mu_);
  cursors_ = std::move(cursors);
  return Status::Ok();
}

Result<std::unique_ptr<SqliteStore::Reader>> SqliteStore::AcquireReader() const {
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

void SqliteStore::ReleaseReader(std::unique_ptr<Reader> r) const {
  std::lock_guard lock(readers_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(r));
}

}  // namespace pn::store_detail
