#include "rules/maintenance/trend/trend_model.h"

#include <algorithm>
#include <cmath>

#include "rules/maintenance/least_squares.h"

namespace pn::rules {

TrendModel::TrendModel(TrendParams params, std::size_t arity)
    : params_(params),
      mean_(arity, 0.0),
      m2_(arity, 0.0),
      smooth_(arity, 0.0),
      ring_t_(static_cast<std::size_t>(std::max(params.trend_window, 2)), 0.0),
      ring_h_(ring_t_.size(), 0.0) {}

std::size_t TrendModel::state_bytes() const {
  return sizeof(*this) + (mean_.capacity() + m2_.capacity() + smooth_.capacity() +
                          ring_t_.capacity() + ring_h_.capacity()) *
                             sizeof(double);
}

HealthEstimate TrendModel::Update(double t, std::span<const double> values) {
  if (values.size() != mean_.size() || !std::isfinite(t)) return last_;
  for (double v : values) {
    if (!std::isfinite(v)) return last_;
  }
  const std::size_t p = values.size();
  const double alpha = 2.0 / (static_cast<double>(std::max(params_.smoothing, 1)) + 1.0);
  for (std::size_t i = 0; i < p; ++i) {
    smooth_[i] = samples_ == 0 ? values[i] : smooth_[i] + alpha * (values[i] - smooth_[i]);
  }
  ++samples_;
  const auto baseline = static_cast<std::size_t>(std::max(params_.baseline_samples, 2));
  if (samples_ <= baseline) {
    const double n = static_cast<double>(samples_);
    for (std::size_t i = 0; i < p; ++i) {
      const double d = values[i] - mean_[i];
      mean_[i] += d / n;
      m2_[i] += d * (values[i] - mean_[i]);
    }
    last_ = HealthEstimate{};
    return last_;  // learning the baseline
  }
  double sum = 0.0;
  std::size_t used = 0;
  for (std::size_t i = 0; i < p; ++i) {
    const double sd = std::sqrt(m2_[i] / static_cast<double>(baseline - 1));
    // A flat baseline series: deviations are measured against a tiny relative scale.
    const double scale = sd > 0.0 ? sd : 1e-9 * std::max(std::fabs(mean_[i]), 1.0);
    const double z = (smooth_[i] - mean_[i]) / scale;
    sum += z * z;
    ++used;
  }
  const double rms = used > 0 ? std::sqrt(sum / static_cast<double>(used)) : 0.0;
  const double health = std::clamp(1.0 - rms / params_.failure_deviation, 0.0, 1.0);

  ring_t_[ring_next_] = t;
  ring_h_[ring_next_] = health;
  ring_next_ = (ring_next_ + 1) % ring_t_.size();
  ring_size_ = std::min(ring_size_ + 1, ring_t_.size());

  HealthEstimate est;
  est.health = health;
  if (ring_size_ >= 2) {
    std::span<const double> ts(ring_t_.data(), ring_size_);
    std::span<const double> hs(ring_h_.data(), ring_size_);
    const double slope = Slope(ts, hs);
    est.trend = slope;
    // The fitted line's value now, and the time for it to reach 0.
    double mt = 0.0, mh = 0.0;
    for (std::size_t i = 0; i < ring_size_; ++i) {
      mt += ts[i];
      mh += hs[i];
    }
    mt /= static_cast<double>(ring_size_);
    mh /= static_cast<double>(ring_size_);
    const double now = std::clamp(mh + slope * (t - mt), 0.0, 1.0);
    const double cap = params_.rul_cap > 0.0 ? params_.rul_cap : INFINITY;
    if (health <= 0.0) {
      est.rul = 0.0;  // failed
    } else if (slope < 0.0) {
      est.rul = std::min(now / -slope, cap);
    } else if (std::isfinite(cap)) {
      est.rul = cap;
    }
  }
  last_ = est;
  return est;
}

namespace {

using config::KeySpec;
using config::TableSpec;
using config::ValueType;

const TableSpec& Spec() {
  static const TableSpec spec{
      "Health index from the deviation of an asset's own healthy baseline; RUL by extrapolating "
      "its trend to health 0.",
      {
          KeySpec{.name = "baseline_samples",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{30},
                  .description = "Samples at the start of each asset's stream that define its "
                                 "healthy baseline (no health while learning it).",
                  .min = 2,
                  .max = 100000},
          KeySpec{.name = "smoothing",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{10},
                  .description = "Span, in samples, of the exponential moving average applied to "
                                 "each series before measuring its deviation.",
                  .min = 1,
                  .max = 100000},
          KeySpec{.name = "failure_deviation",
                  .type = ValueType::kFloat,
                  .default_value = 6.0,
                  .description = "The rms deviation from the baseline, in baseline standard "
                                 "deviations, at which the health index reaches 0 (failure).",
                  .min = 0.1},
          KeySpec{.name = "trend_window",
                  .type = ValueType::kInt,
                  .default_value = std::int64_t{50},
                  .description = "Samples in the least-squares line fitted to the health index "
                                 "and extrapolated to 0.",
                  .min = 2,
                  .max = 10000},
          KeySpec{.name = "rul_cap",
                  .type = ValueType::kFloat,
                  .default_value = 0.0,
                  .description = "Caps the RUL estimate, in time units; also the estimate while "
                                 "the health is not falling. 0: no cap (no estimate then).",
                  .min = 0.0},
      }};
  return spec;
}

TrendParams ParamsOf(const config::Section& s) {
  TrendParams p;
  p.baseline_samples = static_cast<int>(s.GetInt("baseline_samples"));
  p.smoothing = static_cast<int>(s.GetInt("smoothing"));
  p.failure_deviation = s.GetFloat("failure_deviation");
  p.trend_window = static_cast<int>(s.GetInt("trend_window"));
  p.rul_cap = s.GetFloat("rul_cap");
  return p;
}

}  // namespace

HealthModelType TrendModelType() {
  HealthModelType t;
  t.name = "trend";
  t.summary =
      "Health index from the deviation of the asset's own healthy baseline; RUL by linear trend "
      "extrapolation to health 0. Needs no reference library.";
  t.spec = &Spec();
  t.check = [](const config::Section&, config::ErrorList&) {};
  t.prepare = [](const config::Section& s, std::size_t arity, const std::string&,
                 config::ErrorList&) -> std::function<std::unique_ptr<HealthModel>()> {
    const TrendParams p = ParamsOf(s);
    return [p, arity]() -> std::unique_ptr<HealthModel> {
      return std::make_unique<TrendModel>(p, arity);
    };
  };
  t.prepare_named = [prepare = t.prepare](const config::Section& s,
                                          const std::vector<std::string>& series,
                                          const std::string& base_dir, config::ErrorList& errors) {
    return prepare(s, series.size(), base_dir, errors);
  };
  return t;
}

}  // namespace pn::rules
