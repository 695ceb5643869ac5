// Signal handling for the daemon. Handlers only set flags and write a byte to a pipe (both
// async-signal-safe); the main loop sleeps in WaitForSignal and reads the flags. SIGTERM and
// SIGINT ask for a graceful stop, SIGHUP for a rules reload.
#pragma once

#include <chrono>

namespace pn::service {

// Installs the handlers. Call once, before any thread starts, so threads inherit the mask.
void InstallSignalHandlers();

// Reads and clears the flags.
bool TakeStopRequest();
bool TakeReloadRequest();
// The number of stop signals seen (a second SIGINT may force a faster exit).
int StopSignalCount();

// Sleeps until a stop or reload signal arrives or `timeout` passes; returns at once when one is
// pending. The flags are then read with TakeStopRequest / TakeReloadRequest.
void WaitForSignal(std::chrono::milliseconds timeout);

}  // namespace pn::service
