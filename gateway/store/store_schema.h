// Internal to gateway/store: the store file's schema and its meta rows. kSchemaVersion is the
// file's PRAGMA user_version; CheckNotForeign refuses a file that is not ours (or is from a newer
// schema) without writing to it; EnsureSchema creates the tables in a fresh file. The drop
// counters are rows of the meta table: kDropKeys names them and DropField maps each to its
// StoreDrops field, so that the store and InspectStore read and write them the same way. See
// README.md (Schema, Upgrades and downgrades). Not an API: other code uses store.h.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "gateway/store/sqlite_conn.h"
#include "gateway/store/store.h"

namespace pn::store_detail {

inline constexpr int kSchemaVersion = 1;

// Refuses, without writing anything, a file that is not an SQLite database, is damaged, is
// another program's database or is from a newer version of this program.
Status CheckNotForeign(Conn& c);

// Creates the schema in a fresh file, or checks that an existing file holds our schema.
// A new file starts at `first_last_seq` (0, or above an old file's numbers after a move-aside).
Status EnsureSchema(Conn& c, std::uint64_t first_last_seq);

// The meta keys of the drop counters, in DropField's order.
inline constexpr const char* kDropKeys[] = {"dropped_age", "dropped_size_readings",
                                            "dropped_size_events", "dropped_rejected"};

std::uint64_t* DropField(StoreDrops& d, int i);

StoreDrops& operator+=(StoreDrops& a, const StoreDrops& b);

}  // namespace pn::store_detail
