// Clock: the only way code outside service/ learns the time, so tests can use a FakeClock.
// One exception, on purpose: the Kafka module (gateway/upstream/kafka/kafka_module_rdkafka.cpp)
// bounds librdkafka's own real-time waits (flush, purge) with steady_clock deadlines, which a
// FakeClock could never end. Relative waits (connect::SleepFor, a condition variable's
// wait_for) read no time point and are allowed.
// The rules engine never reads a clock: it uses the readings' own timestamps.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace pn {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, epoch nanoseconds UTC. Safe for concurrent access.
  virtual std::int64_t NowNs() const = 0;
  // A monotonic time for measuring intervals, nanoseconds. Safe for concurrent access.
  virtual std::int64_t MonotonicNs() const = 0;
  // The longest a thread waiting for a MonotonicNs() deadline should sleep before it reads the
  // clock again. A real clock's deadline is met by the OS timer, so the whole wait is one
  // sleep (an idle gateway should not wake up for nothing); a FakeClock moves without waking
  // anyone, so waits on it are cut into short sleeps.
  virtual std::int64_t MaxSleepNs() const { return INT64_MAX; }
};

class SystemClock final : public Clock {
 public:
  std::int64_t NowNs() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::int64_t MonotonicNs() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static SystemClock& Instance() {
    static SystemClock clock;
    return clock;
  }
};

// A clock that moves only when told. Safe for concurrent access. Advance() moves both times;
// StepWall() moves only the wall clock, as setting the date or an NTP step does.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t start_ns = 0) : now_(start_ns) {}
  std::int64_t NowNs() const override { return now_.load() + wall_step_.load(); }
  std::int64_t MonotonicNs() const override { return now_.load(); }
  std::int64_t MaxSleepNs() const override { return 50'000'000; }
  void Advance(std::int64_t ns) { now_ += ns; }
  void Set(std::int64_t ns) { now_ = ns; }
  void StepWall(std::int64_t ns) { wall_step_ += ns; }

 private:
  std::atomic<std::int64_t> now_;
  std::atomic<std::int64_t> wall_step_{0};
};

}  // namespace pn
