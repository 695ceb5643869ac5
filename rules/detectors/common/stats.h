// Small numeric helpers shared by the detectors: tail probabilities that turn a test statistic
// into a calibrated 0..1 score, and an exponentially weighted mean/variance.
//
// Score convention (every detector): score = 1 - p, where p is the probability, under the
// detector's model of normal behaviour, of a sample at least this extreme. min_score = 0.999
// therefore means "about one normal sample in a thousand is flagged".
#pragma once

#include <cmath>
#include <cstdint>

namespace pn::rules::detail {

inline constexpr double kSqrt2 = 1.4142135623730951;

// P(Z <= z) for a standard normal Z.
inline double NormalCdf(double z) { return 0.5 * std::erfc(-z / kSqrt2); }

// 1 - P(|Z| >= |z|): the two-sided score of a z-value.
inline double TwoSidedScore(double z) { return std::erf(std::fabs(z) / kSqrt2); }

// Wilson-Hilferty: maps a chi-squared(k) value to an approximately standard normal z.
inline double ChiSquareToZ(double x, double k) {
  if (x <= 0.0) return -8.0;
  const double v = 2.0 / (9.0 * k);
  return (std::cbrt(x / k) - (1.0 - v)) / std::sqrt(v);
}

// Exponentially weighted mean and variance (West 1979 / Finch 2009), O(1) state.
class EwStats {
 public:
  explicit EwStats(double alpha = 0.05) : alpha_(alpha) {}
  // Adds x. The first sample sets the mean, variance 0.
  void Add(double x) {
    if (n_ == 0) {
      mean_ = x;
      var_ = 0.0;
    } else {
      const double diff = x - mean_;
      const double incr = alpha_ * diff;
      mean_ += incr;
      var_ = (1.0 - alpha_) * (var_ + diff * incr);
    }
    if (n_ < INT64_MAX) ++n_;
  }
  double mean() const { return mean_; }
  double variance() const { return var_; }
  double stddev() const { return std::sqrt(var_); }
  std::int64_t count() const { return n_; }

 private:
  double alpha_;
  double mean_ = 0.0;
  double var_ = 0.0;
  std::int64_t n_ = 0;
};

// Score of a deviation `diff` against scale `sd`: two-sided Gaussian. A zero scale scores 0 for
// no deviation and 1 for any deviation (a flat series that moves is anomalous).
inline double DeviationScore(double diff, double sd) {
  if (sd > 0.0) return TwoSidedScore(diff / sd);
  return diff == 0.0 ? 0.0 : 1.0;
}

}  // namespace pn::rules::detail
