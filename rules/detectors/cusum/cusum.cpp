#include "rules/detectors/cusum/cusum.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pn::rules {
namespace {

using config::KeySpec;
using config::TableSpec;
using config::ValueType;

const TableSpec kSpec{
    "Two-sided CUSUM against a baseline learned from the first samples.",
    {
        KeySpec{.name = "baseline",
                .type = ValueType::kInt,
                .default_value = std::int64_t{100},
                .description = "Samples learned as the healthy baseline (mean and standard "
                               "deviation) before the first score.",
                .min = 2,
                .max = 100000000},
        KeySpec{.name = "k",
                .type = ValueType::kFloat,
                .default_value = 0.5,
                .description = "Slack, in baseline standard deviations: deviations smaller "
                               "than this are ignored. Half the shift to detect is usual.",
                .min = 0.0,
                .max = 100.0},
        KeySpec{.name = "h",
                .type = ValueType::kFloat,
                .default_value = 5.0,
                .description = "Decision interval, in baseline standard deviations. The score "
                               "is the larger cumulative sum divided by h (capped at 1), so "
                               "score 1 is the classic CUSUM alarm.",
                .min = 0.01,
                .max = 10000.0},
        KeySpec{.name = "reset",
                .type = ValueType::kBool,
                .default_value = true,
                .description = "Restart both sums after a score of 1, so a persisting drift "
                               "signals again after another h / (d - k) samples."},
        KeySpec{.name = "min_std",
                .type = ValueType::kFloat,
                .default_value = 0.0,
                .description = "Floor on the baseline standard deviation, in the series' units.",
                .min = 0.0},
    }};

class CusumDetector final : public Detector {
 public:
  CusumDetector(std::int64_t baseline, double k, double h, bool reset, double min_std)
      : baseline_(baseline), k_(k), h_(h), reset_(reset), min_std_(min_std) {}

  double Update(std::int64_t /*ts_ns*/, std::span<const double> values) override {
    const double x = values[0];
    if (n_ < baseline_) {  // Welford
      ++n_;
      const double d = x - mean_;
      mean_ += d / static_cast<double>(n_);
      m2_ += d * (x - mean_);
      if (n_ == baseline_) {
        sd_ = std::max(std::sqrt(m2_ / static_cast<double>(n_ - 1)), min_std_);
        // A flat baseline: any change is a full-scale shift.
        if (sd_ == 0.0) sd_ = std::max(std::fabs(mean_) * 1e-9, 1e-300);
      }
      return std::numeric_limits<double>::quiet_NaN();
    }
    const double z = (x - mean_) / sd_;
    hi_ = std::max(0.0, hi_ + z - k_);
    lo_ = std::max(0.0, lo_ - z - k_);
    const double score = std::min(1.0, std::max(hi_, lo_) / h_);
    if (reset_ && score >= 1.0) hi_ = lo_ = 0.0;
    return score;
  }

  std::size_t state_bytes() const override { return sizeof(*this); }

 private:
  std::int64_t baseline_;
  double k_;
  double h_;
  bool reset_;
  double min_std_;
  std::int64_t n_ = 0;
  double mean_ = 0.0;
  double m2_ = 0.0;
  double sd_ = 0.0;
  double hi_ = 0.0;
  double lo_ = 0.0;
};

}  // namespace

const DetectorType& CusumDetectorType() {
  static const DetectorType type{
      .name = "cusum",
      .summary = "Two-sided CUSUM for slow drift from a learned baseline.",
      .multivariate = false,
      .spec = &kSpec,
      .check = {},
      .create = [](const config::Section& s, std::size_t) -> std::unique_ptr<Detector> {
        return std::make_unique<CusumDetector>(s.GetInt("baseline"), s.GetFloat("k"),
                                               s.GetFloat("h"), s.GetBool("reset"),
                                               s.GetFloat("min_std"));
      }};
  return type;
}

}  // namespace pn::rules
