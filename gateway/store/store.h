// Store: the durable SQLite buffer between the rules stage and the forwarders.
//
// Every record gets a strictly increasing sequence number that is never reused, even after all
// records were deleted and the store reopened. Each upstream has a cursor: the highest sequence
// number it has acknowledged. Records at or below every upstream's cursor are deleted. After a
// restart, everything above an upstream's cursor is forwarded again (at-least-once).
//
// Durability: WAL mode; a record is durable once Append() has returned OK (synchronous=normal
// survives a process crash; synchronous=full also survives power loss).
//
// Bounds: by bytes (max_bytes) and by record age (max_age_s). When full, full_policy drops the
// oldest records (readings before events) or rejects the new batch. Every dropped record is
// counted per reason (StoreDrops), persisted in the file and logged (rate-limited). Dropped
// records leave holes in the sequence: ReadAfter simply skips them.
//
// Thread-safety: safe for concurrent access. One thread (the store stage) appends; each
// forwarder thread reads and acknowledges for its own upstream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/record.h"
#include "core/status.h"

namespace pn {

// What Append does when a batch would take the store over max_bytes (or the disk is full).
enum class FullPolicy {
  kDropOldest,  // delete the oldest readings, then (only when no reading is left) the oldest events
  kRejectNew,   // refuse the whole new batch; it is counted as rejected
};

// What Open does with a file that is damaged or is not a processnow store.
enum class CorruptPolicy {
  kFail,       // return Corruption and leave the file untouched
  kMoveAside,  // rename it to <path>.corrupt-<UTC time> (and its -wal), log that loudly, and
               // start a fresh store whose sequence numbers start above the old file's
};

struct StoreOptions {
  std::string path;                    // database file
  std::string synchronous = "normal";  // "normal" or "full"
  std::int64_t max_bytes = 0;          // bound on database + WAL size; 0: unbounded (min 256 KiB)
  // Drop records older than this (record time); 0: no age bound. A record marked
  // "clock":"unsynced" has no known age: it is never dropped for age, and no younger one behind it.
  std::int64_t max_age_s = 0;
  FullPolicy full_policy = FullPolicy::kDropOldest;
  CorruptPolicy on_corrupt = CorruptPolicy::kFail;
  const Clock* clock = nullptr;  // for max_age_s and log rate limits; nullptr: the system clock
  // Identifies the running kernel boot; empty: /proc/sys/kernel/random/boot_id. With
  // synchronous=normal a power loss can roll back the last commits, so on the first Open after a
  // reboot the sequence numbers skip ahead by 2^32 and are never given to a second record.
  std::string boot_id = {};
};

// Records dropped by the bounds, per reason, since the store file was created. Persisted.
struct StoreDrops {
  std::uint64_t age = 0;            // older than max_age_s
  std::uint64_t size_readings = 0;  // readings deleted to stay under max_bytes (or disk full)
  std::uint64_t size_events = 0;    // events deleted for the same reason (no reading was left)
  std::uint64_t rejected = 0;       // new records refused by full_policy = reject_new
  std::uint64_t total() const { return age + size_readings + size_events + rejected; }
};

struct StoreStats {
  std::uint64_t records = 0;       // records held
  std::uint64_t first_seq = 0;     // lowest seq held (0 when empty)
  std::uint64_t last_seq = 0;      // highest seq ever assigned
  std::int64_t bytes_on_disk = 0;  // database + WAL files
  // Database pages in use, (page_count - freelist_count) x page_size: the content's size,
  // wherever its latest version is (database file or WAL). max_bytes bounds this plus the WAL.
  std::int64_t bytes_used = 0;
  std::int64_t max_bytes = 0;  // the configured bound (0: unbounded)
  StoreDrops drops;
  std::map<std::string, std::uint64_t> cursors;  // per upstream
};

// What Store::Append did with a batch that it did not fail on.
struct AppendResult {
  // The last sequence number assigned after the call: the batch's last record's when it was
  // stored; LastSeq() unchanged when nothing was (an empty batch, or one that was rejected).
  std::uint64_t last_seq = 0;
  // Records of the batch refused by full_policy = reject_new: 0 (stored) or the whole batch.
  // They are counted in Drops().rejected, are not stored, and got no sequence numbers.
  std::size_t rejected = 0;
};

// One upstream's backlog as InspectStore sees it.
struct UpstreamBacklog {
  std::string name;
  std::uint64_t cursor = 0;       // highest seq acknowledged
  std::uint64_t depth = 0;        // records held after the cursor (waiting to be sent)
  std::int64_t oldest_ts_ns = 0;  // record time of the first of them (0 when depth is 0)
};

struct StoreReport {
  std::string path;
  std::uint64_t records = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::int64_t bytes_on_disk = 0;  // database + WAL files
  std::int64_t bytes_used = 0;     // database pages in use (see StoreStats)
  StoreDrops drops;
  std::vector<UpstreamBacklog> upstreams;  // sorted by name
};

// Opens the store file at `path` read-only (safe while the daemon runs: WAL readers neither wait
// for nor block the writer) and reports what it holds. Counting depth reads the rows after each
// cursor: O(records held). NotFound when there is no file; Corruption for a foreign/damaged one.
// Never writes to the database. Thread-safety: a free function; any thread.
Result<StoreReport> InspectStore(const std::string& path);

class Store {
 public:
  virtual ~Store() = default;

