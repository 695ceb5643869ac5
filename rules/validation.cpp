#include "rules/validation.h"

#include <fmt/format.h>

#include <cmath>

namespace pn::rules {

std::string Validator::Check(const ValidateParams& p, std::int64_t ts_ns, double value) {
  bool gap =
      has_last_ && p.stale_after_ms > 0 && ts_ns - last_ts_ns_ > p.stale_after_ms * 1'000'000;
  has_last_ = true;
  last_ts_ns_ = ts_ns;
  if (gap) has_good_ = false;
  if (!std::isfinite(value)) return "not a finite number";

  if (p.stuck_count > 0) {
    if (same_count_ > 0 && value == last_value_) {
      ++same_count_;
    } else {
      same_count_ = 1;
    }
    last_value_ = value;
    if (same_count_ >= p.stuck_count) {
      return fmt::format("stuck: same value {} times in a row", same_count_);
    }
  }
  if (p.min && value < *p.min) return fmt::format("below min {}", *p.min);
  if (p.max && value > *p.max) return fmt::format("above max {}", *p.max);
  if (p.max_rate_per_s && has_good_ && ts_ns > good_ts_ns_) {
    double rate = std::fabs(value - good_value_) * 1e9 / static_cast<double>(ts_ns - good_ts_ns_);
    if (rate > *p.max_rate_per_s) {
      return fmt::format("rate {:.6g}/s above max_rate_per_s {}", rate, *p.max_rate_per_s);
    }
  }
  has_good_ = true;
  good_value_ = value;
  good_ts_ns_ = ts_ns;
  return {};
}

bool Reporter::ShouldForward(const ReportParams& p, const Reading& r) {
  // A text changes or not; a number (an integer, a boolean's 0/1) changes by more than the
  // deadband.
  const bool changed = r.kind == ValueKind::kString ? r.text != last_text_
                                                    : std::fabs(r.value - last_value_) > p.deadband;
  bool forward = !has_last_ || r.quality != last_quality_ || changed ||
                 (p.max_silence_ms > 0 && r.ts_ns - last_ts_ns_ >= p.max_silence_ms * 1'000'000);
  if (forward) {
    has_last_ = true;
    last_value_ = r.value;
    if (r.kind == ValueKind::kString) last_text_ = r.text;
    last_quality_ = r.quality;
    last_ts_ns_ = r.ts_ns;
  }
  return forward;
}

}  // namespace pn::rules
