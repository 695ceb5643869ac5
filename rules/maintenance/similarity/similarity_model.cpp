#include "rules/maintenance/similarity/similarity_model.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <utility>

#include "rules/maintenance/least_squares.h"

namespace pn::rules {

namespace {

// Centred moving average with a window shrinking at both ends (keeps the ends unbiased).
std::vector<double> Smooth(const std::vector<double>& x, int window) {
  const std::size_t n = x.size();
  const std::size_t half = static_cast<std::size_t>(std::max(window, 1) / 2);
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t h = std::min({half, i, n - 1 - i});
    double s = 0.0;
    for (std::size_t k = i - h; k <= i + h; ++k) s += x[k];
    out[i] = s / static_cast<double>(2 * h + 1);
  }
  return out;
}

constexpr std::size_t kMaxAutoRegimes = 10;  // `regimes = 0` tries 1..this many
constexpr double kRegimeExplained = 0.999;   // share of settings variance the regimes explain
constexpr double kConstantTolerance = 1e-9;  // relative sd below which a series is constant
constexpr int kMaxKMeansIterations = 100;

// Centres and standard-deviation-scales the columns of a row-major matrix in place; a column
// with no spread becomes 0 and gets sd 0.
void Standardise(std::vector<double>& x, std::size_t cols, std::vector<double>& mean,
                 std::vector<double>& sd) {
  const std::size_t rows = cols ? x.size() / cols : 0;
  mean.assign(cols, 0.0);
  sd.assign(cols, 0.0);
  if (rows == 0) return;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = 0; j < cols; ++j) mean[j] += x[r * cols + j];
  }
  for (auto& m : mean) m /= static_cast<double>(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = 0; j < cols; ++j) {
      const double d = x[r * cols + j] - mean[j];
      sd[j] += d * d;
    }
  }
  for (std::size_t j = 0; j < cols; ++j) {
    sd[j] = std::sqrt(sd[j] / static_cast<double>(rows));
    if (sd[j] <= kConstantTolerance * (1.0 + std::abs(mean[j]))) sd[j] = 0.0;
  }
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = 0; j < cols; ++j) {
      double& v = x[r * cols + j];
      v = sd[j] > 0.0 ? (v - mean[j]) / sd[j] : 0.0;
    }
  }
}

struct KMeansResult {
  std::vector<double> centres;  // k x cols
  std::vector<std::size_t> assignment;
  double within = INFINITY;  // sum of squared distances to the assigned centres
};

double SquaredDistance(const double* a, const double* b, std::size_t n) {
  double d = 0.0;
  for (std::size_t j = 0; j < n; ++j) d += (a[j] - b[j]) * (a[j] - b[j]);
  return d;
}

// Lloyd's k-means with a deterministic farthest-point start: the first centre is the row
// nearest the mean (the origin of standardised data), each next one the row farthest from the
// centres chosen so far (ties: the first such row). REQUIRES: 1 <= k <= rows.
KMeansResult KMeans(const std::vector<double>& x, std::size_t cols, std::size_t k) {
  const std::size_t rows = x.size() / cols;
  KMeansResult out;
  out.assignment.assign(rows, 0);
  std::vector<double> origin(cols, 0.0);
  std::vector<double> nearest(rows);
  std::size_t first = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    nearest[r] = SquaredDistance(&x[r * cols], origin.data(), cols);
    if (nearest[r] < nearest[first]) first = r;
  }
  out.centres.assign(x.begin() + static_cast<std::ptrdiff_t>(first * cols),
                     x.begin() + static_cast<std::ptrdiff_t>((first + 1) * cols));
  for (std::size_t r = 0; r < rows; ++r) {
    nearest[r] = SquaredDistance(&x[r * cols], out.centres.data(), cols);
  }
  while (out.centres.size() / cols < k) {
    const std::size_t far = static_cast<std::size_t>(
        std::max_element(nearest.begin(), nearest.end()) - nearest.begin());
    const std::size_t c = out.centres.size() / cols;
    out.centres.insert(out.centres.end(), x.begin() + static_cast<std::ptrdiff_t>(far * cols),
                       x.begin() + static_cast<std::ptrdiff_t>((far + 1) * cols));
    for (std::size_t r = 0; r < rows; ++r) {
      nearest[r] =
          std::min(nearest[r], SquaredDistance(&x[r * cols], &out.centres[c * cols], cols));
    }
  }
  std::vector<double> sum(k * cols);
  std::vector<double> count(k);
  for (int it = 0; it < kMaxKMeansIterations; ++it) {
    bool changed = it == 0;
    out.within = 0.0;
    for (std::size_t r = 0; r < rows; ++r) {
      std::size_t best = 0;
      double best_d = INFINITY;
      for (std::size_t c = 0; c < k; ++c) {
        const double d = SquaredDistance(&x[r * cols], &out.centres[c * cols], cols);
        if (d < best_d) {
          best_d = d;
          best = c;
        }
      }
      changed = changed || best != out.assignment[r];
      out.assignment[r] = best;
      out.within += best_d;
    }
    if (!changed) break;
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(count.begin(), count.end(), 0.0);
    for (std::size_t r = 0; r < rows; ++r) {
      count[out.assignment[r]] += 1.0;
      for (std::size_t j = 0; j < cols; ++j) sum[out.assignment[r] * cols + j] += x[r * cols + j];
    }
    for (std::size_t c = 0; c < k; ++c) {
      if (count[c] == 0.0) continue;  // an emptied centre stays where it was
      for (std::size_t j = 0; j < cols; ++j) {
        out.centres[c * cols + j] = sum[c * cols + j] / count[c];
      }
    }
  }
  return out;
}

