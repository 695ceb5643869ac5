#include "rules/detectors/zscore/zscore.h"

#include <cmath>
#include <limits>
#include <vector>

#include "rules/detectors/common/stats.h"

namespace pn::rules {
namespace {

using config::KeySpec;
using config::TableSpec;
using config::ValueType;

const TableSpec kSpec{
    "Rolling z-score over the previous `window` samples.",
    {
        KeySpec{.name = "window",
                .type = ValueType::kInt,
                .default_value = std::int64_t{100},
                .description = "Number of previous samples whose mean and standard deviation are "
                               "the baseline. Also the warm-up length. State is 8 bytes a sample.",
                .min = 2,
                .max = 100000},
        KeySpec{.name = "min_std",
                .type = ValueType::kFloat,
                .default_value = 0.0,
                .description = "Floor on the standard deviation, in the series' units, so that "
                               "an almost flat series does not turn noise into anomalies.",
                .min = 0.0},
    }};

// Sample i is scored against samples i-window..i-1 (it never dilutes its own baseline).
class ZScoreDetector final : public Detector {
 public:
  ZScoreDetector(std::size_t window, double min_std) : buf_(window), min_std_(min_std) {}

  double Update(std::int64_t /*ts_ns*/, std::span<const double> values) override {
    if (count_ == 0) ref_ = values[0];
    const double x = values[0] - ref_;  // shifted: keeps the sums small and exact
    double score = std::numeric_limits<double>::quiet_NaN();
    const std::size_t w = buf_.size();
    if (count_ >= w) {
      const double n = static_cast<double>(w);
      const double mean = sum_ / n;
      const double var = std::max(0.0, sum_sq_ / n - mean * mean);
      score = detail::DeviationScore(x - mean, std::max(std::sqrt(var * n / (n - 1.0)), min_std_));
      const double old = buf_[pos_];
      sum_ -= old;
      sum_sq_ -= old * old;
    }
    buf_[pos_] = x;
    sum_ += x;
    sum_sq_ += x * x;
    pos_ = (pos_ + 1) % w;
    ++count_;
    // Recompute the sums once a window so rounding errors cannot accumulate.
    // Re-centres them on the window mean for precision.
    if (pos_ == 0) {
      double total = 0.0;
      for (double v : buf_) total += v;
      const double shift = total / static_cast<double>(w);
      ref_ += shift;
      sum_ = sum_sq_ = 0.0;
      for (double& v : buf_) {
        v -= shift;
        sum_ += v;
        sum_sq_ += v * v;
      }
    }
    return score;
  }

  std::size_t state_bytes() const override {
    return sizeof(*this) + buf_.capacity() * sizeof(double);
  }

 private:
  std::vector<double> buf_;
  double min_std_;
  double ref_ = 0.0;  // buf_ holds samples minus ref_
  double sum_ = 0.0;
  double sum_sq_ = 0.0;
  std::size_t pos_ = 0;
  std::size_t count_ = 0;
};

}  // namespace

const DetectorType& ZScoreDetectorType() {
  static const DetectorType type{
      .name = "zscore",
      .summary = "Rolling z-score of each sample against the previous `window` samples.",
      .multivariate = false,
      .spec = &kSpec,
      .check = {},
      .create = [](const config::Section& s, std::size_t) -> std::unique_ptr<Detector> {
        return std::make_unique<ZScoreDetector>(static_cast<std::size_t>(s.GetInt("window")),
                                                s.GetFloat("min_std"));
      }};
  return type;
}

}  // namespace pn::rules
