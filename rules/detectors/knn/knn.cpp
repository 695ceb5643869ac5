#include "rules/detectors/knn/knn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "rules/detectors/common/conformal.h"
#include "rules/detectors/common/shape_knn.h"

namespace pn::rules {
namespace {

using config::KeySpec;
using config::TableSpec;
using config::ValueType;

const TableSpec kSpec{
    "KNN conformal anomaly detection on shapes of the last `dim` samples.",
    {
        KeySpec{.name = "dim",
                .type = ValueType::kInt,
                .default_value = std::int64_t{10},
                .description = "Samples in a shape.",
                .min = 1,
                .max = 1000},
        KeySpec{.name = "k",
                .type = ValueType::kInt,
                .default_value = std::int64_t{5},
                .description = "Nearest shapes whose distances make the nonconformity.",
                .min = 1,
                .max = 1000},
        KeySpec{.name = "history",
                .type = ValueType::kInt,
                .default_value = std::int64_t{1000},
                .description = "Previous shapes searched for neighbours (time per sample grows "
                               "with history * dim).",
                .min = 2,
                .max = 100000},
        KeySpec{.name = "calibration",
                .type = ValueType::kInt,
                .default_value = std::int64_t{500},
                .description = "Previous nonconformities the current one is ranked against.",
                .min = 10,
                .max = 100000},
        KeySpec{.name = "warmup",
                .type = ValueType::kInt,
                .default_value = std::int64_t{200},
                .description = "Samples learned before the first score (at least 2 dim + k + 10).",
                .min = 1,
                .max = 100000000},
    }};

class KnnDetector final : public Detector {
 public:
  KnnDetector(std::size_t dim, std::size_t k, std::size_t history, std::size_t calibration,
              std::int64_t warmup)
      : dim_(dim),
        history_(history),
        shapes_(history + dim),
        best_(k),
        cal_(calibration),
        warmup_(std::max<std::int64_t>(warmup, static_cast<std::int64_t>(2 * dim + k + 10))) {}

  double Update(std::int64_t /*ts_ns*/, std::span<const double> values) override {
    shapes_.Push(values[0]);
    ++n_;
    if (shapes_.held() < 2 * dim_ + best_.size()) return std::numeric_limits<double>::quiet_NaN();
    const double score = cal_.Rank(shapes_.KnnNonconformity(dim_, history_, best_));
    return n_ > warmup_ ? score : std::numeric_limits<double>::quiet_NaN();
  }

  std::size_t state_bytes() const override {
    return sizeof(*this) + shapes_.bytes() + best_.capacity() * sizeof(double) + cal_.bytes();
  }

 private:
  std::size_t dim_;
  std::size_t history_;
  detail::ShapeHistory shapes_;
  std::vector<double> best_;
  detail::ConformalRanker cal_;
  std::int64_t warmup_;
  std::int64_t n_ = 0;
};

}  // namespace

const DetectorType& KnnDetectorType() {
  static const DetectorType type{
      .name = "knn",
      .summary = "KNN conformal anomaly score of the shape of the last `dim` samples.",
      .multivariate = false,
      .spec = &kSpec,
      .check =
          [](const config::Section& s, config::ErrorList& errors) {
            if (s.GetInt("k") >= s.GetInt("history")) {
              s.AddError(errors, "k", "must be less than history");
            }
          },
      .create = [](const config::Section& s, std::size_t) -> std::unique_ptr<Detector> {
        return std::make_unique<KnnDetector>(
            static_cast<std::size_t>(s.GetInt("dim")), static_cast<std::size_t>(s.GetInt("k")),
            static_cast<std::size_t>(s.GetInt("history")),
            static_cast<std::size_t>(s.GetInt("calibration")), s.GetInt("warmup"));
      }};
  return type;
}

}  // namespace pn::rules
