// ShapeHistory: the last samples of one series in a mirrored ring, and the KNN-CAD
// nonconformity of the newest shape (Burnaev & Ishimtsev 2016). Shared by `knn` and `ensemble`.
//
// A shape is the last `dim` samples. Its nonconformity is the sum of the squared distances to
// its k nearest earlier shapes among the last `history`, leaving out the shapes that overlap it
// (on a smooth series those are trivial matches that would measure the local slope, not how
// usual the shape is). Bounded memory: 2 doubles per held sample (the mirror keeps every run
// contiguous) plus k. O(history x dim) per nonconformity. Not thread-safe.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace pn::rules::detail {

class ShapeHistory {
 public:
  // REQUIRES: capacity >= 1.
  explicit ShapeHistory(std::size_t capacity) : cap_(capacity), values_(2 * capacity) {}

  void Push(double x) {
    values_[head_] = x;
    values_[head_ + cap_] = x;
    head_ = (head_ + 1) % cap_;
    if (held_ < cap_) ++held_;
  }

  std::size_t held() const { return held_; }
  std::size_t capacity() const { return cap_; }

  // The `len` samples that end `ago` samples before the newest (ago = 0: the newest last).
  // REQUIRES: ago + len <= held().
  const double* Run(std::size_t ago, std::size_t len) const {
    return &values_[(head_ + 2 * cap_ - ago - len) % cap_];
  }

  static double Distance(const double* a, const double* b, std::size_t dim) {
    double d = 0.0;
    for (std::size_t i = 0; i < dim; ++i) {
      const double e = a[i] - b[i];
      d += e * e;
    }
    return d;
  }

  // Sum of the k smallest squared distances of the newest `dim`-sample shape to the earlier,
  // non-overlapping shapes among the last `history`. `best` is scratch space of k entries.
  // REQUIRES: held() >= 2 * dim + k.
  double KnnNonconformity(std::size_t dim, std::size_t history, std::vector<double>& best) const {
    const std::size_t k = best.size();
    const std::size_t last = std::min(held_ - dim, history);
    const double* cur = Run(0, dim);
    std::fill(best.begin(), best.end(), std::numeric_limits<double>::infinity());
    for (std::size_t j = dim; j <= last; ++j) {
      const double d = Distance(cur, Run(j, dim), dim);
      if (d < best[k - 1]) {  // insert into the sorted k best
        std::size_t p = k - 1;
        while (p > 0 && best[p - 1] > d) {
          best[p] = best[p - 1];
          --p;
        }
        best[p] = d;
      }
    }
    double sum = 0.0;
    for (double d : best) sum += std::isfinite(d) ? d : 0.0;
    return sum;
  }

  // Re-lays the ring with a larger capacity, keeping the samples held.
  void Grow(std::size_t capacity) {
    if (capacity <= cap_) return;
    std::vector<double> v(2 * capacity);
    for (std::size_t i = 0; i < held_; ++i) {
      const double x = *Run(held_ - 1 - i, 1);
      v[i] = x;
      v[i + capacity] = x;
    }
    values_ = std::move(v);
    cap_ = capacity;
    head_ = held_ % cap_;
  }

  std::size_t bytes() const { return values_.capacity() * sizeof(double); }

 private:
  std::size_t cap_;
  std::vector<double> values_;
  std::size_t head_ = 0;
  std::size_t held_ = 0;
};

}  // namespace pn::rules::detail
