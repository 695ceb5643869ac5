#include "rules/detectors/ensemble/ensemble.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "rules/detectors/common/conformal.h"
#include "rules/detectors/common/shape_knn.h"

namespace pn::rules {
namespace {

using config::KeySpec;
using config::TableSpec;
using config::ValueType;

constexpr double kDayS = 86400.0;
// Samples kept for the context component: shapes up to `cycles` days back must fit.
constexpr std::size_t kMaxContextRing = 3000;
// Intervals looked at to learn the sampling period (median of the first ones).
constexpr std::size_t kPeriodSamples = 15;

const TableSpec kSpec{
    "Ensemble of streaming detectors with conformal score fusion: the default detector.",
    {
        KeySpec{.name = "dim",
                .type = ValueType::kInt,
                .default_value = std::int64_t{10},
                .description = "Samples in a shape.",
                .min = 2,
                .max = 200},
        KeySpec{.name = "k",
                .type = ValueType::kInt,
                .default_value = std::int64_t{10},
                .description = "Nearest earlier shapes whose distances make the shape "
                               "nonconformity.",
                .min = 1,
                .max = 100},
        KeySpec{.name = "history",
                .type = ValueType::kInt,
                .default_value = std::int64_t{1000},
                .description = "Earlier shapes searched for neighbours.",
                .min = 10,
                .max = 3000},
        KeySpec{.name = "calibration",
                .type = ValueType::kInt,
                .default_value = std::int64_t{1000},
                .description = "Earlier nonconformities of each component that the current "
                               "one is ranked against.",
                .min = 10,
                .max = 2000},
        KeySpec{.name = "warmup",
                .type = ValueType::kInt,
                .default_value = std::int64_t{150},
                .description = "Samples learned before the first score.",
                .min = 1,
                .max = 100000000},
        KeySpec{.name = "context",
                .type = ValueType::kBool,
                .default_value = true,
                .description = "Score shapes that are unusual for the time of day: the distance "
                               "of the last dim samples to the shapes around the same time on "
                               "the earlier days held. Without a usable daily cycle (a day of "
                               "samples does not fit in memory) or with this off, the shape is "
                               "compared with every earlier shape instead (KNN)."},
        KeySpec{.name = "context_slack",
                .type = ValueType::kInt,
                .default_value = std::int64_t{12},
                .description = "Samples either side of the same time of day searched on earlier "
                               "days.",
                .min = 0,
                .max = 1000},
        KeySpec{.name = "shift",
                .type = ValueType::kBool,
                .default_value = false,
                .description = "Also score changes of level or spread (the last shift_window "
                               "samples against the shift_reference samples before them); the "
                               "larger score counts. Off by default: on NAB it adds more false "
                               "alarms than detections."},
        KeySpec{.name = "shift_window",
                .type = ValueType::kInt,
                .default_value = std::int64_t{12},
                .description = "Recent samples compared with the reference.",
                .min = 2,
                .max = 1000},
        KeySpec{.name = "shift_reference",
                .type = ValueType::kInt,
                .default_value = std::int64_t{200},
                .description = "Samples before the recent ones that make the reference.",
                .min = 10,
                .max = 2000},
        KeySpec{.name = "range_tolerance",
                .type = ValueType::kFloat,
                .default_value = 0.02,
                .description = "A sample further than this fraction of the range seen so far "
                               "below its minimum or above its maximum scores 1. 0 turns the "
                               "check off.",
                .min = 0.0,
                .max = 100.0},
        KeySpec{.name = "hold",
                .type = ValueType::kInt,
                .default_value = std::int64_t{100},
                .description = "Samples scored 0 after an anomaly, so one anomaly is reported "
                               "once. 0 turns this off.",
                .min = 0,
                .max = 100000000},
    }};

struct Options {
  std::size_t dim = 10;
  std::size_t k = 10;
  std::size_t history = 1000;
  std::size_t calibration = 1000;
  std::int64_t warmup = 150;
  bool context = true;
  std::size_t context_slack = 12;
  bool shift = false;
  std::size_t shift_window = 12;
  std::size_t shift_reference = 200;
};

class EnsembleDetector final : public Detector {
 public:
  explicit EnsembleDetector(const Options& o)
      : o_(o),
        shapes_(std::max({o.history + o.dim, o.shift_window + o.shift_reference, o.dim + 1})),
        best_(o.k),
        shape_cal_(o.calibration),
        context_cal_(o.calibration),
        shift_cal_(o.shift ? o.calibration : 1) {
    intervals_.reserve(kPeriodSamples);
  }

  double Update(std::int64_t ts_ns, std::span<const double> values) override {
    const double x = values[0];
    LearnPeriod(ts_ns);
    shapes_.Push(x);
    ++n_;
    double score = 0.0;
    const bool scoring = n_ > o_.warmup;
    if (period_ > 0) {
      if (Have() >= period_ + o_.dim + slack_) {
        score = context_cal_.Rank(ContextNonconformity());
      }
    } else if ((!o_.context || period_known_) && Have() >= 2 * o_.dim + o_.k) {
      score = shape_cal_.Rank(shapes_.KnnNonconformity(o_.dim, o_.history, best_));
    }
    if (o_.shift && Have() >= o_.shift_window + o_.shift_reference) {
      score = std::max(score, shift_cal_.Rank(ShiftNonconformity()));
    }
    return scoring ? score : std::numeric_limits<double>::quiet_NaN();
  }

  std::size_t state_bytes() const override {
    return sizeof(*this) + shapes_.bytes() + best_.capacity() * sizeof(double) +
           shape_cal_.bytes() + context_cal_.bytes() + shift_cal_.bytes() +
           intervals_.capacity() * sizeof(std::int64_t);
  }