  // Opens (creating if needed) the store and its cursors for `upstreams`. A new upstream starts
  // with everything the store holds; cursors of upstreams no longer configured are removed.
  // A file that is not a store (or is damaged) gives Corruption naming the path and SQLite's
  // message, and is left untouched (CorruptPolicy::kFail), or is renamed and replaced by a fresh
  // store (kMoveAside). A file from a newer schema gives InvalidArgument and is never moved.
  // Implemented in store_open.cpp; see README.md there.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options,
                                             const std::vector<std::string>& upstreams);

  // Appends `records` in one transaction; assigns consecutive sequence numbers. Returns the last
  // sequence number assigned (LastSeq() when `records` is empty) and how many records were
  // rejected. On error nothing is stored. Bounds are applied in the same transaction:
  // drop_oldest may delete older records (or, when nothing older is left, some of this batch;
  // those still got their numbers and are counted in Drops()); reject_new refuses the whole
  // batch: Append returns OK with `rejected` = the batch's size and `last_seq` = LastSeq()
  // unchanged; the records get no numbers and are counted in Drops().rejected (the batch is not
  // retried). A full disk is handled the same way (reject, or drop and retry in the space the
  // file already has); if that fails, ResourceExhausted is returned and nothing was stored.
  [[nodiscard]] virtual Result<AppendResult> Append(std::span<const NewRecord> records) = 0;

  // Up to `limit` records with seq > after_seq, in sequence order.
  virtual Result<std::vector<Record>> ReadAfter(std::uint64_t after_seq, std::size_t limit) = 0;

  // The upstream's cursor (0 when it has acknowledged nothing).
  virtual std::uint64_t Cursor(std::string_view upstream) const = 0;

  // Sets the upstreams while the store is in use (a reload), as Open does: a new upstream gets a
  // cursor at 0 (it starts with everything the store holds), the cursor of one not listed is
  // removed, and records every remaining upstream has acknowledged are deleted. On error nothing
  // changed. REQUIRES: no forwarder of a removed upstream still acknowledges.
  virtual Status SetUpstreams(const std::vector<std::string>& upstreams) = 0;

  // Durably moves the upstream's cursor to `seq` (never backwards) and deletes records that every
  // upstream has acknowledged. An older `seq` is a no-op returning OK; an unknown upstream gives
  // NotFound; `seq` > LastSeq() gives InvalidArgument.
  virtual Status Ack(std::string_view upstream, std::uint64_t seq) = 0;

  // Corrects the times of records taken while the clock was not synchronised, once the offset is
  // known (gateway/clock/clock_watch.h): every record with seq > after_seq marked
  // "clock":"unsynced" whose time is in [ts_lo_ns, ts_hi_ns] gets ts + offset_ns, in its column
  // and its body, and "clock":"corrected". One transaction. Returns how many were changed.
  // Records a forwarder has already read are stale then: see Rewrites().
  virtual Result<std::uint64_t> CorrectClock(std::uint64_t after_seq, std::int64_t ts_lo_ns,
                                             std::int64_t ts_hi_ns, std::int64_t offset_ns) = 0;
  // How many times held records were changed in place (CorrectClock changing any). A forwarder
  // holding records read before a change reads them again before it sends.
  virtual std::uint64_t Rewrites() const = 0;

  virtual std::uint64_t LastSeq() const = 0;
  // Drop counters (in memory; no SQLite access).
  virtual StoreDrops Drops() const = 0;
  virtual StoreStats Stats() const = 0;
};

}  // namespace pn
