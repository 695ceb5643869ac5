// connect::Backoff: capped exponential back-off with equal jitter by default (see backoff.h).
// Everything is computed, nothing waits: no clock is involved.
#include "gateway/connect/backoff.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

namespace pn::connect {
namespace {

std::vector<std::int64_t> Waits(Backoff& b, int n) {
  std::vector<std::int64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(b.NextMs());
  return out;
}

}  // namespace

TEST_CASE("backoff: without jitter the waits double from initial_ms and stop at max_ms") {
  Backoff b({.initial_ms = 100, .max_ms = 500, .jitter = 0.0});
  CHECK(b.CeilingMs() == 100);
  CHECK(Waits(b, 6) == std::vector<std::int64_t>{100, 200, 400, 500, 500, 500});
  CHECK(b.failures() == 6);
  b.Reset();
  CHECK(b.failures() == 0);
  CHECK(Waits(b, 2) == std::vector<std::int64_t>{100, 200});
}

TEST_CASE("backoff: equal jitter (the default) draws each wait between half and all of it") {
  Backoff b({.initial_ms = 100, .max_ms = 500}, 7);
  CHECK(b.policy().jitter == 0.5);
  std::int64_t ceiling = 100;
  for (int i = 0; i < 200; ++i) {
    CAPTURE(i);
    CHECK(b.CeilingMs() == ceiling);
    const std::int64_t w = b.NextMs();
    CHECK(w >= ceiling / 2);
    CHECK(w <= ceiling);  // max_ms is a true bound
    ceiling = std::min<std::int64_t>(500, ceiling * 2);
  }
}

TEST_CASE("backoff: the same seed gives the same waits, pinned on every platform") {
  Backoff a({.initial_ms = 100, .max_ms = 500}, 42);
  Backoff b({.initial_ms = 100, .max_ms = 500}, 42);
  const auto wa = Waits(a, 6);
  CHECK(wa == Waits(b, 6));
  // SplitMix64 from seed 42: the values do not depend on the standard library.
  CHECK(wa == std::vector<std::int64_t>{63, 184, 344, 414, 490, 283});
  Backoff c({.initial_ms = 100, .max_ms = 500}, SeedFromName("other"));
  CHECK(Waits(c, 6) != wa);
  CHECK(SeedFromName("up") == SeedFromName("up"));
  CHECK(SeedFromName("up") != SeedFromName("up2"));
}

TEST_CASE("backoff: full jitter, odd policies and long failure runs stay in range") {
  Backoff full({.initial_ms = 10, .max_ms = 1000, .jitter = 1.0}, 1);
  for (int i = 0; i < 100; ++i) {
    const std::int64_t w = full.NextMs();
    CHECK(w >= 1);
    CHECK(w <= 1000);
  }
  // max below initial: max is raised to initial; initial 0 is taken as 1; jitter clamped.
  Backoff odd({.initial_ms = 0, .max_ms = -5, .jitter = 7.0}, 1);
  CHECK(odd.policy().initial_ms == 1);
  CHECK(odd.policy().max_ms == 1);
  CHECK(odd.policy().jitter == 1.0);
  CHECK(odd.NextMs() == 1);
  Backoff many({.initial_ms = 3600000, .max_ms = 3600000, .jitter = 0.0});
  for (int i = 0; i < 5000; ++i) many.NextMs();  // no overflow however long it fails
  CHECK(many.NextMs() == 3600000);
}

}  // namespace pn::connect
