#include "rules/detectors/common/postprocess.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <vector>

#include "rules/detectors/common/stats.h"

namespace pn::rules::detail {
namespace {

using config::KeySpec;
using config::ValueType;

std::vector<KeySpec> PostprocessKeys() {
  return {
      KeySpec{.name = "likelihood",
              .type = ValueType::kBool,
              .default_value = false,
              .description = "Replace the raw score by its anomaly likelihood: the probability "
                             "that the average of the last likelihood_window raw scores is "
                             "higher than normal."},
      KeySpec{.name = "likelihood_window",
              .type = ValueType::kInt,
              .default_value = std::int64_t{10},
              .description = "Raw scores averaged for the anomaly likelihood.",
              .min = 1,
              .max = 1000},
      KeySpec{.name = "likelihood_memory",
              .type = ValueType::kInt,
              .default_value = std::int64_t{1000},
              .description = "Samples of memory (1 / weight) of the long-term distribution of "
                             "averaged raw scores.",
              .min = 10,
              .max = 100000000},
      KeySpec{.name = "likelihood_learning",
              .type = ValueType::kInt,
              .default_value = std::int64_t{100},
              .description = "Raw scores learned before the likelihood is scored (warm-up on "
                             "top of the detector's own).",
              .min = 1,
              .max = 100000000},
      KeySpec{.name = "range_tolerance",
              .type = ValueType::kFloat,
              .default_value = 0.0,
              .description = "When above 0, a sample further than this fraction of the range "
                             "seen so far below its minimum or above its maximum scores 1. "
                             "0 turns the check off.",
              .min = 0.0,
              .max = 100.0},
      KeySpec{.name = "hold",
              .type = ValueType::kInt,
              .default_value = std::int64_t{0},
              .description = "Samples scored 0 after a score of at least hold_level, so one "
                             "anomaly is reported once. 0 turns this off.",
              .min = 0,
              .max = 100000000},
      KeySpec{.name = "hold_level",
              .type = ValueType::kFloat,
              .description = "Score that starts a hold. Defaults to the rule's min_score.",
              .min = 0.0,
              .max = 1.0,
              .example = "0.5"},
  };
}

struct Options {
  bool likelihood = false;
  std::size_t likelihood_window = 10;
  double likelihood_alpha = 0.001;
  std::int64_t likelihood_learning = 100;
  double range_tolerance = 0.0;
  std::int64_t hold = 0;
  double hold_level = 0.5;
  bool any() const { return likelihood || range_tolerance > 0.0 || hold > 0; }
};

// Numenta's floors: a near-constant raw score must not make the slightest blip "certain".
constexpr double kMinLikelihoodMean = 0.03;
constexpr double kMinLikelihoodVar = 0.0003;

class PostprocessDetector final : public Detector {
 public:
  PostprocessDetector(std::unique_ptr<Detector> inner, const Options& o, std::size_t arity)
      : inner_(std::move(inner)), o_(o), dist_(o.likelihood_alpha) {
    if (o_.likelihood) window_.assign(o_.likelihood_window, 0.0);
    if (o_.range_tolerance > 0.0) {
      min_.assign(arity, std::numeric_limits<double>::infinity());
      max_.assign(arity, -std::numeric_limits<double>::infinity());
    }
  }

  double Update(std::int64_t ts_ns, std::span<const double> values) override {
    const double raw = inner_->Update(ts_ns, values);
    const bool outside = RangeCheck(values);
    if (std::isnan(raw)) return raw;
    double score = o_.likelihood ? Likelihood(raw) : raw;
    if (std::isnan(score)) return score;
    if (outside) score = 1.0;
    if (o_.hold > 0) {
      if (held_ > 0) {
        --held_;
        return 0.0;
      }
      if (score >= o_.hold_level) held_ = o_.hold;
    }
    return score;
  }

  std::size_t state_bytes() const override {
    return sizeof(*this) + inner_->state_bytes() +
           (window_.capacity() + min_.capacity() + max_.capacity()) * sizeof(double);
  }

 private:
  // True if any value lies outside the tolerated range of the values before it.
  bool RangeCheck(std::span<const double> values) {
    if (min_.empty()) return false;
    bool outside = false;
    for (std::size_t i = 0; i < values.size() && i < min_.size(); ++i) {
      const double x = values[i];
      if (max_[i] > min_[i]) {
        const double tol = o_.range_tolerance * (max_[i] - min_[i]);
        outside = outside || x > max_[i] + tol || x < min_[i] - tol;
      }
      min_[i] = std::min(min_[i], x);
      max_[i] = std::max(max_[i], x);
    }
    return outside;
  }

  double Likelihood(double raw) {
    const std::size_t w = window_.size();
    sum_ += raw - window_[pos_];
    window_[pos_] = raw;
    pos_ = (pos_ + 1) % w;
    if (filled_ < w) ++filled_;
    const double avg = sum_ / static_cast<double>(filled_);
    double score = std::numeric_limits<double>::quiet_NaN();
    if (seen_ >= o_.likelihood_learning) {
      const double mean = std::max(dist_.mean(), kMinLikelihoodMean);
      const double sd = std::sqrt(std::max(dist_.variance(), kMinLikelihoodVar));
      score = NormalCdf((avg - mean) / sd);
    }
    dist_.Add(avg);
    ++seen_;
    return score;
  }

  std::unique_ptr<Detector> inner_;
  Options o_;
  EwStats dist_;
  std::vector<double> window_;
  std::vector<double> min_;
  std::vector<double> max_;
  double sum_ = 0.0;
  std::size_t pos_ = 0;
  std::size_t filled_ = 0;
  std::int64_t seen_ = 0;
  std::int64_t held_ = 0;
};

Options ReadOptions(const config::Section& s, double default_min_score) {
  Options o;
  o.likelihood = s.GetBool("likelihood");
  o.likelihood_window = static_cast<std::size_t>(s.GetInt("likelihood_window"));
  o.likelihood_alpha = 1.0 / static_cast<double>(s.GetInt("likelihood_memory"));
  o.likelihood_learning = s.GetInt("likelihood_learning");
  o.range_tolerance = s.GetFloat("range_tolerance");
  o.hold = s.GetInt("hold");
  if (s.Has("hold_level")) {
    o.hold_level = s.GetFloat("hold_level");
  } else if (const config::Node* n = s.node() ? s.node()->Find("min_score") : nullptr;
             n != nullptr && n->is_number()) {
    o.hold_level = n->as_double();  // the engine-owned threshold of the same table
  } else {
    o.hold_level = default_min_score;
  }
  return o;
}

}  // namespace

DetectorType WithPostprocess(const DetectorType& base) {
  static std::deque<config::TableSpec> specs;  // stable addresses for the program's life
  config::TableSpec& spec = specs.emplace_back(*base.spec);
  // A detector may declare a post-processing key itself to give it its own default.
  for (auto& k : PostprocessKeys()) {
    if (base.spec->Find(k.name) == nullptr) spec.keys.push_back(std::move(k));
  }
  DetectorType type = base;
  type.spec = &spec;
  type.create = [create = base.create, min_score = base.default_min_score](
                    const config::Section& s, std::size_t arity) -> std::unique_ptr<Detector> {
    std::unique_ptr<Detector> inner = create(s, arity);
    if (inner == nullptr) return inner;
    const Options o = ReadOptions(s, min_score);
    if (!o.any()) return inner;
    return std::make_unique<PostprocessDetector>(std::move(inner), o, arity);
  };
  return type;
}

}  // namespace pn::rules::detail
