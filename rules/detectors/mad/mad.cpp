#include "rules/detectors/mad/mad.h"

#include <algorithm>
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
    "Robust z-score: median and median absolute deviation of the previous `window` samples.",
    {
        KeySpec{.name = "window",
                .type = ValueType::kInt,
                .default_value = std::int64_t{61},
                .description = "Number of previous samples forming the baseline; also the "
                               "warm-up length. Each sample costs O(window) time.",
                .min = 3,
                .max = 10001},
        KeySpec{.name = "min_scale",
                .type = ValueType::kFloat,
                .default_value = 0.0,
                .description = "Floor on the robust standard deviation (1.4826 MAD), in the "
                               "series' units.",
                .min = 0.0},
    }};

constexpr double kMadToSigma = 1.4826;     // MAD of a normal distribution is 0.6745 sigma
constexpr double kMeanAdToSigma = 1.2533;  // sqrt(pi / 2)

class MadDetector final : public Detector {
 public:
  MadDetector(std::size_t window, double min_scale) : ring_(window), min_scale_(min_scale) {
    sorted_.reserve(window);
  }

  double Update(std::int64_t /*ts_ns*/, std::span<const double> values) override {
    const double x = values[0];
    double score = std::numeric_limits<double>::quiet_NaN();
    const std::size_t w = ring_.size();
    if (sorted_.size() == w) {
      const double med = Median();
      double scale = kMadToSigma * Mad(med);
      if (scale == 0.0) {  // more than half the window is one value: use the mean deviation
        double total = 0.0;
        for (double v : sorted_) total += std::fabs(v - med);
        scale = kMeanAdToSigma * total / static_cast<double>(w);
      }
      score = detail::DeviationScore(x - med, std::max(scale, min_scale_));
      // Drop the oldest sample.
      const auto it = std::lower_bound(sorted_.begin(), sorted_.end(), ring_[pos_]);
      sorted_.erase(it);
    }
    ring_[pos_] = x;
    pos_ = (pos_ + 1) % w;
    sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), x), x);
    return score;
  }

  std::size_t state_bytes() const override {
    return sizeof(*this) + (ring_.capacity() + sorted_.capacity()) * sizeof(double);
  }

 private:
  double Median() const {
    const std::size_t n = sorted_.size();
    return n % 2 == 1 ? sorted_[n / 2] : 0.5 * (sorted_[n / 2 - 1] + sorted_[n / 2]);
  }

  // Median of |v - med|: merges the deviations of the lower and upper halves outwards.
  double Mad(double med) const {
    const std::size_t n = sorted_.size();
    std::ptrdiff_t lo = static_cast<std::ptrdiff_t>((n - 1) / 2);
    std::size_t hi = static_cast<std::size_t>(lo) + 1;
    const std::size_t want_hi = n / 2;  // index of the upper median in the merged order
    double prev = 0.0;
    double cur = 0.0;
    for (std::size_t k = 0; k <= want_hi; ++k) {
      const double dl = lo >= 0 ? med - sorted_[static_cast<std::size_t>(lo)]
                                : std::numeric_limits<double>::infinity();
      const double dh = hi < n ? sorted_[hi] - med : std::numeric_limits<double>::infinity();
      prev = cur;
      if (dl <= dh) {
        cur = dl;
        --lo;
      } else {
        cur = dh;
        ++hi;
      }
    }
    return n % 2 == 1 ? cur : 0.5 * (prev + cur);
  }

  std::vector<double> ring_;
  std::vector<double> sorted_;
  double min_scale_;
  std::size_t pos_ = 0;
};

}  // namespace

const DetectorType& MadDetectorType() {
  static const DetectorType type{
      .name = "mad",
      .summary = "Robust z-score against the median and MAD of the previous `window` samples.",
      .multivariate = false,
      .spec = &kSpec,
      .check = {},
      .create = [](const config::Section& s, std::size_t) -> std::unique_ptr<Detector> {
        return std::make_unique<MadDetector>(static_cast<std::size_t>(s.GetInt("window")),
                                             s.GetFloat("min_scale"));
      }};
  return type;
}

}  // namespace pn::rules
