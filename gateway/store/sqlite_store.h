// SqliteStore: the pn::Store implementation on SQLite (WAL mode). See gateway/store/README.md for
// the schema, durability guarantees and the sequence/cursor semantics.
//
// Create it with Store::Open (defined in store_open.cpp); this header only exposes the helpers
// that tests share with the implementation (SqliteStatus, defined in sqlite_conn.cpp). The
// class itself is declared in sqlite_store_impl.h, which is internal to gateway/store.
#pragma once

#include <string_view>

#include "core/status.h"

namespace pn {

// Converts an SQLite result code into a Status naming the operation `what`, the database `path`
// and SQLite's own message `sqlite_message`:
//   SQLITE_NOTADB, SQLITE_CORRUPT      -> Corruption
//   SQLITE_FULL                        -> ResourceExhausted (disk full)
//   SQLITE_IOERR, SQLITE_CANTOPEN      -> IoError
//   SQLITE_BUSY, SQLITE_LOCKED         -> Unavailable (another process holds the lock)
//   anything else that is not OK       -> Internal
// Extended result codes are accepted. REQUIRES: rc is not SQLITE_OK, SQLITE_ROW or SQLITE_DONE.
// Thread-safety: a pure function.
Status SqliteStatus(int rc, std::string_view what, std::string_view path,
                    std::string_view sqlite_message);

}  // namespace pn