// history <- (1 - alpha) history + alpha onehot(regime); alpha = 1 restarts it.
void UpdateHistory(std::vector<double>& history, std::size_t regime, double alpha) {
  for (std::size_t g = 0; g < history.size(); ++g) {
    history[g] = (1.0 - alpha) * history[g] + (g == regime ? alpha : 0.0);
  }
}

}  // namespace

std::shared_ptr<const SimilarityLibrary> SimilarityLibrary::Build(const ReferenceLibrary& library,
                                                                  const SimilarityParams& params,
                                                                  std::string* error) {
  const std::size_t p = library.arity();
  auto lib = std::make_shared<SimilarityLibrary>();
  lib->params_ = params;
  lib->arity_ = p;
  const std::size_t rows = library.rows();
  if (p == 0 || rows < 2 * (p + 1) || library.units.empty()) {
    *error = "reference library has too few rows (" + std::to_string(rows) + ") to fit " +
             std::to_string(p) + " series";
    return nullptr;
  }
  const std::vector<std::size_t>& settings = params.settings;
  for (std::size_t s : settings) {
    if (s >= p) {
      *error = "setting index out of range";
      return nullptr;
    }
  }
  std::vector<std::size_t> candidates;  // sensors: every series that is not a setting
  for (std::size_t i = 0; i < p; ++i) {
    if (std::find(settings.begin(), settings.end(), i) == settings.end()) candidates.push_back(i);
  }
  if (candidates.empty()) {
    *error = "every series is a setting: no sensor is left for the health indicator";
    return nullptr;
  }
  auto row_values = [&](std::size_t unit, std::size_t r) {
    return std::span<const double>(library.units[unit].values).subspan(r * p, p);
  };

  // 1. Operating regimes: k-means on the standardised settings of every library row.
  std::vector<std::size_t> regime(rows, 0);
  const std::size_t ns = settings.size();
  if (ns > 0) {
    lib->setting_mean_.assign(ns, 0.0);
    lib->setting_sd_.assign(ns, 0.0);
    std::vector<double> x(rows * ns);
    std::size_t k = 0;
    for (std::size_t u = 0; u < library.units.size(); ++u) {
      for (std::size_t r = 0; r < library.units[u].time.size(); ++r, ++k) {
        const auto v = row_values(u, r);
        for (std::size_t j = 0; j < ns; ++j) x[k * ns + j] = v[settings[j]];
      }
    }
    Standardise(x, ns, lib->setting_mean_, lib->setting_sd_);
    const std::size_t max_k =
        params.regimes > 0 ? static_cast<std::size_t>(params.regimes) : kMaxAutoRegimes;
    KMeansResult best;
    if (params.regimes > 0) {
      best = KMeans(x, ns, std::min(max_k, rows));
    } else {
      // The fewest regimes that explain kRegimeExplained of the settings' variance; one when
      // no number up to kMaxAutoRegimes does (settings that only jitter around one point).
      double total = 0.0;
      for (double v : x) total += v * v;  // standardised: centred
      const double tolerance = (1.0 - kRegimeExplained) * total;
      best = KMeans(x, ns, 1);
      for (std::size_t kk = 2; kk <= std::min(max_k, rows) && best.within > tolerance; ++kk) {
        KMeansResult next = KMeans(x, ns, kk);
        if (next.within <= tolerance) best = std::move(next);
      }
    }
    lib->centres_ = std::move(best.centres);
    lib->regimes_ = lib->centres_.size() / ns;
    regime = std::move(best.assignment);
  }
  const std::size_t nr = lib->regimes_;

  // 2. Each candidate sensor's mean and standard deviation per regime.
  const std::size_t nc = candidates.size();
  std::vector<double> rmean(nr * nc, 0.0), rsd(nr * nc, 0.0);
  std::vector<double> count(nr, 0.0);
  {
    std::size_t k = 0;
    for (std::size_t u = 0; u < library.units.size(); ++u) {
      for (std::size_t r = 0; r < library.units[u].time.size(); ++r, ++k) {
        const auto v = row_values(u, r);
        count[regime[k]] += 1.0;
        for (std::size_t i = 0; i < nc; ++i) rmean[regime[k] * nc + i] += v[candidates[i]];
      }
    }
    for (std::size_t g = 0; g < nr; ++g) {
      for (std::size_t i = 0; i < nc; ++i) rmean[g * nc + i] /= std::max(count[g], 1.0);
    }
    k = 0;
    for (std::size_t u = 0; u < library.units.size(); ++u) {
      for (std::size_t r = 0; r < library.units[u].time.size(); ++r, ++k) {
        const auto v = row_values(u, r);
        for (std::size_t i = 0; i < nc; ++i) {
          const double d = v[candidates[i]] - rmean[regime[k] * nc + i];
          rsd[regime[k] * nc + i] += d * d;
        }
      }
    }
    for (std::size_t g = 0; g < nr; ++g) {
      for (std::size_t i = 0; i < nc; ++i) {
        double& sd = rsd[g * nc + i];
        sd = count[g] > 1.0 ? std::sqrt(sd / count[g]) : 0.0;
        // Constant up to rounding within this regime: it carries no information there.
        if (sd <= kConstantTolerance * (1.0 + std::abs(rmean[g * nc + i]))) sd = 0.0;
      }
    }
  }

  // Labels: 1 = healthy (first part of a life), 0 = failed (last part), NaN = unlabelled.
  std::vector<double> label(rows, NAN);
  {
    std::size_t k = 0;
    for (const auto& u : library.units) {
      const std::size_t n = u.time.size();
      const auto healthy_end =
          static_cast<std::size_t>(std::ceil(params.healthy_fraction * static_cast<double>(n)));
      const auto failed_begin = static_cast<std::size_t>(
          std::floor((1.0 - params.failed_fraction) * static_cast<double>(n)));
      for (std::size_t r = 0; r < n; ++r, ++k) {
        if (r < healthy_end) {
          label[k] = 1.0;
        } else if (r >= failed_begin) {
          label[k] = 0.0;
        }
      }
    }
  }

  // 3. Keep the sensors that vary within some regime and separate healthy from failed rows:
  //    |mean z over failed rows - mean z over healthy rows| >= min_separation (z in units of
  //    the within-regime standard deviation).
  {
    std::vector<double> sum_h(nc, 0.0), sum_f(nc, 0.0);
    double n_h = 0.0, n_f = 0.0;
    std::size_t k = 0;
    for (std::size_t u = 0; u < library.units.size(); ++u) {
      for (std::size_t r = 0; r < library.units[u].time.size(); ++r, ++k) {
        if (std::isnan(label[k])) continue;
        const auto v = row_values(u, r);
        const std::size_t g = regime[k];
        (label[k] > 0.5 ? n_h : n_f) += 1.0;
        for (std::size_t i = 0; i < nc; ++i) {
          const double sd = rsd[g * nc + i];
          const double z = sd > 0.0 ? (v[candidates[i]] - rmean[g * nc + i]) / sd : 0.0;
          (label[k] > 0.5 ? sum_h[i] : sum_f[i]) += z;
        }
      }
    }
    for (std::size_t i = 0; i < nc; ++i) {
      bool varies = false;
      for (std::size_t g = 0; g < nr; ++g) varies = varies || rsd[g * nc + i] > 0.0;
      const double separation =
          std::abs(sum_f[i] / std::max(n_f, 1.0) - sum_h[i] / std::max(n_h, 1.0));
      if (!varies || separation < params.min_separation) continue;
      lib->sensors_.push_back(candidates[i]);
      for (std::size_t g = 0; g < nr; ++g) {
        lib->regime_mean_.push_back(rmean[g * nc + i]);
        lib->regime_sd_.push_back(rsd[g * nc + i]);
      }
    }
    if (lib->sensors_.empty()) {
      *error = "no sensor varies within a regime and separates healthy from failed rows";
      return nullptr;
    }
    // regime_mean_/regime_sd_ were filled sensor-major; store them regime-major.
    const std::size_t nk = lib->sensors_.size();
    std::vector<double> m(nr * nk), sd(nr * nk);
    for (std::size_t i = 0; i < nk; ++i) {
      for (std::size_t g = 0; g < nr; ++g) {
        m[g * nk + i] = lib->regime_mean_[i * nr + g];
        sd[g * nk + i] = lib->regime_sd_[i * nr + g];
      }
    }
    lib->regime_mean_ = std::move(m);
    lib->regime_sd_ = std::move(sd);
  }

  // 4. Features of every row (the regime history runs causally along each unit, as it will on
  //    a streaming asset), then the regression on the labelled ones.
  const bool with_history = params.regime_history > 0;
  const std::size_t nf = lib->sensors_.size() + (with_history ? nr : 0);
  lib->weights_.assign(nf, 0.0);  // sizes feature_count() for Features()
  std::vector<double> feat(rows * nf);
  {
    const double alpha = with_history ? 2.0 / (params.regime_history + 1.0) : 0.0;
    std::vector<double> history(nr, 0.0);
    std::size_t k = 0;
    for (std::size_t u = 0; u < library.units.size(); ++u) {
      for (std::size_t r = 0; r < library.units[u].time.size(); ++r, ++k) {
        UpdateHistory(history, regime[k], r == 0 ? 1.0 : alpha);
        lib->Features(row_values(u, r), regime[k], history,
                      std::span<double>(feat).subspan(k * nf, nf));
      }
    }
  }
  // Standardise so that the ridge term treats every feature alike.
  std::vector<double> mean(nf, 0.0), sd(nf, 0.0);
  Standardise(feat, nf, mean, sd);
  NormalEquations ne(nf + 1);
  std::vector<double> z(nf + 1);
  std::size_t labelled = 0;
  for (std::size_t k = 0; k < rows; ++k) {
    if (std::isnan(label[k])) continue;
    for (std::size_t i = 0; i < nf; ++i) z[i] = feat[k * nf + i];
    z[nf] = 1.0;
    ne.Add(z, label[k]);
    ++labelled;
  }
  auto beta = ne.Solve(1e-6);
  if (!beta || labelled < nf + 1) {
    *error =
        "cannot fit the health indicator: the library's series do not separate healthy "
        "from failed rows";
    return nullptr;
  }
  lib->bias_ = (*beta)[nf];
  for (std::size_t i = 0; i < nf; ++i) {
    if (sd[i] > 0.0) {
      lib->weights_[i] = (*beta)[i] / sd[i];
      lib->bias_ -= lib->weights_[i] * mean[i];
    }
  }
  // 5. Smoothed trajectories and remaining times; the regression's rows (each library row's
  //    HealthHistory features, target its remaining time capped at rul_cap).
  const bool with_regression = params.regression_weight > 0.0;
  std::vector<double> reg_x, reg_y;
  if (with_regression) {
    reg_x.reserve(rows * lib->regression_inputs());
    reg_y.reserve(rows);
  }
  std::size_t k0 = 0;
  for (const auto& u : library.units) {
    const std::size_t n = u.time.size();
    std::vector<double> hi(n);
    for (std::size_t r = 0; r < n; ++r) {
      // feat holds standardised features: undo that (x = z * sd + mean) through the weights.
      double h = lib->bias_;
      for (std::size_t i = 0; i < nf; ++i) {
        h += lib->weights_[i] * (feat[(k0 + r) * nf + i] * sd[i] + mean[i]);
      }
      hi[r] = h;
    }
    k0 += n;
    Unit unit;
    unit.hi = Smooth(hi, params.library_smoothing);
    unit.rul.resize(n);
    for (std::size_t r = 0; r < n; ++r) unit.rul[r] = u.time.back() - u.time[r];
    if (with_regression) {
      // The same inputs as a streaming asset's: its raw health indicator and (feat holds
      // standardised features; z = feat * sd + mean) its normalised sensors, row by row.
      const std::size_t nk = lib->sensors_.size();
      HealthHistory history;
      std::optional<SensorHistory> sensors;
      if (params.regression_sensor_window > 0) {
        sensors.emplace(nk, static_cast<std::size_t>(params.regression_sensor_window));
      }
      std::vector<double> f(lib->regression_inputs());
      std::vector<double> zrow(nk);
      const auto hi_part = std::span<double>(f).first(HealthHistory::kFeatures);
      const auto sensor_part = std::span<double>(f).subspan(HealthHistory::kFeatures);
      for (std::size_t r = 0; r < n; ++r) {
        history.Push(hi[r]);
        history.Features(hi_part);
        if (sensors) {
          for (std::size_t i = 0; i < nk; ++i)
            zrow[i] = feat[(k0 - n + r) * nf + i] * sd[i] + mean[i];
          sensors->Push(zrow);
          sensors->Features(sensor_part);
        }
        reg_x.insert(reg_x.end(), f.begin(), f.end());
        reg_y.push_back(params.rul_cap > 0.0 ? std::min(unit.rul[r], params.rul_cap) : unit.rul[r]);
      }
    }
    lib->units_.push_back(std::move(unit));
  }
  if (with_regression) {
    lib->regression_ = BoostedTrees::Fit(reg_x, lib->regression_inputs(), reg_y, params.trees);
  }
  // 6. The age prior: mean remaining life after each age over the units that reached it.
  std::vector<double> count_at_age;
  for (const auto& u : lib->units_) {
    if (u.rul.size() > lib->remaining_at_age_.size()) {
      lib->remaining_at_age_.resize(u.rul.size(), 0.0);
      count_at_age.resize(u.rul.size(), 0.0);
    }
    for (std::size_t r = 0; r < u.rul.size(); ++r) {
      lib->remaining_at_age_[r] += u.rul[r];
      count_at_age[r] += 1.0;
    }
  }
  for (std::size_t a = 0; a < count_at_age.size(); ++a) {
    lib->remaining_at_age_[a] /= count_at_age[a];
  }
  lib->rows_ = rows;
  return lib;
}

