// The exit codes of every processnow command, one table (sysexits.h numbers, so scripts and
// systemd can tell a bad config from a missing file from a dead peer). The README's command
// table lists which command returns which.
#pragma once

namespace pn {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;       // the command ran and the answer is "no" (status)
inline constexpr int kExitUsage = 64;        // EX_USAGE: bad arguments
inline constexpr int kExitDataErr = 65;      // EX_DATAERR: input that cannot be used (a CSV)
inline constexpr int kExitNoInput = 66;      // EX_NOINPUT: an input file that is not there
inline constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: the daemon does not answer
inline constexpr int kExitCantCreate = 73;   // EX_CANTCREAT: an output that cannot be written
inline constexpr int kExitIoError = 74;      // EX_IOERR: the store cannot be opened or written
inline constexpr int kExitConfig = 78;       // EX_CONFIG: a configuration or rule error

}  // namespace pn
