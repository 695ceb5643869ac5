#include "rules/detectors/hotelling/hotelling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "rules/detectors/common/stats.h"

namespace pn::rules {
namespace {

using config::KeySpec;
using config::TableSpec;
using config::ValueType;

const TableSpec kSpec{
    "Hotelling T-squared and PCA residual (Q) against a baseline learned from the first samples.",
    {
        KeySpec{.name = "baseline",
                .type = ValueType::kInt,
                .default_value = std::int64_t{400},
                .description = "Samples learned as the healthy baseline before the first score.",
                .min = 3,
                .max = 1000000},
        KeySpec{.name = "variance",
                .type = ValueType::kFloat,
                .default_value = 0.9,
                .description = "Fraction of the baseline variance the principal subspace keeps; "
                               "the rest is the residual that Q measures. 1 keeps every "
                               "component (pure T-squared).",
                .min = 0.01,
                .max = 1.0},
        KeySpec{.name = "shrinkage",
                .type = ValueType::kFloat,
                .default_value = 0.05,
                .description = "Weight of the identity in the shrunk correlation matrix "
                               "(0 = sample correlation).",
                .min = 0.0,
                .max = 1.0},
        KeySpec{.name = "smoothing",
                .type = ValueType::kInt,
                .default_value = std::int64_t{1},
                .description = "Samples of memory (1 / weight) of an exponential average of the "
                               "standardised samples before scoring (MEWMA chart; 1 = none). "
                               "Averaging finds small sustained shifts sooner.",
                .min = 1,
                .max = 100000},
        KeySpec{.name = "min_relative_std",
                .type = ValueType::kFloat,
                .default_value = 0.0,
                .description = "Deviations smaller than this fraction of a series' baseline mean "
                               "count as within the sensor's accuracy (\"0.5% of reading\"): "
                               "a floor on the series' spread, after smoothing, that averaging "
                               "does not shrink. Keeps a series that happened to be very steady "
                               "while the baseline was learned (a temperature) from dominating "
                               "the score when it later drifts by a normal amount.",
                .min = 0.0,
                .max = 1.0},
        KeySpec{.name = "spe",
                .type = ValueType::kBool,
                .default_value = true,
                .description = "Also score the residual Q (SPE); without it only T-squared "
                               "is scored."},
    }};

// Eigen-decomposition of a symmetric n x n matrix `a` (row-major; destroyed) by cyclic Jacobi
// rotations. Returns eigenvalues in descending order, eigenvectors as the columns of `v`.
std::vector<double> SymmetricEigen(std::vector<double>& a, std::size_t n, std::vector<double>& v) {
  v.assign(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) v[i * n + i] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0;
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t q = p + 1; q < n; ++q) off += a[p * n + q] * a[p * n + q];
    if (off < 1e-22) break;
    for (std::size_t p = 0; p < n; ++p) {
      for (std::size_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (std::fabs(apq) < 1e-300) continue;
        const double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0);
        const double s = t * c;
        for (std::size_t k = 0; k < n; ++k) {  // columns p, q
          const double akp = a[k * n + p];
          const double akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (std::size_t k = 0; k < n; ++k) {  // rows p, q
          const double apk = a[p * n + k];
          const double aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (std::size_t k = 0; k < n; ++k) {
          const double vkp = v[k * n + p];
          const double vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t x, std::size_t y) { return a[x * n + x] > a[y * n + y]; });
  std::vector<double> values(n);
  std::vector<double> sorted(n * n);
  for (std::size_t j = 0; j < n; ++j) {
    values[j] = a[order[j] * n + order[j]];
    for (std::size_t k = 0; k < n; ++k) sorted[k * n + j] = v[k * n + order[j]];
  }
  v = std::move(sorted);
  return values;
}

// Below this the Jackson-Mudholkar transform of Q is unreliable (it flips sign at 0).
constexpr double kMinH0 = 0.1;

class HotellingDetector final : public Detector {
 public:
  HotellingDetector(std::size_t d, std::int64_t baseline, double variance, double shrinkage,
                    std::int64_t smoothing, double min_relative_std, bool spe)
      : d_(d),
        baseline_(static_cast<std::size_t>(baseline)),
        variance_(variance),
        shrinkage_(shrinkage),
        alpha_(1.0 / static_cast<double>(smoothing)),
        min_relative_std_(min_relative_std),
        spe_(spe),
        z_(d, 0.0),
        avg_(d, 0.0) {
    buf_.reserve(baseline_ * d_);
  }

  double Update(std::int64_t /*ts_ns*/, std::span<const double> values) override {
    if (!fitted_) {
      buf_.insert(buf_.end(), values.begin(), values.begin() + static_cast<std::ptrdiff_t>(d_));
      if (buf_.size() == baseline_ * d_) Fit();
      return std::numeric_limits<double>::quiet_NaN();
    }
    Standardise(values.data(), z_.data());
    double t2 = 0.0;
    double inside = 0.0;
    for (std::size_t j = 0; j < k_; ++j) {
      double t = 0.0;
      for (std::size_t i = 0; i < d_; ++i) t += vec_[i * d_ + j] * z_[i];
      t2 += t * t / eig_[j];
      inside += t * t;
    }
    const double zt = detail::ChiSquareToZ(t2, static_cast<double>(k_));
    double zq = -std::numeric_limits<double>::infinity();
    if (k_ < d_) {
      double total = 0.0;
      for (double z : z_) total += z * z;
      const double q = std::max(0.0, total - inside);
      if (q <= 0.0) {
        zq = -8.0;
      } else if (h0_ > kMinH0) {  // Jackson and Mudholkar (1979)
        zq =
            theta1_ *
            (std::pow(q / theta1_, h0_) - 1.0 - theta2_ * h0_ * (h0_ - 1.0) / (theta1_ * theta1_)) /
            std::sqrt(2.0 * theta2_ * h0_ * h0_);
      } else {  // very uneven residual eigenvalues: Box (1954), Q ~ g chi-squared(h)
        const double g = theta2_ / theta1_;
        zq = detail::ChiSquareToZ(q / g, theta1_ * theta1_ / theta2_);
      }
    }
    return detail::NormalCdf(std::max(zt, zq));
  }

  std::size_t state_bytes() const override {
    return sizeof(*this) +
           (buf_.capacity() + mean_.capacity() + sd_.capacity() + scale_.capacity() +
            z_.capacity() + avg_.capacity() + vec_.capacity() + eig_.capacity()) *
               sizeof(double);
  }

 private:
  // x -> standardised sample, exponentially averaged when smoothing (MEWMA, Lowry et al.
  // 1992; the average starts at 0, the baseline mean), divided by the baseline's own spread
  // of that average (so autocorrelated, slowly wandering series weigh less).
  void Standardise(const double* x, double* out) {
    for (std::size_t i = 0; i < d_; ++i) {
      double z = (x[i] - mean_[i]) / sd_[i];
      if (alpha_ < 1.0) {
        avg_[i] += alpha_ * (z - avg_[i]);
        z = avg_[i];
      }
      out[i] = z / scale_[i];
    }
  }

  void Fit() {
    const std::size_t n = baseline_;
    mean_.assign(d_, 0.0);
    sd_.assign(d_, 0.0);
    scale_.assign(d_, 1.0);
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t i = 0; i < d_; ++i) mean_[i] += buf_[t * d_ + i];
    for (double& m : mean_) m /= static_cast<double>(n);
    for (std::size_t t = 0; t < n; ++t) {
      for (std::size_t i = 0; i < d_; ++i) {
        const double e = buf_[t * d_ + i] - mean_[i];
        sd_[i] += e * e;
      }
    }
    for (std::size_t i = 0; i < d_; ++i) {
      sd_[i] = std::sqrt(sd_[i] / static_cast<double>(n - 1));
      // A series constant in the baseline: any later change of it stands out.
      if (sd_[i] == 0.0) sd_[i] = std::max(1e-6 * std::fabs(mean_[i]), 1e-9);
    }
    // Second moments (about 0, the baseline mean) of the standardised, smoothed baseline,
    // skipping the start-up of the average.
    const std::size_t skip =
        alpha_ < 1.0 ? std::min(n / 2, static_cast<std::size_t>(std::ceil(3.0 / alpha_))) : 0;
    std::vector<double> m2(d_ * d_, 0.0);
    std::vector<double> w(d_);
    for (std::size_t t = 0; t < n; ++t) {
      Standardise(&buf_[t * d_], w.data());
      if (t < skip) continue;
      for (std::size_t i = 0; i < d_; ++i)
        for (std::size_t j = 0; j < d_; ++j) m2[i * d_ + j] += w[i] * w[j];
    }
    const double used = static_cast<double>(n - skip);
    for (std::size_t i = 0; i < d_; ++i) {
      // The floor is a systematic error (a sensor's accuracy): averaging does not shrink it.
      scale_[i] = std::max(std::sqrt(m2[i * d_ + i] / used),
                           min_relative_std_ * std::fabs(mean_[i]) / sd_[i]);
      if (!(scale_[i] > 0.0)) scale_[i] = 1.0;
    }
    std::vector<double> r(d_ * d_);
    for (std::size_t i = 0; i < d_; ++i) {
      for (std::size_t j = 0; j < d_; ++j) {
        const double c =
            i == j ? 1.0 : std::clamp(m2[i * d_ + j] / used / (scale_[i] * scale_[j]), -1.0, 1.0);
        r[i * d_ + j] = (1.0 - shrinkage_) * c + (i == j ? shrinkage_ : 0.0);
      }
    }
    eig_ = SymmetricEigen(r, d_, vec_);
    for (double& e : eig_) e = std::max(e, 1e-9);
    const double total = std::accumulate(eig_.begin(), eig_.end(), 0.0);
    k_ = d_;
    if (spe_) {
      double kept = 0.0;
      for (std::size_t j = 0; j < d_; ++j) {
        kept += eig_[j];
        if (kept >= variance_ * total - 1e-12) {
          k_ = j + 1;
          break;
        }
      }
    }
    theta1_ = theta2_ = 0.0;
    double theta3 = 0.0;
    for (std::size_t j = k_; j < d_; ++j) {
      theta1_ += eig_[j];
      theta2_ += eig_[j] * eig_[j];
      theta3 += eig_[j] * eig_[j] * eig_[j];
    }
    h0_ = k_ < d_ ? 1.0 - 2.0 * theta1_ * theta3 / (3.0 * theta2_ * theta2_) : 1.0;
    // Continue the average from the baseline's last state; free the baseline.
    buf_.clear();
    buf_.shrink_to_fit();
    fitted_ = true;
  }

  std::size_t d_;
  std::size_t baseline_;
  double variance_;
  double shrinkage_;
  double alpha_;
  double min_relative_std_;
  bool spe_;
  bool fitted_ = false;
  std::vector<double> buf_;  // the baseline samples, row-major, until fitted
  std::vector<double> mean_;
  std::vector<double> sd_;
  std::vector<double> scale_;  // baseline RMS of the smoothed standardised series
  std::vector<double> z_;      // scratch
  std::vector<double> avg_;    // MEWMA state
  std::vector<double> vec_;    // eigenvectors (columns), descending eigenvalues
  std::vector<double> eig_;
  std::size_t k_ = 0;  // principal components kept
  double theta1_ = 0.0;
  double theta2_ = 0.0;
  double h0_ = 1.0;
};

}  // namespace

const DetectorType& HotellingDetectorType() {
  static const DetectorType type{
      .name = "hotelling",
      .summary = "Hotelling T-squared plus PCA residual Q over several series of one device.",
      .multivariate = true,
      .spec = &kSpec,
      .check = {},
      .create = [](const config::Section& s, std::size_t arity) -> std::unique_ptr<Detector> {
        if (arity == 0) return nullptr;
        return std::make_unique<HotellingDetector>(
            arity, s.GetInt("baseline"), s.GetFloat("variance"), s.GetFloat("shrinkage"),
            s.GetInt("smoothing"), s.GetFloat("min_relative_std"), s.GetBool("spe"));
      }};
  return type;
}

}  // namespace pn::rules
