// Back-off between attempts to reach a peer, computed one way for every driver and upstream.
//
// The one behaviour: capped exponential back-off with "equal jitter" by default.
//   - The n-th wait after n consecutive failures (n = 1, 2, ...) starts from
//       d(n) = min(max_ms, initial_ms * 2^(n-1))
//     so the first wait is initial_ms and the waits never grow past max_ms.
//   - Jitter spreads each wait below d(n): the wait is drawn uniformly from
//       [d(n) * (1 - jitter), d(n)]
//     With the default jitter = 0.5 that is "equal jitter" (half fixed, half random): peers
//     that fail together spread out, and max_ms stays a true upper bound. jitter = 0 gives
//     the plain doubling sequence; jitter = 1 is "full jitter". A wait is at least 1 ms.
//   - Reset() after a success: the next failure waits about initial_ms again.
//   - Deterministic: the random draws come from a small generator (SplitMix64) seeded by the
//     caller, so the same seed gives the same waits on every platform (tests pin them).
// Not thread-safe: one Backoff per connection or per retrying thing, used by its owner.
#pragma once

#include <cstdint>

namespace pn::connect {

struct BackoffPolicy {
  std::int64_t initial_ms = 500;  // the first wait (before jitter)
  std::int64_t max_ms = 30000;    // no wait is longer
  double jitter = 0.5;            // fraction of each wait that is random, 0..1
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy = {}, std::uint64_t seed = 0);

  // Counts one more failure and returns how long to wait before the next attempt, in ms.
  std::int64_t NextMs();
  // After a success: the next NextMs() starts from initial_ms again.
  void Reset() { failures_ = 0; }

  // Consecutive failures counted since the last Reset().
  int failures() const { return failures_; }
  // d(n) of the next NextMs(), before jitter: for logs ("retrying in up to N ms").
  std::int64_t CeilingMs() const;
  const BackoffPolicy& policy() const { return policy_; }

 private:
  double Uniform();  // [0, 1)

  BackoffPolicy policy_;
  std::uint64_t state_;
  int failures_ = 0;
};

// A seed from a name (an instance name, say): the same name gives the same waits, different
// names spread out. FNV-1a, so it is the same on every platform.
std::uint64_t SeedFromName(const char* name);

}  // namespace pn::connect
