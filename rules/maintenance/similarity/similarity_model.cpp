#include "rules/maintenance/similarity/similarity_model.h"

#include <algorithm>
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

}  // namespace

std::shared_ptr<const SimilarityLibrary> SimilarityLibrary::Build(const ReferenceLibrary& library,
                                                                  const SimilarityParams& params,
                                                                  std::string* error) {
  const std::size_t p = library.arity();
  auto lib = std::make_shared<SimilarityLibrary>();
  lib->params_ = params;
  const std::size_t rows = library.rows();
  if (p == 0 || rows < 2 * (p + 1) || library.units.empty()) {
    *error = "reference library has too few rows (" + std::to_string(rows) + ") to fit " +
             std::to_string(p) + " series";
    return nullptr;
  }
  // Standardise so that the ridge term treats every series alike.
  std::vector<double> mean(p, 0.0), sd(p, 0.0);
  for (const auto& u : library.units) {
    for (std::size_t r = 0; r < u.time.size(); ++r) {
      for (std::size_t i = 0; i < p; ++i) mean[i] += u.values[r * p + i];
    }
  }
  for (auto& m : mean) m /= static_cast<double>(rows);
  for (const auto& u : library.units) {
    for (std::size_t r = 0; r < u.time.size(); ++r) {
      for (std::size_t i = 0; i < p; ++i) {
        const double d = u.values[r * p + i] - mean[i];
        sd[i] += d * d;
      }
    }
  }
  for (auto& s : sd) s = std::sqrt(s / static_cast<double>(rows));

  // Regression on the labelled ends of every life: 1 = healthy, 0 = failed.
  NormalEquations ne(p + 1);
  std::vector<double> z(p + 1);
  std::size_t labelled = 0;
  for (const auto& u : library.units) {
    const std::size_t n = u.time.size();
    const auto healthy_end = static_cast<std::size_t>(
        std::ceil(params.healthy_fraction * static_cast<double>(n)));
    const auto failed_begin = static_cast<std::size_t>(
        std::floor((1.0 - params.failed_fraction) * static_cast<double>(n)));
    for (std::size_t r = 0; r < n; ++r) {
      double y;
      if (r < healthy_end) {
        y = 1.0;
      } else if (r >= failed_begin) {
        y = 0.0;
      } else {
        continue;
      }
      for (std::size_t i = 0; i < p; ++i) {
        z[i] = sd[i] > 0.0 ? (u.values[r * p + i] - mean[i]) / sd[i] : 0.0;
      }
      z[p] = 1.0;
      ne.Add(z, y);
      ++labelled;
    }
  }
  auto beta = ne.Solve(1e-6);
  if (!beta || labelled < p + 1) {
    *error = "cannot fit the health indicator: the library's series do not separate healthy "
             "from failed rows";
    return nullptr;
  }
  lib->mean_ = mean;
  lib->weights_.assign(p, 0.0);
  lib->bias_ = (*beta)[p];
  for (std::size_t i = 0; i < p; ++i) {
    if (sd[i] > 0.0) {
      lib->weights_[i] = (*beta)[i] / sd[i];
      lib->bias_ -= lib->weights_[i] * mean[i];
    }
  }
  // Smoothed trajectories and remaining times.
  for (const auto& u : library.units) {
    const std::size_t n = u.time.size();
    std::vector<double> hi(n);
    for (std::size_t r = 0; r < n; ++r) {
      hi[r] = lib->HealthIndicator(std::span<const double>(u.values).subspan(r * p, p));
    }
    Unit unit;
    unit.hi = Smooth(hi, params.library_smoothing);
    unit.rul.resize(n);
    for (std::size_t r = 0; r < n; ++r) unit.rul[r] = u.time.back() - u.time[r];
    lib->units_.push_back(std::move(unit));
  }
  lib->rows_ = rows;
  return lib;
}

double SimilarityLibrary::HealthIndicator(std::span<const double> values) const {
  double h = bias_;
  for (std::size_t i = 0; i < weights_.size(); ++i) h += weights_[i] * values[i];
  return h;
}

SimilarityModel::SimilarityModel(std::shared_ptr<const SimilarityLibrary> library)
    : lib_(std::move(library)),
      lambda_(lib_->params().memory > 0 ? 1.0 - 1.0 / lib_->params().memory : 1.0),
      dist_(lib_->rows(), 0.0),
      ring_t_(static_cast<std::size_t>(std::max(lib_->params().trend_window, 2)), NAN),
      ring_h_(ring_t_.size(), NAN) {}

std::size_t SimilarityModel::state_bytes() const {
  return sizeof(*this) + (dist_.capacity() + ring_t_.capacity() + ring_h_.capacity()) *
                             sizeof(double);
}

HealthEstimate SimilarityModel::Update(double t, std::span<const double> values) {
  if (values.size() != lib_->arity() || !std::isfinite(t)) return last_;
  for (double v : values) {
    if (!std::isfinite(v)) return last_;
  }
  const SimilarityParams& p = lib_->params();
  const double x = lib_->HealthIndicator(values);
  // Shift every alignment by one row and add the new squared difference.
  std::size_t base = 0;
  for (const auto& u : lib_->units()) {
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
  const SimilarityParams& p = lib_->params();
  const std::size_t n = samples_;
  const std::size_t window =
      p.memory > 0 ? std::min(n, static_cast<std::size_t>(3 * p.memory)) : n;
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
  for (std::size_t i = 0; i < k; ++i) {
    ruls[i] = p.rul_cap > 0.0 ? std::min(candidates[i].second, p.rul_cap) : candidates[i].second;
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
    s.AddError(errors, "failed_fraction",
               "healthy_fraction + failed_fraction must be at most 0.9");
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
  p.min_samples = static_cast<int>(s.GetInt("min_samples"));
  p.health_smoothing = static_cast<int>(s.GetInt("health_smoothing"));
  p.trend_window = static_cast<int>(s.GetInt("trend_window"));
  return p;
}

using Factory = std::function<std::unique_ptr<HealthModel>()>;

// `series`: the rule's series names, or empty when only the arity is known.
Factory Prepare(const config::Section& s, const std::vector<std::string>& series,
                std::size_t arity, const std::string& base_dir, config::ErrorList& errors) {
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
  const std::string path = ResolvePath(base_dir, s.GetString("library"));
  if (!std::ifstream(path)) {
    s.AddError(errors, "library",
               "cannot read reference library '" + path + "': " + std::strerror(errno));
    return nullptr;
  }
  auto library = LoadReferenceLibrary(path, opts, errors);
  if (!library) return nullptr;
  std::string error;
  auto shared = SimilarityLibrary::Build(*library, ParamsOf(s), &error);
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