void HealthHistory::Push(double hi) {
  ring_[next_] = hi;
  next_ = (next_ + 1) % kLongest;
  ++count_;
  total_ += hi;
}

double HealthHistory::Mean(std::size_t window) const {
  const std::size_t m = std::min({window, count_, kLongest});
  double s = 0.0;
  for (std::size_t k = 0; k < m; ++k) s += Back(k);
  return m > 0 ? s / static_cast<double>(m) : 0.0;
}

double HealthHistory::SlopeOf(std::size_t window) const {
  const std::size_t m = std::min({window, count_, kLongest});
  if (m < 2) return 0.0;
  // Against the sample index; the newest value at index m - 1.
  const double xm = 0.5 * static_cast<double>(m - 1);
  double sxy = 0.0, sxx = 0.0, sy = 0.0;
  for (std::size_t k = 0; k < m; ++k) sy += Back(k);
  const double ym = sy / static_cast<double>(m);
  for (std::size_t k = 0; k < m; ++k) {
    const double dx = static_cast<double>(m - 1 - k) - xm;
    sxy += dx * (Back(k) - ym);
    sxx += dx * dx;
  }
  return sxy / sxx;
}

void HealthHistory::Features(std::span<double> out) const {
  std::size_t i = 0;
  for (std::size_t w : kMeans) out[i++] = Mean(w);
  for (std::size_t w : kSlopes) out[i++] = SlopeOf(w);
  // The whole-history mean: a running sum over every value pushed, not only the ring.
  out[i++] = count_ > 0 ? total_ / static_cast<double>(count_) : 0.0;
  out[i] = static_cast<double>(count_);
}

