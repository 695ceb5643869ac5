// Signal handling for the daemon. Handlers only set flags (async-signal-safe); the main loop
// polls them. SIGTERM and SIGINT ask for a graceful stop, SIGHUP for a rules reload.
#pragma once

namespace pn::service {

// Installs the handlers. Call once, before any thread starts, so threads inherit the mask.
void InstallSignalHandlers();

// Reads and clears the flags.
bool TakeStopRequest();
bool TakeReloadRequest();
// The number of stop signals seen (a second SIGINT may force a faster exit).
int StopSignalCount();

}  // namespace pn::service
