// connect::SleepFor / SleepUntil / SleepUntilStopped: a stop ends every wait. No test here
// relies on how long anything takes: each waits for a state (a stop, a FakeClock deadline) and
// at worst would hang, which ctest's timeout reports.
#include "gateway/connect/sleep.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <stop_token>
#include <thread>

namespace pn::connect {

using namespace std::chrono_literals;

TEST_CASE("sleep: a stop requested before the sleep ends it at once, reported as false") {
  std::stop_source src;
  src.request_stop();
  CHECK_FALSE(SleepFor(src.get_token(), 24h));
  FakeClock clock(0);
  CHECK_FALSE(SleepUntil(src.get_token(), clock, INT64_MAX));
  SleepUntilStopped(src.get_token());  // returns
}

TEST_CASE("sleep: a deadline already passed returns true without waiting") {
  std::stop_source src;
  CHECK(SleepFor(src.get_token(), 0ns));
  CHECK(SleepFor(src.get_token(), -5ms));
  FakeClock clock(1000);
  CHECK(SleepUntil(src.get_token(), clock, 1000));
  CHECK(SleepUntil(src.get_token(), clock, 999));
}

TEST_CASE("sleep: a stop from another thread ends a day-long sleep") {
  for (int which = 0; which < 3; ++which) {
    CAPTURE(which);
    std::atomic<int> result{-1};
    FakeClock clock(0);
    std::jthread sleeper([&](std::stop_token st) {
      if (which == 0) result = SleepFor(st, 24h) ? 1 : 0;
      if (which == 1) result = SleepUntil(st, clock, 86'400'000'000'000) ? 1 : 0;
      if (which == 2) {
        SleepUntilStopped(st);
        result = 0;
      }
    });
    sleeper.request_stop();
    sleeper.join();
    CHECK(result == 0);
  }
}

TEST_CASE("sleep: moving a FakeClock past the deadline ends the wait as passed") {
  FakeClock clock(0);
  std::atomic<int> result{-1};
  std::jthread sleeper([&](std::stop_token st) { result = SleepUntil(st, clock, 5'000) ? 1 : 0; });
  clock.Set(5'000);  // the sleeper reads the clock again after at most MaxSleepNs()
  sleeper.join();    // no stop requested: only the clock can end the wait
  CHECK(result == 1);
}

}  // namespace pn::connect
