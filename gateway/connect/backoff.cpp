#include "gateway/connect/backoff.h"

#include <algorithm>
#include <cmath>

namespace pn::connect {

Backoff::Backoff(BackoffPolicy policy, std::uint64_t seed) : policy_(policy), state_(seed) {
  policy_.initial_ms = std::max<std::int64_t>(policy_.initial_ms, 1);
  policy_.max_ms = std::max(policy_.max_ms, policy_.initial_ms);
  if (!(policy_.jitter >= 0.0)) policy_.jitter = 0.0;  // NaN too
  policy_.jitter = std::min(policy_.jitter, 1.0);
}

double Backoff::Uniform() {
  // SplitMix64 (Steele, Lea, Flood 2014): tiny state, good enough spread, same everywhere.
  state_ += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

std::int64_t Backoff::CeilingMs() const {
  const int doublings = std::min(failures_, 62);
  const double d = std::ldexp(static_cast<double>(policy_.initial_ms), doublings);
  return d >= static_cast<double>(policy_.max_ms) ? policy_.max_ms : static_cast<std::int64_t>(d);
}

std::int64_t Backoff::NextMs() {
  const std::int64_t ceiling = CeilingMs();
  if (failures_ < 1000) ++failures_;
  if (policy_.jitter <= 0.0) return ceiling;
  const double spread = static_cast<double>(ceiling) * policy_.jitter * Uniform();
  const auto wait = static_cast<std::int64_t>(std::llround(static_cast<double>(ceiling) - spread));
  return std::clamp<std::int64_t>(wait, 1, ceiling);
}

std::uint64_t SeedFromName(const char* name) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char* p = name; *p != '\0'; ++p) {
    h ^= static_cast<unsigned char>(*p);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace pn::connect
