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
    "Hotelling T-squared and PCA residual (Q) against a baseline learned from the first "
    "samples, optionally adapted to slow changes and re-learned after a stable regime change.",
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
        KeySpec{.name = "trim_level",
                .type = ValueType::kFloat,
                .default_value = 0.0,
                .description = "Robust fit: a baseline sample whose Mahalanobis distance from a "
                               "robust first estimate (per-series median and MAD, clipped "
                               "correlation) scores at least this is left out, the estimate is "
                               "refitted on the rest and the test repeated once (one-step "
                               "reweighting). A few gross outliers in the baseline then do not "
                               "inflate the model. 0 turns this off; 0.999 drops about one "
                               "clean sample in a thousand.",
                .min = 0.0,
                .max = 1.0},
        KeySpec{.name = "adapt_memory",
                .type = ValueType::kInt,
                .default_value = std::int64_t{0},
                .description = "Samples of memory (1 / weight) of an exponentially weighted "
                               "update of the baseline (mean and covariance) by every sample "
                               "scoring below adapt_level, so the baseline follows a slowly "
                               "changing machine; it is frozen while samples are flagged. "
                               "0 keeps the baseline fixed.",
                .min = 0,
                .max = 100000000},
        KeySpec{.name = "adapt_level",
                .type = ValueType::kFloat,
                .description = "Score from which a sample counts as flagged: it does not update "
                               "the baseline and it counts towards rebaseline_after. Defaults "
                               "to the rule's min_score, or 0.5 without one.",
                .min = 0.0,
                .max = 1.0,
                .example = "0.9999"},
        KeySpec{.name = "adapt_holdoff",
                .type = ValueType::kInt,
                .default_value = std::int64_t{0},
                .description = "Samples after the last flagged one during which the baseline "
                               "stays frozen, so the tail of an anomaly that scores just below "
                               "adapt_level is not learned.",
                .min = 0,
                .max = 100000000},
        KeySpec{.name = "rebaseline_after",
                .type = ValueType::kInt,
                .default_value = std::int64_t{0},
                .description = "Re-learn the baseline from the last rebaseline_window samples "
                               "once this many consecutive samples were flagged and those "
                               "samples are stable (see rebaseline_spread): a confirmed change "
                               "of regime becomes the new normal. 0 turns this off.",
                .min = 0,
                .max = 100000000},
        KeySpec{.name = "rebaseline_window",
                .type = ValueType::kInt,
                .default_value = std::int64_t{120},
                .description = "Most recent samples kept (a ring buffer) to re-learn the "
                               "baseline from.",
                .min = 3,
                .max = 1000000},
        KeySpec{.name = "rebaseline_spread",
                .type = ValueType::kFloat,
                .default_value = 2.0,
                .description = "The recent samples are stable when, for every series, their "
                               "standard deviation and the difference between the means of "
                               "their older and newer halves are both at most this many "
                               "baseline standard deviations of that series.",
                .min = 0.0,
                .max = 1000.0},
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
// With adaptation the PCA model is rebuilt from the adapted moments every this many baseline
// updates (an O(d^3) eigen-decomposition); in between the moments move by at most this many
// adapt_memory-ths.
constexpr std::int64_t kRebuildEvery = 10;
// Robust z-values (median / MAD) are clipped here for the first, outlier-proof correlation
// estimate of the robust fit (Huber-type).
constexpr double kClip = 3.0;
// MAD and mean absolute deviation of a normal distribution, in standard deviations.
constexpr double kMadToSd = 1.4826;
constexpr double kMeanAbsToSd = 1.2533;

struct Options {
  std::size_t baseline = 400;
  double variance = 0.9;
  double shrinkage = 0.05;
  double alpha = 1.0;  // MEWMA weight, 1 = none
  double min_relative_std = 0.0;
  bool spe = true;
  double trim_level = 0.0;    // 0: plain fit
  double adapt_weight = 0.0;  // 1 / adapt_memory, 0: fixed baseline
  double adapt_level = 0.5;   // score from which a sample is flagged
  std::int64_t adapt_holdoff = 0;
  std::int64_t rebaseline_after = 0;  // 0: never
  std::size_t rebaseline_window = 120;
  double rebaseline_spread = 2.0;
};

