// Alarm state machine for one rule and one series (or one device, for multivariate rules):
// debounce on raise, hysteresis and delay on clear, deduplication.
//
//   normal --(score >= raise_level for raise_after readings AND raise_after_ms)--> raised
//   raised --(score <  clear_level for clear_after readings AND clear_after_ms)--> normal
//
// Raising returns kRaised once; while raised nothing more is returned until it clears (dedup).
// A reading that breaks a run (normal while counting anomalies, or anomalous while counting
// normals) restarts that count. NaN scores (detector warming up) are ignored entirely.
//
// Not thread-safe; owned by the engine thread.
#pragma once

#include <cstdint>
#include <string>

namespace pn::rules {

struct AlarmParams {
  double raise_level = 0.5;         // the rule's detector min_score
  std::int64_t raise_after = 1;     // consecutive anomalous readings
  std::int64_t raise_after_ms = 0;  // and the anomalous run lasted at least this long
  double clear_level = 0.5;         // a reading is normal (while raised) when score < this
  std::int64_t clear_after = 1;     // consecutive normal readings
  std::int64_t clear_after_ms = 0;  // and the normal run lasted at least this long
  std::string severity = "warning";
};

class AlarmState {
 public:
  enum class Transition { kNone, kRaised, kCleared };

  // Feeds the score of one reading at ts_ns.
  Transition Update(const AlarmParams& p, std::int64_t ts_ns, double score);

  bool raised() const { return raised_; }

 private:
  bool raised_ = false;
  std::int64_t run_count_ = 0;     // length of the current run toward a transition
  std::int64_t run_start_ns_ = 0;  // time of the first reading of that run
};

}  // namespace pn::rules
