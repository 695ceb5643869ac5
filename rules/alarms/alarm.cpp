#include "rules/alarms/alarm.h"

#include <cmath>

namespace pn::rules {

AlarmState::Transition AlarmState::Update(const AlarmParams& p, std::int64_t ts_ns, double score) {
  if (std::isnan(score)) return Transition::kNone;
  // A reading "counts" when it pushes toward the other state.
  bool toward = raised_ ? score < p.clear_level : score >= p.raise_level;
  if (!toward) {
    run_count_ = 0;
    return Transition::kNone;
  }
  if (run_count_ == 0) run_start_ns_ = ts_ns;
  ++run_count_;
  std::int64_t need_count = raised_ ? p.clear_after : p.raise_after;
  std::int64_t need_ms = raised_ ? p.clear_after_ms : p.raise_after_ms;
  if (run_count_ < need_count) return Transition::kNone;
  if (ts_ns - run_start_ns_ < need_ms * 1'000'000) return Transition::kNone;
  raised_ = !raised_;
  run_count_ = 0;
  return raised_ ? Transition::kRaised : Transition::kCleared;
}

}  // namespace pn::rules