// Standardised, shrunk correlation of the d x d second-moment matrix `m` (about 0) with
// standard deviations `sd`; returns its eigenvalues (descending, floored) and eigenvectors.
std::vector<double> ShrunkCorrelationEigen(const std::vector<double>& m,
                                           const std::vector<double>& sd, std::size_t d,
                                           double shrinkage, std::vector<double>& vec) {
  std::vector<double> r(d * d);
  for (std::size_t i = 0; i < d; ++i) {
    for (std::size_t j = 0; j < d; ++j) {
      const double c = i == j ? 1.0 : std::clamp(m[i * d + j] / (sd[i] * sd[j]), -1.0, 1.0);
      r[i * d + j] = (1.0 - shrinkage) * c + (i == j ? shrinkage : 0.0);
    }
  }
  std::vector<double> eig = SymmetricEigen(r, d, vec);
  for (double& e : eig) e = std::max(e, 1e-9);
  return eig;
}

class HotellingDetector final : public Detector {
 public:
  HotellingDetector(std::size_t d, const Options& o)
      : d_(d), o_(o), z_(d, 0.0), avg_(d, 0.0), a_(d, 0.0) {
    buf_.reserve(o_.baseline * d_);
  }

  double Update(std::int64_t /*ts_ns*/, std::span<const double> values) override {
    const double* x = values.data();
    if (!fitted_) {
      buf_.insert(buf_.end(), x, x + d_);
      if (buf_.size() == o_.baseline * d_) {
        Fit(buf_.data(), o_.baseline);
        buf_.clear();
        buf_.shrink_to_fit();
        if (o_.rebaseline_after > 0) ring_.assign(o_.rebaseline_window * d_, 0.0);
        fitted_ = true;
      }
      return std::numeric_limits<double>::quiet_NaN();
    }
    // Deviation from the baseline mean, exponentially averaged when smoothing (MEWMA, Lowry
    // et al. 1992; the average continues from the baseline's last state).
    for (std::size_t i = 0; i < d_; ++i) {
      const double e = x[i] - mean_[i];
      if (o_.alpha < 1.0) {
        avg_[i] += o_.alpha * (e - avg_[i]);
        a_[i] = avg_[i];
      } else {
        a_[i] = e;
      }
    }
    const double score = Score(a_);
    if (!ring_.empty()) {
      std::copy(x, x + d_, ring_.begin() + static_cast<std::ptrdiff_t>(ring_pos_ * d_));
      ring_pos_ = (ring_pos_ + 1) % o_.rebaseline_window;
      ring_filled_ = std::min(ring_filled_ + 1, o_.rebaseline_window);
    }
    if (score >= o_.adapt_level) {
      ++flagged_run_;
      since_flag_ = 0;
      if (o_.rebaseline_after > 0 && flagged_run_ >= o_.rebaseline_after &&
          ring_filled_ == o_.rebaseline_window && RecentStable()) {
        Rebaseline();
      }
    } else {
      flagged_run_ = 0;
      if (since_flag_ < std::numeric_limits<std::int64_t>::max()) ++since_flag_;
      if (o_.adapt_weight > 0.0 && since_flag_ > o_.adapt_holdoff) Adapt(x);
    }
    return score;
  }

  std::size_t state_bytes() const override {
    return sizeof(*this) + (buf_.capacity() + ring_.capacity() + mean_.capacity() +
                            var_.capacity() + m2_.capacity() + denom_.capacity() + z_.capacity() +
                            avg_.capacity() + a_.capacity() + vec_.capacity() + eig_.capacity()) *
                               sizeof(double);
  }

