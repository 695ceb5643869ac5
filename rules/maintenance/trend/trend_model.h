// Trend extrapolation without a reference library: for assets with no run-to-failure history.
//
// Each asset learns its own healthy baseline (per-series mean and standard deviation) from its
// first `baseline_samples` samples. Afterwards each series is smoothed (EWMA) and its deviation
// from the baseline measured in baseline standard deviations; the health index is
// 1 - rms_deviation / failure_deviation, clipped to 0..1 (0: the deviation reached the failure
// level). The degradation trend is the least-squares slope of the health index over the last
// `trend_window` samples; RUL is the time for that line to reach health 0, clipped to `rul_cap`
// (and `rul_cap` while the health is not falling; NaN without a cap); 0 once health is 0.
//
// Bounded memory: O(series + trend_window) per asset. Thread-safety: one thread owns a model.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "rules/maintenance/health_model.h"

namespace pn::rules {

struct TrendParams {
  int baseline_samples = 30;       // samples that define the healthy baseline
  int smoothing = 10;              // EWMA span of each series, in samples
  double failure_deviation = 6.0;  // rms deviation (baseline sds) at which health is 0
  int trend_window = 50;           // samples in the trend fit
  double rul_cap = 0.0;            // 0: no cap
};

class TrendModel : public HealthModel {
 public:
  TrendModel(TrendParams params, std::size_t arity);

  // Non-finite values leave the state unchanged and return the previous estimate.
  HealthEstimate Update(double t, std::span<const double> values) override;

  std::size_t state_bytes() const;

 private:
  TrendParams params_;
  std::size_t samples_ = 0;
  std::vector<double> mean_;  // Welford baseline
  std::vector<double> m2_;
  std::vector<double> smooth_;  // EWMA per series
  std::vector<double> ring_t_;
  std::vector<double> ring_h_;
  std::size_t ring_next_ = 0;
  std::size_t ring_size_ = 0;
  HealthEstimate last_;
};

// The registry entry: `method = "trend"`.
HealthModelType TrendModelType();

}  // namespace pn::rules