void SensorHistory::Push(std::span<const double> z) {
  std::copy(z.begin(), z.end(), ring_.begin() + static_cast<std::ptrdiff_t>(next_ * sensors_));
  next_ = (next_ + 1) % window_;
  ++count_;
}

void SensorHistory::Features(std::span<double> out) const {
  const std::size_t m = std::min(count_, window_);
  // Row of the k-th newest sample (k = 0: the newest), k < m.
  auto row = [&](std::size_t k) { return (next_ + window_ - 1 - k) % window_; };
  const double xm = 0.5 * static_cast<double>(m > 0 ? m - 1 : 0);
  for (std::size_t i = 0; i < sensors_; ++i) {
    double sy = 0.0;
    for (std::size_t k = 0; k < m; ++k) sy += ring_[row(k) * sensors_ + i];
    const double ym = m > 0 ? sy / static_cast<double>(m) : 0.0;
    double sxy = 0.0, sxx = 0.0;
    for (std::size_t k = 0; k < m; ++k) {
      const double dx = static_cast<double>(m - 1 - k) - xm;
      sxy += dx * (ring_[row(k) * sensors_ + i] - ym);
      sxx += dx * dx;
    }
    out[i] = ym;
    out[sensors_ + i] = m >= 2 ? sxy / sxx : 0.0;
  }
}

