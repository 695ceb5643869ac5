#include "rules/detectors/knn/knn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

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
        k_(k),
        cap_(history + dim),
        values_(2 * cap_),
        cal_(calibration),
        best_(k),
        warmup_(std::max<std::int64_t>(warmup, static_cast<std::int64_t>(2 * dim + k + 10))) {}

  double Update(std::int64_t /*ts_ns*/, std::span<const double> values) override {
    // Mirrored ring: values_[p] == values_[p + cap_], so every shape is contiguous.
    values_[head_] = values[0];
    values_[head_ + cap_] = values[0];
    head_ = (head_ + 1) % cap_;
    ++n_;
    double score = std::numeric_limits<double>::quiet_NaN();
    const std::size_t have = static_cast<std::size_t>(std::min<std::int64_t>(n_, cap_));
    if (have < 2 * dim_ + k_) return score;
    const std::size_t shapes = have - dim_;  // previous complete shapes
    // Shapes overlapping the current one (j < dim) are trivial matches of a smooth series:
    // they would make the score measure the local slope, not how usual the shape is.
    // The current shape ends at head_ - 1: it starts at head_ - dim_ (mod cap_).
    const double* cur = &values_[(head_ + cap_ - dim_) % cap_];
    std::fill(best_.begin(), best_.end(), std::numeric_limits<double>::infinity());
    for (std::size_t j = dim_; j <= shapes; ++j) {
      const double* past = &values_[(head_ + cap_ - dim_ - j) % cap_];
      double d = 0.0;
      for (std::size_t i = 0; i < dim_; ++i) {
        const double e = cur[i] - past[i];
        d += e * e;
      }
      if (d < best_[k_ - 1]) {  // insert into the sorted k best
        std::size_t p = k_ - 1;
        while (p > 0 && best_[p - 1] > d) {
          best_[p] = best_[p - 1];
          --p;
        }
        best_[p] = d;
      }
    }
    double ncm = 0.0;
    for (double d : best_) ncm += d;
    if (n_ > warmup_) {
      const std::size_t m = std::min(cal_count_, cal_.size());
      std::size_t below = 0;
      for (std::size_t i = 0; i < m; ++i) below += cal_[i] < ncm ? 1 : 0;
      score = static_cast<double>(below) / static_cast<double>(m);
    }
    cal_[cal_count_ % cal_.size()] = ncm;
    ++cal_count_;
    return score;
  }

  std::size_t state_bytes() const override {
    return sizeof(*this) +
           (values_.capacity() + cal_.capacity() + best_.capacity()) * sizeof(double);
  }

 private:
  std::size_t dim_;
  std::size_t k_;
  std::size_t cap_;
  std::vector<double> values_;
  std::vector<double> cal_;
  std::vector<double> best_;
  std::int64_t warmup_;
  std::size_t head_ = 0;
  std::int64_t n_ = 0;
  std::size_t cal_count_ = 0;
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