 private:
  // T-squared and Q of the (averaged) deviation `a`, as the normal probability of the larger
  // of their z-values.
  double Score(const std::vector<double>& a) {
    for (std::size_t i = 0; i < d_; ++i) z_[i] = a[i] / denom_[i];
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

  // Exponentially weighted update of the baseline by an unflagged sample x (its averaged
  // deviation is a_): mean and variance of x, second moments of a_ (recursive PCA, Li et al.
  // 2000); the PCA itself is rebuilt every kRebuildEvery updates.
  void Adapt(const double* x) {
    const double w = o_.adapt_weight;
    for (std::size_t i = 0; i < d_; ++i) {
      const double e = x[i] - mean_[i];
      mean_[i] += w * e;
      var_[i] = (1.0 - w) * (var_[i] + w * e * e);
    }
    for (std::size_t i = 0; i < d_; ++i)
      for (std::size_t j = 0; j < d_; ++j)
        m2_[i * d_ + j] = (1.0 - w) * m2_[i * d_ + j] + w * a_[i] * a_[j];
    if (++updates_ % kRebuildEvery == 0) BuildModel();
  }

  // The last rebaseline_window samples are stable: for every series their standard deviation
  // and the difference of their two halves' means are within rebaseline_spread baseline
  // standard deviations.
  bool RecentStable() const {
    const std::size_t w = o_.rebaseline_window;
    const std::size_t half = w / 2;
    for (std::size_t i = 0; i < d_; ++i) {
      double sum = 0.0;
      double older = 0.0;  // the oldest `half` samples
      for (std::size_t t = 0; t < w; ++t) {
        const double v = ring_[((ring_pos_ + t) % w) * d_ + i];
        sum += v;
        if (t < half) older += v;
      }
      const double mean = sum / static_cast<double>(w);
      double ss = 0.0;
      for (std::size_t t = 0; t < w; ++t) {
        const double e = ring_[t * d_ + i] - mean;
        ss += e * e;
      }
      const double sd = std::sqrt(ss / static_cast<double>(w - 1));
      const double newer_mean = (sum - older) / static_cast<double>(w - half);
      const double drift = std::fabs(newer_mean - older / static_cast<double>(half));
      const double base = std::max({std::sqrt(var_[i]), o_.min_relative_std * std::fabs(mean_[i]),
                                    1e-12 * std::max(1.0, std::fabs(mean_[i]))});
      if (sd > o_.rebaseline_spread * base || drift > o_.rebaseline_spread * base) return false;
    }
    return true;
  }

  // Re-learns the baseline from the ring buffer, oldest sample first.
  void Rebaseline() {
    const std::size_t w = o_.rebaseline_window;
    std::vector<double> rows(w * d_);
    for (std::size_t t = 0; t < w; ++t) {
      const std::size_t src = ((ring_pos_ + t) % w) * d_;
      std::copy(ring_.begin() + static_cast<std::ptrdiff_t>(src),
                ring_.begin() + static_cast<std::ptrdiff_t>(src + d_),
                rows.begin() + static_cast<std::ptrdiff_t>(t * d_));
    }
    Fit(rows.data(), w);
    flagged_run_ = 0;
  }

  // Which of the n samples (row-major, d columns) have a Mahalanobis distance from `center`
  // under covariance `cov` (raw units) that scores below trim_level.
  std::vector<char> KeepClose(const double* rows, std::size_t n, const std::vector<double>& center,
                              const std::vector<double>& cov) const {
    std::vector<double> sd(d_);
    for (std::size_t i = 0; i < d_; ++i) {
      sd[i] = std::sqrt(std::max(cov[i * d_ + i], 0.0));
      if (!(sd[i] > 0.0)) sd[i] = 1e-12 * std::max(1.0, std::fabs(center[i]));
    }
    std::vector<double> vec;
    const std::vector<double> eig = ShrunkCorrelationEigen(cov, sd, d_, o_.shrinkage, vec);
    std::vector<char> keep(n, 1);
    std::vector<double> z(d_);
    for (std::size_t t = 0; t < n; ++t) {
      for (std::size_t i = 0; i < d_; ++i) z[i] = (rows[t * d_ + i] - center[i]) / sd[i];
      double d2 = 0.0;
      for (std::size_t j = 0; j < d_; ++j) {
        double p = 0.0;
        for (std::size_t i = 0; i < d_; ++i) p += vec[i * d_ + j] * z[i];
        d2 += p * p / eig[j];
      }
      const double score = detail::NormalCdf(detail::ChiSquareToZ(d2, static_cast<double>(d_)));
      keep[t] = score < o_.trim_level ? 1 : 0;
    }
    return keep;
  }

  // Robust choice of the baseline samples (trim_level > 0): a first estimate that a few
  // outliers cannot move (per-series median and MAD, correlation of the robust z-values
  // clipped at kClip), the samples too far from it dropped; then the classical estimate of the
  // kept samples and the test repeated on all samples (one-step reweighting, as in reweighted
  // MCD, Rousseeuw and Van Driessen 1999). Keeps all samples if a test would drop half.
  std::vector<char> RobustKeep(const double* rows, std::size_t n) const {
    std::vector<char> all(n, 1);
    if (o_.trim_level <= 0.0 || n < 3) return all;
    std::vector<double> med(d_);
    std::vector<double> scale(d_);
    std::vector<double> col(n);
    for (std::size_t i = 0; i < d_; ++i) {
      for (std::size_t t = 0; t < n; ++t) col[t] = rows[t * d_ + i];
      auto mid = col.begin() + static_cast<std::ptrdiff_t>(n / 2);
      std::nth_element(col.begin(), mid, col.end());
      med[i] = *mid;
      double abs_sum = 0.0;
      for (double& v : col) {
        v = std::fabs(v - med[i]);
        abs_sum += v;
      }
      std::nth_element(col.begin(), mid, col.end());
      scale[i] = kMadToSd * *mid;
      // A series on few levels (quantised) can have a MAD of 0.
      if (!(scale[i] > 0.0)) scale[i] = kMeanAbsToSd * abs_sum / static_cast<double>(n);
      if (!(scale[i] > 0.0)) scale[i] = 1.0;
    }
    std::vector<double> cov(d_ * d_, 0.0);
    std::vector<double> u(d_);
    for (std::size_t t = 0; t < n; ++t) {
      for (std::size_t i = 0; i < d_; ++i)
        u[i] = std::clamp((rows[t * d_ + i] - med[i]) / scale[i], -kClip, kClip);
      for (std::size_t i = 0; i < d_; ++i)
        for (std::size_t j = 0; j < d_; ++j) cov[i * d_ + j] += u[i] * u[j];
    }
    for (std::size_t i = 0; i < d_; ++i)
      for (std::size_t j = 0; j < d_; ++j)
        cov[i * d_ + j] *= scale[i] * scale[j] / static_cast<double>(n);
    std::vector<char> keep = KeepClose(rows, n, med, cov);
    const auto enough = [n](const std::vector<char>& k) {
      return 2 * static_cast<std::size_t>(std::count(k.begin(), k.end(), 1)) >= n &&
             std::count(k.begin(), k.end(), 1) >= 3;
    };
    if (!enough(keep)) return all;
    std::vector<double> mean;
    std::vector<double> var;
    Moments(rows, n, keep, mean, var, &cov);
    std::vector<char> reweighted = KeepClose(rows, n, mean, cov);
    return enough(reweighted) ? reweighted : keep;
  }

  // Mean and variance (n - 1) of the kept samples; optionally their covariance matrix.
  void Moments(const double* rows, std::size_t n, const std::vector<char>& keep,
               std::vector<double>& mean, std::vector<double>& var,
               std::vector<double>* cov) const {
    mean.assign(d_, 0.0);
    var.assign(d_, 0.0);
    std::size_t used = 0;
    for (std::size_t t = 0; t < n; ++t) {
      if (!keep[t]) continue;
      ++used;
      for (std::size_t i = 0; i < d_; ++i) mean[i] += rows[t * d_ + i];
    }
    for (double& m : mean) m /= static_cast<double>(used);
    if (cov != nullptr) cov->assign(d_ * d_, 0.0);
    for (std::size_t t = 0; t < n; ++t) {
      if (!keep[t]) continue;
      for (std::size_t i = 0; i < d_; ++i) {
        const double e = rows[t * d_ + i] - mean[i];
        var[i] += e * e;
        if (cov != nullptr)
          for (std::size_t j = 0; j < d_; ++j)
            (*cov)[i * d_ + j] += e * (rows[t * d_ + j] - mean[j]);
      }
    }
    const double dof = static_cast<double>(std::max<std::size_t>(used, 2) - 1);
    for (double& v : var) v /= dof;
    if (cov != nullptr)
      for (double& c : *cov) c /= dof;
  }

  // Learns the baseline from n samples (row-major): the robustly chosen samples' mean and
  // variance, then the second moments (about 0) of their averaged deviations, skipping the
  // start-up of the average; the average continues from its last state.
  void Fit(const double* rows, std::size_t n) {
    const std::vector<char> keep = RobustKeep(rows, n);
    Moments(rows, n, keep, mean_, var_, nullptr);
    const std::size_t kept = static_cast<std::size_t>(std::count(keep.begin(), keep.end(), 1));
    const std::size_t skip =
        o_.alpha < 1.0 ? std::min(kept / 2, static_cast<std::size_t>(std::ceil(3.0 / o_.alpha)))
                       : 0;
    m2_.assign(d_ * d_, 0.0);
    std::fill(avg_.begin(), avg_.end(), 0.0);
    std::size_t seen = 0;
    for (std::size_t t = 0; t < n; ++t) {
      if (!keep[t]) continue;
      for (std::size_t i = 0; i < d_; ++i) {
        const double e = rows[t * d_ + i] - mean_[i];
        if (o_.alpha < 1.0) {
          avg_[i] += o_.alpha * (e - avg_[i]);
          a_[i] = avg_[i];
        } else {
          a_[i] = e;
        }
      }
      if (seen++ < skip) continue;
      for (std::size_t i = 0; i < d_; ++i)
        for (std::size_t j = 0; j < d_; ++j) m2_[i * d_ + j] += a_[i] * a_[j];
    }
    const double used = static_cast<double>(std::max<std::size_t>(kept - skip, 1));
    for (double& m : m2_) m /= used;
    BuildModel();
  }

  // The PCA model from mean_ and m2_: each series' spread of its averaged deviation (floored
  // by min_relative_std of its mean), the shrunk correlation, its principal subspace and the
  // residual's Jackson-Mudholkar constants.
  void BuildModel() {
    denom_.assign(d_, 1.0);
    for (std::size_t i = 0; i < d_; ++i) {
      // The floor is a systematic error (a sensor's accuracy): averaging does not shrink it.
      denom_[i] = std::max(std::sqrt(std::max(m2_[i * d_ + i], 0.0)),
                           o_.min_relative_std * std::fabs(mean_[i]));
      // A series constant in the baseline: any later change of it stands out.
      if (!(denom_[i] > 0.0)) denom_[i] = std::max(1e-6 * std::fabs(mean_[i]), 1e-9);
    }
    eig_ = ShrunkCorrelationEigen(m2_, denom_, d_, o_.shrinkage, vec_);
    const double total = std::accumulate(eig_.begin(), eig_.end(), 0.0);
    k_ = d_;
    if (o_.spe) {
      double kept = 0.0;
      for (std::size_t j = 0; j < d_; ++j) {
        kept += eig_[j];
        if (kept >= o_.variance * total - 1e-12) {
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
  }

  std::size_t d_;
  Options o_;
  bool fitted_ = false;
  std::vector<double> buf_;   // the baseline samples, row-major, until fitted
  std::vector<double> ring_;  // the last rebaseline_window samples (when rebaselining)
  std::size_t ring_pos_ = 0;  // next slot = oldest sample once full
  std::size_t ring_filled_ = 0;
  std::vector<double> mean_;   // baseline mean of each series
  std::vector<double> var_;    // baseline variance of each series (raw samples)
  std::vector<double> m2_;     // baseline second moments of the averaged deviations, d x d
  std::vector<double> denom_;  // spread of each averaged deviation (floored)
  std::vector<double> z_;      // scratch
  std::vector<double> avg_;    // MEWMA state
  std::vector<double> a_;      // the current (averaged) deviation
  std::vector<double> vec_;    // eigenvectors (columns), descending eigenvalues
  std::vector<double> eig_;
  std::size_t k_ = 0;  // principal components kept
  double theta1_ = 0.0;
  double theta2_ = 0.0;
  double h0_ = 1.0;
  std::int64_t flagged_run_ = 0;  // consecutive flagged samples
  std::int64_t since_flag_ = std::numeric_limits<std::int64_t>::max();  // since the last one
  std::int64_t updates_ = 0;  // baseline updates by adaptation
};

Options ReadOptions(const config::Section& s) {
  Options o;
  o.baseline = static_cast<std::size_t>(s.GetInt("baseline"));
  o.variance = s.GetFloat("variance");
  o.shrinkage = s.GetFloat("shrinkage");
  o.alpha = 1.0 / static_cast<double>(s.GetInt("smoothing"));
  o.min_relative_std = s.GetFloat("min_relative_std");
  o.spe = s.GetBool("spe");
  o.trim_level = s.GetFloat("trim_level");
  const std::int64_t memory = s.GetInt("adapt_memory");
  o.adapt_weight = memory > 0 ? 1.0 / static_cast<double>(memory) : 0.0;
  if (s.Has("adapt_level")) {
    o.adapt_level = s.GetFloat("adapt_level");
  } else if (const config::Node* n = s.node() ? s.node()->Find("min_score") : nullptr;
             n != nullptr && n->is_number()) {
    o.adapt_level = n->as_double();  // the engine-owned threshold of the same table
  }
  o.adapt_holdoff = s.GetInt("adapt_holdoff");
  o.rebaseline_after = s.GetInt("rebaseline_after");
  o.rebaseline_window = static_cast<std::size_t>(s.GetInt("rebaseline_window"));
  o.rebaseline_spread = s.GetFloat("rebaseline_spread");
  return o;
}

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
        return std::make_unique<HotellingDetector>(arity, ReadOptions(s));
      }};
  return type;
}

}  // namespace pn::rules