double SimilarityLibrary::RegressionRul(std::span<const double> features) const {
  if (!regression_) return NAN;
  const double r = std::max(regression_->Predict(features), 0.0);
  return params_.rul_cap > 0.0 ? std::min(r, params_.rul_cap) : r;
}

std::size_t SimilarityLibrary::Regime(std::span<const double> values) const {
  if (regimes_ <= 1) return 0;
  const std::size_t ns = params_.settings.size();
  std::size_t best = 0;
  double best_d = INFINITY;
  for (std::size_t g = 0; g < regimes_; ++g) {
    double d = 0.0;
    for (std::size_t j = 0; j < ns; ++j) {
      const double x = setting_sd_[j] > 0.0
                           ? (values[params_.settings[j]] - setting_mean_[j]) / setting_sd_[j]
                           : 0.0;
      const double diff = x - centres_[g * ns + j];
      d += diff * diff;
    }
    if (d < best_d) {
      best_d = d;
      best = g;
    }
  }
  return best;
}

void SimilarityLibrary::Features(std::span<const double> values, std::size_t regime,
                                 std::span<const double> history, std::span<double> out) const {
  const std::size_t nk = sensors_.size();
  for (std::size_t i = 0; i < nk; ++i) {
    const double sd = regime_sd_[regime * nk + i];
    out[i] = sd > 0.0 ? (values[sensors_[i]] - regime_mean_[regime * nk + i]) / sd : 0.0;
  }
  for (std::size_t g = nk; g < out.size(); ++g) out[g] = history[g - nk];
}

double SimilarityLibrary::HealthIndicator(std::span<const double> values, std::size_t regime,
                                          std::span<const double> history,
                                          std::span<double> features) const {
  Features(values, regime, history, features);
  double h = bias_;
  for (std::size_t i = 0; i < weights_.size(); ++i) h += weights_[i] * features[i];
  return h;
}

double SimilarityLibrary::HealthIndicator(std::span<const double> values) const {
  const std::size_t regime = Regime(values);
  std::vector<double> history(regimes_, 0.0);
  history[regime] = 1.0;
  std::vector<double> features(weights_.size());
  return HealthIndicator(values, regime, history, features);
}

SimilarityModel::SimilarityModel(std::shared_ptr<const SimilarityLibrary> library)
    : lib_(std::move(library)),
      lambda_(lib_->params().memory > 0 ? 1.0 - 1.0 / lib_->params().memory : 1.0),
      dist_(lib_->params().regression_weight < 1.0 ? lib_->rows() : 0, 0.0),
      history_(lib_->params().regime_history > 0 ? lib_->regimes() : 0, 0.0),
      features_(lib_->feature_count(), 0.0),
      ring_t_(static_cast<std::size_t>(std::max(lib_->params().trend_window, 2)), NAN),
      ring_h_(ring_t_.size(), NAN) {
  if (lib_->params().regression_weight > 0.0) {
    hi_history_.emplace();
    if (lib_->params().regression_sensor_window > 0) {
      sensor_history_.emplace(lib_->sensors().size(),
                              static_cast<std::size_t>(lib_->params().regression_sensor_window));
    }
  }
}

std::size_t SimilarityModel::state_bytes() const {
  return sizeof(*this) +
         (dist_.capacity() + ring_t_.capacity() + ring_h_.capacity() + history_.capacity() +
          features_.capacity() + (hi_history_ ? HealthHistory::kLongest : 0) +
          (sensor_history_ ? lib_->sensors().size() *
                                 static_cast<std::size_t>(lib_->params().regression_sensor_window)
                           : 0)) *
             sizeof(double);
}

