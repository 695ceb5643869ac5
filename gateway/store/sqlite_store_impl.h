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
//
// Internal to gateway/store: this header declares the SqliteStore class so that its member
// functions can be defined by responsibility across sqlite_store.cpp (Init, append, read, ack,
// cursors, reader pool), sqlite_store_space.cpp (bounds, drops, full disk, checkpoints) and
// store_open.cpp (the reboot check); Store::Open (store_open.cpp) is the only code that creates
// one. Not an API: other code uses store.h.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/record.h"
#include "core/status.h"
#include "gateway/store/sqlite_conn.h"
#include "gateway/store/store.h"

namespace pn::store_detail {

// Drop and disk-full logs at most this often.
inline constexpr std::int64_t kLogIntervalNs = 10'000'000'000;

inline const char* PolicyName(FullPolicy p) {
  return p == FullPolicy::kRejectNew ? "reject_new" : "drop_oldest";
}

class SqliteStore final : public Store {
 public:
  SqliteStore(StoreOptions options, Conn writer);
  ~SqliteStore() override;

  // Loads state, reconciles cursors with `upstreams` and prepares the writer's statements.
  Status Init(const std::vector<std::string>& upstreams);

  [[nodiscard]] Result<AppendResult> Append(std::span<const NewRecord> records) override;
  Result<std::vector<Record>> ReadAfter(std::uint64_t after_seq, std::size_t limit) override;
  std::uint64_t Cursor(std::string_view upstream) const override;
  Status Ack(std::string_view upstream, std::uint64_t seq) override;
  Result<std::uint64_t> CorrectClock(std::uint64_t after_seq, std::int64_t ts_lo_ns,
                                     std::int64_t ts_hi_ns, std::int64_t offset_ns) override;
  std::uint64_t Rewrites() const override { return rewrites_.load(); }
  Status SetUpstreams(const std::vector<std::string>& upstreams) override;
  StoreDrops Drops() const override;
  std::uint64_t LastSeq() const override { return last_seq_.load(); }
  StoreStats Stats() const override;

 private:
  struct Reader {
    Conn conn;
    StmtPtr read;
    StmtPtr bounds;
  };

  // --- append, ack, cursors, reader pool (sqlite_store.cpp) ---

  // One Ack transaction. REQUIRES: writer_mu_ held.
  Status AckTxn(std::string_view upstream, std::uint64_t seq);

  // One Append transaction with the bounds applied. REQUIRES: writer_mu_ held.
  Result<AppendResult> AppendTxn(std::span<const NewRecord> records, std::int64_t budget);

  // Upserts one meta value. REQUIRES: in a write transaction.
  Status SetMeta(const char* key, std::uint64_t value);

  // Adds and removes cursors so that exactly `upstreams` have one. `running`: called after
  // Init (SetUpstreams), so the record count is records_; before, Init counts afterwards.
  // REQUIRES: writer_mu_ held, or Init before the store is shared.
  Status ReconcileCursors(const std::vector<std::string>& upstreams, bool running);

  Result<std::unique_ptr<Reader>> AcquireReader() const;
  void ReleaseReader(std::unique_ptr<Reader> r) const;

  // --- opening (store_open.cpp) ---

  // After a reboot (a new boot id), with synchronous=normal, the commits made since the last
  // checkpoint before a power loss may be gone, and their sequence numbers with them, although
  // upstreams may have received those records. Skip kRebootSeqGap numbers so that no number is
  // ever given to a second, different record (consumers deduplicate on (gateway, seq)).
  Status CheckReboot();

  // --- bounds, drops, full disk, checkpoints (sqlite_store_space.cpp) ---

  static int WalHook(void* self, sqlite3*, const char*, int frames) {
    static_cast<SqliteStore*>(self)->wal_frames_ = frames;
    return SQLITE_OK;
  }

  // The byte budget for database pages in use: max_bytes minus the WAL's share, lowered while
  // the disk is full. 0: unbounded.
  std::int64_t EffectiveBudget() const;

  void EnterDiskCap(std::int64_t cap);

  // After the hold, the cap grows by a step per kDiskGrowIntervalNs, and only while the WAL is
  // empty (the last checkpoint completed). While the cap is on, every commit is checkpointed at
  // once (MaybeCheckpoint), so a step the file cannot take is seen by the next checkpoint while
  // the WAL holds one transaction, and the store shrinks back inside the file. Lifting the cap
  // at once instead could commit pages past the end of a file that cannot grow into a WAL that
  // a reader keeps from being checkpointed; once that WAL is full too, no DELETE can be written
  // and the store is wedged. The cap is lifted when it reaches max_bytes' budget or twice the
  // size at which the disk was full.
  void GrowDiskCap(std::int64_t now);

  static std::int64_t EstimateBytes(std::span<const NewRecord> records);

  Result<std::int64_t> PragmaInt(sqlite3_stmt* s, std::string_view what);

  // Bytes of database pages in use, as the writer sees them (inside its transaction too).
  Result<std::int64_t> LiveBytes();

  // Returns free pages beyond a slack to the file system (a no-op for files created without
  // auto_vacuum). While the disk is full, returns all of them. REQUIRES: in a write transaction.
  Status VacuumFreePages();

  // Deletes the oldest readings (then, with no reading left, the oldest events) until the
  // pages in use fit `target` bytes. REQUIRES: in a write transaction.
  Status FreeSpace(std::int64_t target, std::uint64_t held, StoreDrops& dropped,
                   std::uint64_t& deleted);

  // Deletes the oldest records while their record time is older than max_age_s (a prefix: a
  // record with a newer time stops the scan). REQUIRES: in a write transaction.
  Status DropAged(StoreDrops& dropped, std::uint64_t& deleted);

  // Writes the drop counters (totals + `delta`) to meta. REQUIRES: in a write transaction.
  Status PersistDrops(const StoreDrops& delta);

  // Counts (and persists, best effort) a batch refused by reject_new. REQUIRES: writer_mu_.
  void Reject(std::size_t n);

  // Logs drops at most once per kLogIntervalNs with the counts since the last log line.
  void LogDrops(const StoreDrops& d);

  void FlushDropLog();

  // A passive checkpoint once the WAL holds checkpoint_frames_, or after every commit while the
  // disk is full (the cap is on; see GrowDiskCap). A passive checkpoint copies only what no
  // reader still needs; if one could not finish, a RESTART checkpoint waits (the busy timeout)
  // for the readers, which take milliseconds. Otherwise a reader that happens to be reading at
  // every checkpoint would let the WAL grow without bound, and on a full disk a WAL that is full
  // before any checkpoint could tell the store the file cannot grow leaves no room for the
  // DELETE that would make room.
  void MaybeCheckpoint();

  // A checkpoint (passive unless told). A disk-full failure makes the store shrink to the space
  // it has. REQUIRES: writer_mu_ held.
  Status Checkpoint(int mode = SQLITE_CHECKPOINT_PASSIVE);

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

}  // namespace pn::store_detail
