// SqliteStore's space management (the class is declared in sqlite_store_impl.h): the byte budget
// and the cap while the disk is full, the size estimate of a batch and the pages in use, freeing
// space by dropping the oldest readings (then events) and aged records, returning free pages with
// incremental vacuum, counting, persisting and logging drops (rejections included), and the
// checkpoints the store runs itself so that a full disk is noticed. See README.md, Bounds and
// drops.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>

#include "gateway/store/sqlite_store_impl.h"
#include "gateway/store/store_schema.h"

namespace pn::store_detail {
namespace {

constexpr int kRestartWaitMs = 1000;               // how long a checkpoint waits for readers
constexpr std::int64_t kRecordOverheadBytes = 40;  // rowid, cell header, pointer, ts, kind
constexpr std::int64_t kDiskCapNs =
    60'000'000'000;  // after a disk-full error, stay small this long
constexpr std::int64_t kDiskGrowIntervalNs = 1'000'000'000;  // then grow by a step this often
constexpr std::int64_t kDiskGrowMinBytes = 1 << 20;          // a step: 1/8 of the cap, >= this
constexpr std::int64_t kMaxVacuumPagesPerTxn = 4096;

}  // namespace

std::int64_t SqliteStore::EffectiveBudget() const {
  if (disk_cap_ > 0) return budget_ > 0 ? std::min(budget_, disk_cap_) : disk_cap_;
  return budget_;
}

void SqliteStore::EnterDiskCap(std::int64_t cap) {
  if (disk_cap_ == 0) disk_full_at_ = std::max<std::int64_t>(cap, page_size_);
  disk_cap_ = std::max<std::int64_t>(cap, page_size_);
  disk_cap_until_ = clock_.MonotonicNs() + kDiskCapNs;
}

void SqliteStore::GrowDiskCap(std::int64_t now) {
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

std::int64_t SqliteStore::EstimateBytes(std::span<const NewRecord> records) {
  std::int64_t n = 0;
  for (const NewRecord& r : records) {
    n += static_cast<std::int64_t>(r.body.size() + r.device.size() + r.series.size()) +
         kRecordOverheadBytes;
  }
  return n + n / 4;  // B-tree pages are not full
}

Result<std::int64_t> SqliteStore::PragmaInt(sqlite3_stmt* s, std::string_view what) {
  int rc = sqlite3_step(s);
  std::int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
  sqlite3_reset(s);
  if (rc != SQLITE_ROW) return Err(writer_.Error(rc, what));
  return v;
}

Result<std::int64_t> SqliteStore::LiveBytes() {
  Result<std::int64_t> pages = PragmaInt(page_count_.get(), "read page count");
  if (!pages) return pages;
  Result<std::int64_t> free = PragmaInt(freelist_count_.get(), "read free page count");
  if (!free) return free;
  return (*pages - *free) * page_size_;
}

Status SqliteStore::VacuumFreePages() {
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

Status SqliteStore::FreeSpace(std::int64_t target, std::uint64_t held, StoreDrops& dropped,
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

Status SqliteStore::DropAged(StoreDrops& dropped, std::uint64_t& deleted) {
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

Status SqliteStore::PersistDrops(const StoreDrops& delta) {
  StoreDrops total = Drops();
  total += delta;
  for (int i = 0; i < 4; ++i) {
    BindText(set_meta_.get(), 1, kDropKeys[i]);
    sqlite3_bind_int64(set_meta_.get(), 2, ToSql(*DropField(total, i)));
    if (Status s = writer_.StepDone(set_meta_.get(), "record drop counters"); !s.ok()) return s;
  }
  return Status::Ok();
}

void SqliteStore::Reject(std::size_t n) {
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

void SqliteStore::LogDrops(const StoreDrops& d) {
  pending_log_ += d;
  const std::int64_t now = clock_.MonotonicNs();
  if (last_drop_log_ != 0 && now - last_drop_log_ < kLogIntervalNs) return;
  last_drop_log_ = now;
  FlushDropLog();
}

void SqliteStore::FlushDropLog() {
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

void SqliteStore::MaybeCheckpoint() {
  if (wal_frames_ >= checkpoint_frames_ || (disk_cap_ > 0 && wal_frames_ > 0)) {
    if (Checkpoint().ok() && wal_frames_ >= checkpoint_frames_) {
      sqlite3_busy_timeout(writer_.db(), kRestartWaitMs);  // a stuck reader delays one commit
      (void)Checkpoint(SQLITE_CHECKPOINT_RESTART);
      sqlite3_busy_timeout(writer_.db(), kBusyTimeoutMs);
    }
  }
}

Status SqliteStore::Checkpoint(int mode) {
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

}  // namespace pn::store_detail