HealthEstimate SimilarityModel::Update(double t, std::span<const double> values) {
  if (values.size() != lib_->arity() || !std::isfinite(t)) return last_;
  for (double v : values) {
    if (!std::isfinite(v)) return last_;
  }
  const SimilarityParams& p = lib_->params();
  const std::size_t regime = lib_->Regime(values);
  if (!history_.empty()) {
    UpdateHistory(history_, regime,
                  samples_ == 0 ? 1.0 : 2.0 / (static_cast<double>(p.regime_history) + 1.0));
  }
  const double x = lib_->HealthIndicator(values, regime, history_, features_);
  if (hi_history_) hi_history_->Push(x);
  // features_ starts with the sample's normalised sensors.
  if (sensor_history_)
    sensor_history_->Push(std::span<const double>(features_).first(lib_->sensors().size()));
  // Shift every alignment by one row and add the new squared difference (no matching when the
  // regression alone is emitted: dist_ is empty).
  std::size_t base = 0;
  for (const auto& u : lib_->units()) {
    if (dist_.empty()) break;
    const std::size_t n = u.hi.size();
    double* d = dist_.data() + base;
    for (std::size_t e = n - 1; e > 0; --e) {
      const double diff = x - u.hi[e];
      d[e] = lambda_ * d[e - 1] + diff * diff;
    }
    const double diff0 = x - u.hi[0];
    d[0] = diff0 * diff0;
    base += n;
  }
  ++samples_;

  const double alpha = 2.0 / (static_cast<double>(std::max(p.health_smoothing, 1)) + 1.0);
  health_ = std::isnan(health_) ? x : health_ + alpha * (x - health_);
  ring_t_[ring_next_] = t;
  ring_h_[ring_next_] = health_;
  ring_next_ = (ring_next_ + 1) % ring_t_.size();

  HealthEstimate est;
  est.health = std::clamp(health_, 0.0, 1.0);
  if (samples_ >= ring_t_.size()) {
    est.trend = Slope(ring_t_, ring_h_);
  }
  if (samples_ >= static_cast<std::size_t>(std::max(p.min_samples, 1))) est.rul = EstimateRul();
  last_ = est;
  return est;
}

double SimilarityModel::EstimateRul() const {
  const double w = lib_->params().regression_weight;
  if (w <= 0.0) return MatchRul();
  std::vector<double> f(lib_->regression_inputs());
  hi_history_->Features(std::span<double>(f).first(HealthHistory::kFeatures));
  if (sensor_history_) {
    sensor_history_->Features(std::span<double>(f).subspan(HealthHistory::kFeatures));
  }
  const double regression = lib_->RegressionRul(f);
  if (w >= 1.0) return regression;
  const double match = MatchRul();
  return std::isfinite(match) ? w * regression + (1.0 - w) * match : regression;
}

double SimilarityModel::MatchRul() const {
  const SimilarityParams& p = lib_->params();
  const std::size_t n = samples_;
  const std::size_t window = p.memory > 0 ? std::min(n, static_cast<std::size_t>(3 * p.memory)) : n;
  std::vector<std::pair<double, double>> candidates;  // (score, rul)
  candidates.reserve(lib_->units().size());
  std::size_t base = 0;
  for (const auto& u : lib_->units()) {
    const std::size_t len = u.hi.size();
    const double* d = dist_.data() + base;
    base += len;
    // The newest sample may sit on row e only if the history fits (up to `window` samples).
    const std::size_t first = std::min(window, len) - 1;
    double best = INFINITY;
    double best_rul = NAN;
    double lambda_m = std::pow(lambda_, static_cast<double>(first + 1));
    for (std::size_t e = first; e < len; ++e) {
      const std::size_t m = std::min(e + 1, n);  // terms in d[e]
      double w;
      if (lambda_ == 1.0) {
        w = static_cast<double>(m);
      } else {
        w = (1.0 - lambda_m) / (1.0 - lambda_);
        if (e + 1 < n) lambda_m *= lambda_;
      }
      const double score = d[e] / w;
      if (score < best) {
        best = score;
        best_rul = u.rul[e];
      }
    }
    if (std::isfinite(best)) candidates.emplace_back(best, best_rul);
  }
  if (candidates.empty()) return NAN;
  const std::size_t k = std::min(candidates.size(), static_cast<std::size_t>(p.neighbours));
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(k),
                    candidates.end());
  std::vector<double> ruls(k);
  // Beyond rul_cap a healthy asset's remaining life is not observable: the cap, or the age prior
  // (the library's mean remaining life at this asset's age) when that is larger.
  const double beyond =
      p.age_beyond_cap ? std::max(p.rul_cap, lib_->RemainingAtAge(samples_)) : p.rul_cap;
  for (std::size_t i = 0; i < k; ++i) {
    ruls[i] = candidates[i].second;
    if (p.rul_cap > 0.0 && ruls[i] > p.rul_cap) ruls[i] = beyond;
  }
  if (p.median) {
    std::sort(ruls.begin(), ruls.end());
    return k % 2 == 1 ? ruls[k / 2] : 0.5 * (ruls[k / 2 - 1] + ruls[k / 2]);
  }
  double s = 0.0;
  for (double r : ruls) s += r;
  return s / static_cast<double>(k);
}

}  // namespace pn::rules

