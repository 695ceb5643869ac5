#include "rules/detectors/ewma/ewma.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "rules/detectors/common/stats.h"

namespace pn::rules {
namespace {

using config::KeySpec;
using config::TableSpec;
using config::ValueType;

const TableSpec kSpec{
    "Exponentially weighted moving average and variance.",
    {
        KeySpec{.name = "alpha",
                .type = ValueType::kFloat,
                .default_value = 0.05,
                .description = "Weight of the newest sample in the mean and variance (0..1). "
                               "The memory is about 2 / alpha samples.",
                .min = 1e-6,
                .max = 1.0},
        KeySpec{.name = "warmup",
                .type = ValueType::kInt,
                .default_value = std::int64_t{40},
                .description = "Samples learned before the first score (about 2 / alpha).",
                .min = 2,
                .max = 10000000},
        KeySpec{.name = "min_std",
                .type = ValueType::kFloat,
                .default_value = 0.0,
                .description = "Floor on the standard deviation, in the series' units.",
                .min = 0.0},
    }};

// Each sample is scored against the mean and variance of the samples before it, then folded in.
class EwmaDetector final : public Detector {
 public:
  EwmaDetector(double alpha, std::int64_t warmup, double min_std)
      : stats_(alpha), warmup_(warmup), min_std_(min_std) {}

  double Update(std::int64_t /*ts_ns*/, std::span<const double> values) override {
    const double x = values[0];
    double score = std::numeric_limits<double>::quiet_NaN();
    if (stats_.count() >= warmup_) {
      score = detail::DeviationScore(x - stats_.mean(), std::max(stats_.stddev(), min_std_));
    }
    stats_.Add(x);
    return score;
  }

  std::size_t state_bytes() const override { return sizeof(*this); }

 private:
  detail::EwStats stats_;
  std::int64_t warmup_;
  double min_std_;
};

}  // namespace

const DetectorType& EwmaDetectorType() {
  static const DetectorType type{
      .name = "ewma",
      .summary = "Deviation from an exponentially weighted mean, in weighted standard deviations.",
      .multivariate = false,
      .spec = &kSpec,
      .check = {},
      .create = [](const config::Section& s, std::size_t) -> std::unique_ptr<Detector> {
        return std::make_unique<EwmaDetector>(s.GetFloat("alpha"), s.GetInt("warmup"),
                                              s.GetFloat("min_std"));
      }};
  return type;
}

}  // namespace pn::rules
