// Per-series stages before detection (validation) and after it (report-on-change).
//
// Validation marks a reading bad when it is NaN or infinite, outside [min, max], changes faster
// than max_rate_per_s since the last good reading, or repeats the same value stuck_count times
// in a row (a stuck, flat-lined sensor). A bad reading never reaches detectors, alarms or health
// models, and never becomes the reference for the next rate check, so it cannot poison state.
// A gap longer than stale_after_ms resets the rate reference (a rate across a gap means little).
//
// Not thread-safe; owned by the engine thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/reading.h"

namespace pn::rules {

struct ValidateParams {
  std::optional<double> min;
  std::optional<double> max;
  std::optional<double> max_rate_per_s;
  std::int64_t stale_after_ms = 0;  // 0: off
  std::int64_t stuck_count = 0;     // 0: off; else this many equal values in a row are bad
};

class Validator {
 public:
  // Returns empty when the reading is good, else why it is bad ("not finite", "below min 0", ...).
  std::string Check(const ValidateParams& p, std::int64_t ts_ns, double value);

  // The time of the last reading seen (good or bad), 0 before the first.
  std::int64_t last_ts_ns() const { return last_ts_ns_; }

 private:
  bool has_last_ = false;
  bool has_good_ = false;
  std::int64_t last_ts_ns_ = 0;
  double last_value_ = 0.0;  // last finite value, for stuck detection
  std::int64_t same_count_ = 0;
  double good_value_ = 0.0;  // last good value and its time, for the rate check
  std::int64_t good_ts_ns_ = 0;
};

struct ReportParams {
  double deadband = 0.0;            // forward when |value - last forwarded| > deadband
  std::int64_t max_silence_ms = 0;  // forward anyway after this long; 0: never
};

class Reporter {
 public:
  // True when this reading should be forwarded; remembers it if so.
  bool ShouldForward(const ReportParams& p, const Reading& r);

 private:
  bool has_last_ = false;
  double last_value_ = 0.0;
  std::string last_text_;  // kString readings
  Quality last_quality_ = Quality::kGood;
  std::int64_t last_ts_ns_ = 0;
};

}  // namespace pn::rules