namespace pn::rules {

namespace {

using config::KeySpec;
using config::TableSpec;
using config::ValueType;

const TableSpec& Spec() {
  static const TableSpec spec{
      "Similarity-based remaining useful life against a reference library of run-to-failure "
      "trajectories.",
      {
          KeySpec{.name = "library",
                  .type = ValueType::kString,
                  .description = "CSV file of run-to-failure trajectories (header row; one "
                                 "unit column, one time column, the rule's series as columns). "
                                 "A relative path is relative to the rule file's folder.",
                  .required = true,
                  .example = "\"train_FD001.csv\""},
          KeySpec{.name = "unit_column",
                  .type = ValueType::kString,
                  .default_value = std::string("unit"),
                  .description = "The library column naming the unit (asset) of each row."},
          KeySpec{.name = "time_column",
                  .type = ValueType::kString,
                  .default_value = std::string("cycle"),
                  .description = "The library column holding each row's time, in the same units "
                                 "as the rule's time column. A unit fails at its last row."},
          KeySpec{.name = "columns",
                  .type = ValueType::kStringList,
                  .description = "The library columns matching the rule's series, in rule order. "
                                 "Defaults to the series' own names.",
                  .example = "[\"s2\", \"s3\"]"},
          KeySpec{.name = "settings",
                  .type = ValueType::kStringList,
                  .description = "Series of the rule that are operating settings (e.g. altitude, "
                                 "Mach number, throttle), not sensors. Operating regimes are "
                                 "found by k-means on them over the library, and every sensor is "
                                 "normalised by its mean and standard deviation in the sample's "
                                 "regime before the health indicator. Empty: one regime.",
                  .example = "[\"os1\", \"os2\", \"os3\"]"},
          KeySpec{.name = "regimes",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{0},
                  .description = "Number of operating regimes (k-means clusters of the "
                                 "standardised settings). 0: the fewest, up to 10, that explain "
                                 "99.9% of the settings' variance, or one if none does.",
                  .min = 0,
                  .max = 64},
          KeySpec{.name = "min_separation",
                  .type = ValueType::kFloat,
                  .default_value = 0.0,
                  .description = "Drops a sensor whose per-regime normalised mean differs "
                                 "between the library's healthy and failed rows by less than "
                                 "this many within-regime standard deviations. Sensors constant "
                                 "within every regime are always dropped.",
                  .min = 0.0,
                  .max = 100.0},
          KeySpec{.name = "regime_history",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{0},
                  .description = "Span, in samples, of an exponential moving average of the "
                                 "regime each sample ran in; the regimes' shares are added as "
                                 "health-indicator inputs. 0: not used.",
                  .min = 0,
                  .max = 100000},
          KeySpec{.name = "healthy_fraction",
                  .type = ValueType::kFloat,
                  .default_value = 0.1,
                  .description = "The first part of each library life labelled healthy (health "
                                 "1) when fitting the health indicator.",
                  .min = 0.01,
                  .max = 0.5},
          KeySpec{.name = "failed_fraction",
                  .type = ValueType::kFloat,
                  .default_value = 0.1,
                  .description = "The last part of each library life labelled failed (health 0) "
                                 "when fitting the health indicator.",
                  .min = 0.01,
                  .max = 0.5},
          KeySpec{.name = "library_smoothing",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{15},
                  .description = "Window, in samples, of the centred moving average that smooths "
                                 "each library trajectory's health indicator.",
                  .min = 1,
                  .max = 1001},
          KeySpec{.name = "memory",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{30},
                  .description = "Forgetting horizon, in samples, of the trajectory match: a "
                                 "sample k samples old weighs (1 - 1/memory)^k. 0 weighs the "
                                 "whole history alike.",
                  .min = 0,
                  .max = 100000},
          KeySpec{.name = "neighbours",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{10},
                  .description = "How many of the most similar library units are combined.",
                  .min = 1,
                  .max = 10000},
          KeySpec{.name = "combine",
                  .type = ValueType::kString,
                  .default_value = std::string("mean"),
                  .description = "How the neighbours' remaining lives are combined.",
                  .choices = {"mean", "median"}},
          KeySpec{.name = "rul_cap",
                  .type = ValueType::kFloat,
                  .default_value = 0.0,
                  .description = "Caps each neighbour's remaining life, in time units (a "
                                 "healthy asset's life cannot be told apart beyond it). 0: no "
                                 "cap.",
                  .min = 0.0},
          KeySpec{.name = "beyond_cap",
                  .type = ValueType::kString,
                  .default_value = std::string("cap"),
                  .description = "What a neighbour's remaining life beyond rul_cap becomes: "
                                 "\"cap\" (rul_cap) or \"age\" (the larger of rul_cap and "
                                 "the mean remaining life of the library units that reached the "
                                 "asset's age, in samples).",
                  .choices = {"cap", "age"}},
          KeySpec{.name = "regression_weight",
                  .type = ValueType::kFloat,
                  .default_value = 0.0,
                  .description = "Weight of a second RUL estimate, boosted regression trees "
                                 "from the asset's recent health-indicator history, in the "
                                 "emitted RUL; the rest is the similarity estimate. 0: no "
                                 "regression; 1: the regression alone (no matching).",
                  .min = 0.0,
                  .max = 1.0},
          KeySpec{.name = "regression_sensor_window",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{240},
                  .description = "Samples over which the mean and slope of each normalised "
                                 "sensor are regression inputs too. 0: the health-indicator "
                                 "history only.",
                  .min = 0,
                  .max = 10000},
          KeySpec{.name = "regression_trees",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{200},
                  .description = "Boosting rounds (trees) of the regression.",
                  .min = 1,
                  .max = 10000},
          KeySpec{.name = "regression_depth",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{3},
                  .description = "Levels of each regression tree (2^depth leaves).",
                  .min = 1,
                  .max = 8},
          KeySpec{.name = "regression_rate",
                  .type = ValueType::kFloat,
                  .default_value = 0.1,
                  .description = "Shrinkage (learning rate) of each regression tree.",
                  .min = 0.001,
                  .max = 1.0},
          KeySpec{.name = "min_samples",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{10},
                  .description = "Samples an asset must have before its first RUL estimate.",
                  .min = 1,
                  .max = 100000},
          KeySpec{.name = "health_smoothing",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{10},
                  .description = "Span, in samples, of the exponential moving average of the "
                                 "emitted health index.",
                  .min = 1,
                  .max = 100000},
          KeySpec{.name = "trend_window",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{30},
                  .description = "Samples in the least-squares slope reported as the health "
                                 "trend.",
                  .min = 2,
                  .max = 10000},
      }};
  return spec;
}

void Check(const config::Section& s, config::ErrorList& errors) {
  if (s.GetFloat("healthy_fraction") + s.GetFloat("failed_fraction") > 0.9) {
    s.AddError(errors, "failed_fraction", "healthy_fraction + failed_fraction must be at most 0.9");
  }
  if (s.Has("library") && s.GetString("library").empty()) {
    s.AddError(errors, "library", "must name a CSV file");
  }
}

SimilarityParams ParamsOf(const config::Section& s) {
  SimilarityParams p;
  p.healthy_fraction = s.GetFloat("healthy_fraction");
  p.failed_fraction = s.GetFloat("failed_fraction");
  p.library_smoothing = static_cast<int>(s.GetInt("library_smoothing"));
  p.memory = static_cast<int>(s.GetInt("memory"));
  p.neighbours = static_cast<int>(s.GetInt("neighbours"));
  p.median = s.GetString("combine") == "median";
  p.rul_cap = s.GetFloat("rul_cap");
  p.age_beyond_cap = s.GetString("beyond_cap") == "age";
  p.min_samples = static_cast<int>(s.GetInt("min_samples"));
  p.health_smoothing = static_cast<int>(s.GetInt("health_smoothing"));
  p.trend_window = static_cast<int>(s.GetInt("trend_window"));
  p.regimes = static_cast<int>(s.GetInt("regimes"));
  p.min_separation = s.GetFloat("min_separation");
  p.regime_history = static_cast<int>(s.GetInt("regime_history"));
  p.regression_weight = s.GetFloat("regression_weight");
  p.regression_sensor_window = static_cast<int>(s.GetInt("regression_sensor_window"));
  p.trees.rounds = static_cast<int>(s.GetInt("regression_trees"));
  p.trees.depth = static_cast<int>(s.GetInt("regression_depth"));
  p.trees.rate = s.GetFloat("regression_rate");
  return p;
}

using Factory = std::function<std::unique_ptr<HealthModel>()>;

// `series`: the rule's series names, or empty when only the arity is known.
Factory Prepare(const config::Section& s, const std::vector<std::string>& series, std::size_t arity,
                const std::string& base_dir, config::ErrorList& errors) {
  ReferenceLibraryOptions opts;
  opts.unit_column = s.GetString("unit_column");
  opts.time_column = s.GetString("time_column");
  if (s.Has("columns")) {
    opts.columns = s.GetStringList("columns");
    if (opts.columns.size() != arity) {
      s.AddError(errors, "columns",
                 "names " + std::to_string(opts.columns.size()) + " columns but the rule has " +
                     std::to_string(arity) + " series");
      return nullptr;
    }
  } else if (!series.empty()) {
    opts.columns = series;
  } else {
    s.AddError(errors, "library",
               "set `columns` to the library columns of the rule's series, in rule order");
    return nullptr;
  }
  // Settings: names of the rule's series (or of `columns` when the names are unknown).
  SimilarityParams params = ParamsOf(s);
  if (s.Has("settings")) {
    const std::vector<std::string>& names = series.empty() ? opts.columns : series;
    bool ok = true;
    for (const auto& name : s.GetStringList("settings")) {
      const auto it = std::find(names.begin(), names.end(), name);
      const auto index = static_cast<std::size_t>(it - names.begin());
      if (it == names.end()) {
        s.AddError(errors, "settings", "\"" + name + "\" is not one of the rule's series");
        ok = false;
      } else if (std::find(params.settings.begin(), params.settings.end(), index) !=
                 params.settings.end()) {
        s.AddError(errors, "settings", "\"" + name + "\" is named twice");
        ok = false;
      } else {
        params.settings.push_back(index);
      }
    }
    if (ok && params.settings.size() == arity) {
      s.AddError(errors, "settings", "every series is a setting; the rule needs sensors too");
      ok = false;
    }
    if (!ok) return nullptr;
  }
  const std::string path = ResolvePath(base_dir, s.GetString("library"));
  if (!std::ifstream(path)) {
    s.AddError(errors, "library",
               "cannot read reference library '" + path + "': " + std::strerror(errno));
    return nullptr;
  }
  auto library = LoadReferenceLibrary(path, opts, errors);
  if (!library) return nullptr;
  std::string error;
  auto shared = SimilarityLibrary::Build(*library, params, &error);
  if (!shared) {
    s.AddError(errors, "library", path + ": " + error);
    return nullptr;
  }
  return [shared]() -> std::unique_ptr<HealthModel> {
    return std::make_unique<SimilarityModel>(shared);
  };
}

}  // namespace

HealthModelType SimilarityModelType() {
  HealthModelType t;
  t.name = "similarity";
  t.summary =
      "Health index regressed on a run-to-failure library; RUL from the most similar library "
      "trajectories (Wang et al. 2008).";
  t.spec = &Spec();
  t.check = Check;
  t.prepare = [](const config::Section& s, std::size_t arity, const std::string& base_dir,
                 config::ErrorList& errors) { return Prepare(s, {}, arity, base_dir, errors); };
  t.prepare_named = [](const config::Section& s, const std::vector<std::string>& series,
                       const std::string& base_dir, config::ErrorList& errors) {
    return Prepare(s, series, series.size(), base_dir, errors);
  };
  return t;
}

}  // namespace pn::rules
