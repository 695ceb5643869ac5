// Stop-aware sleeps: how a driver or upstream thread waits (a back-off, a poll interval) so that
// a stop request ends the wait at once.
//
// The one behaviour: each function returns true when the whole time has passed and false as
// soon as `stop` is requested (at once if it already is), whichever comes first. They never
// spin: the thread sleeps on a condition variable that the stop request wakes
// (std::condition_variable_any with a stop_token).
//   - SleepFor(duration): a relative wait in real time (the condition variable's own clock);
//     it reads no time point, so code that sleeps this way still reads time only from a Clock.
//   - SleepUntil(clock, monotonic_ns): a deadline on a Clock's MonotonicNs(). On a real clock
//     that is one sleep; a FakeClock moves without waking anyone, so the wait is cut into
//     sleeps of at most Clock::MaxSleepNs() and the clock is read again after each, so a test
//     that advances the FakeClock ends the wait without waiting for real time.
//   - SleepUntilStopped: until the stop request (a thread with nothing left to do).
#pragma once

#include <chrono>
#include <cstdint>
#include <stop_token>

#include "core/clock.h"

namespace pn::connect {

bool SleepFor(std::stop_token stop, std::chrono::nanoseconds duration);
bool SleepUntil(std::stop_token stop, const Clock& clock, std::int64_t monotonic_ns);
void SleepUntilStopped(std::stop_token stop);

}  // namespace pn::connect
