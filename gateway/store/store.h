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
// Thread-safety: safe for concurrent access. One thread (the store stage) appends; each
// forwarder thread reads and acknowledges for its own upstream.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/record.h"
#include "gateway/core/status.h"

namespace pn {

struct StoreOptions {
  std::string path;                    // database file
  std::string synchronous = "normal";  // "normal" or "full"
};

struct StoreStats {
  std::uint64_t records = 0;       // records held
  std::uint64_t first_seq = 0;     // lowest seq held (0 when empty)
  std::uint64_t last_seq = 0;      // highest seq ever assigned
  std::int64_t bytes_on_disk = 0;  // database + WAL files
  std::map<std::string, std::uint64_t> cursors;  // per upstream
};

class Store {
 public:
  virtual ~Store() = default;

  // Opens (creating if needed) the store and its cursors for `upstreams`. A new upstream starts
  // with everything the store holds; cursors of upstreams no longer configured are removed.
  // A file that is not a store (or is damaged) gives Corruption naming the path and SQLite's
  // message, and is left untouched. Implemented in sqlite_store.cpp; see README.md there.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options,
                                             const std::vector<std::string>& upstreams);

  // Appends `records` in one transaction; assigns consecutive sequence numbers. Returns the last
  // sequence number assigned (or LastSeq() when `records` is empty). On error nothing is stored.
  virtual Result<std::uint64_t> Append(std::span<const NewRecord> records) = 0;

  // Up to `limit` records with seq > after_seq, in sequence order.
  virtual Result<std::vector<Record>> ReadAfter(std::uint64_t after_seq, std::size_t limit) = 0;

  // The upstream's cursor (0 when it has acknowledged nothing).
  virtual std::uint64_t Cursor(std::string_view upstream) const = 0;

  // Durably moves the upstream's cursor to `seq` (never backwards) and deletes records that every
  // upstream has acknowledged. An older `seq` is a no-op returning OK; an unknown upstream gives
  // NotFound; `seq` > LastSeq() gives InvalidArgument.
  virtual Status Ack(std::string_view upstream, std::uint64_t seq) = 0;

  virtual std::uint64_t LastSeq() const = 0;
  virtual StoreStats Stats() const = 0;
};

}  // namespace pn
