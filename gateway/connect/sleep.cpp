#include "gateway/connect/sleep.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>

namespace pn::connect {

bool SleepFor(std::stop_token stop, std::chrono::nanoseconds duration) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  // Nothing but the stop request or the end of the duration ends this wait.
  cv.wait_for(lock, stop, duration, [] { return false; });
  return !stop.stop_requested();
}

bool SleepUntil(std::stop_token stop, const Clock& clock, std::int64_t monotonic_ns) {
  while (!stop.stop_requested()) {
    const std::int64_t left = monotonic_ns - clock.MonotonicNs();
    if (left <= 0) return true;
    if (!SleepFor(stop, std::chrono::nanoseconds(std::min(left, clock.MaxSleepNs())))) {
      return false;
    }
  }
  return false;
}

void SleepUntilStopped(std::stop_token stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait(lock, stop, [] { return false; });
}

}  // namespace pn::connect