 private:
  std::size_t Have() const { return shapes_.held(); }
  const double* Run(std::size_t ago, std::size_t len) const { return shapes_.Run(ago, len); }

  // Smallest squared distance of the newest shape to the shapes that ended at the same time of
  // day (within context_slack samples) on each earlier day still held.
  double ContextNonconformity() const {
    const std::size_t have = Have();
    const double* cur = Run(0, o_.dim);
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t c = 1; c * period_ + slack_ + o_.dim <= have; ++c) {
      for (std::size_t s = 0; s <= 2 * slack_; ++s) {
        if (c * period_ + s < slack_ + o_.dim) continue;  // overlaps the current shape
        const std::size_t ago = c * period_ + s - slack_;
        best = std::min(best, detail::ShapeHistory::Distance(cur, Run(ago, o_.dim), o_.dim));
      }
    }
    return std::isfinite(best) ? best : 0.0;
  }

  // Change of level and of spread: the recent window against the reference before it, as a
  // Welch-like mean difference plus the log ratio of standard deviations.
  double ShiftNonconformity() const {
    const double* recent = Run(0, o_.shift_window);
    const double* ref = Run(o_.shift_window, o_.shift_reference);
    auto moments = [](const double* p, std::size_t n) {
      double mean = 0.0;
      for (std::size_t i = 0; i < n; ++i) mean += p[i];
      mean /= static_cast<double>(n);
      double var = 0.0;
      for (std::size_t i = 0; i < n; ++i) var += (p[i] - mean) * (p[i] - mean);
      return std::pair{mean, var / static_cast<double>(n)};
    };
    const auto [rm, rv] = moments(recent, o_.shift_window);
    const auto [bm, bv] = moments(ref, o_.shift_reference);
    const double scale = std::sqrt(bv) + 1e-9 * (std::fabs(bm) + 1.0);
    const double level = std::fabs(rm - bm) / scale;
    const double spread = std::fabs(std::log((std::sqrt(rv) + scale * 1e-3) / scale));
    return level + spread;
  }

  // The daily period in samples, from the median of the first sampling intervals; 0 (context
  // off) when the stream has no usable time or a day does not fit in kMaxContextRing.
  void LearnPeriod(std::int64_t ts_ns) {
    if (!o_.context || period_known_) return;
    if (n_ > 0 && ts_ns > last_ts_) intervals_.push_back(ts_ns - last_ts_);
    last_ts_ = ts_ns;
    if (n_ < static_cast<std::int64_t>(kPeriodSamples)) return;
    period_known_ = true;
    if (intervals_.size() <= kPeriodSamples / 2) {  // time stands still: no daily cycle
      intervals_ = {};
      context_cal_ = detail::ConformalRanker(1);
      return;
    }
    const auto mid = intervals_.begin() + static_cast<std::ptrdiff_t>(intervals_.size() / 2);
    std::nth_element(intervals_.begin(), mid, intervals_.end());
    const double dt_s = static_cast<double>(*mid) * 1e-9;
    intervals_ = {};
    const double p = std::round(kDayS / dt_s);
    slack_ = o_.context_slack;
    if (p >= static_cast<double>(2 * o_.dim) &&
        p + static_cast<double>(o_.dim + slack_) <= kMaxContextRing) {
      period_ = static_cast<std::size_t>(p);
      // Grow the ring so that up to three days (at least one) fit.
      const std::size_t need =
          std::min<std::size_t>(kMaxContextRing, 3 * period_ + o_.dim + slack_);
      shapes_.Grow(need);
      shape_cal_ = detail::ConformalRanker(1);  // the shape component is not used
    } else {
      context_cal_ = detail::ConformalRanker(1);
    }
  }

  Options o_;
  detail::ShapeHistory shapes_;
  std::vector<double> best_;
  detail::ConformalRanker shape_cal_;
  detail::ConformalRanker context_cal_;
  detail::ConformalRanker shift_cal_;
  std::vector<std::int64_t> intervals_;
  std::int64_t last_ts_ = 0;
  bool period_known_ = false;
  std::size_t period_ = 0;  // samples per day; 0 while unknown or unusable
  std::size_t slack_ = 0;   // samples either side of the same time of day
  std::int64_t n_ = 0;
};

}  // namespace

const DetectorType& EnsembleDetectorType() {
  static const DetectorType type{
      .name = "ensemble",
      .summary =
          "Unusual shapes, shapes unusual for the time of day, and shifts of level or "
          "spread, each ranked against its own history (the default detector).",
      .multivariate = false,
      .spec = &kSpec,
      .check =
          [](const config::Section& s, config::ErrorList& errors) {
            if (s.GetInt("k") >= s.GetInt("history")) {
              s.AddError(errors, "k", "must be less than history");
            }
          },
      .create = [](const config::Section& s, std::size_t) -> std::unique_ptr<Detector> {
        Options o;
        o.dim = static_cast<std::size_t>(s.GetInt("dim"));
        o.k = static_cast<std::size_t>(s.GetInt("k"));
        o.history = static_cast<std::size_t>(s.GetInt("history"));
        o.calibration = static_cast<std::size_t>(s.GetInt("calibration"));
        o.warmup = s.GetInt("warmup");
        o.context = s.GetBool("context");
        o.context_slack = static_cast<std::size_t>(s.GetInt("context_slack"));
        o.shift = s.GetBool("shift");
        o.shift_window = static_cast<std::size_t>(s.GetInt("shift_window"));
        o.shift_reference = static_cast<std::size_t>(s.GetInt("shift_reference"));
        return std::make_unique<EnsembleDetector>(o);
      },
      .default_min_score = 1.0};
  return type;
}

}  // namespace pn::rules
