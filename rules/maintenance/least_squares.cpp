#include "rules/maintenance/least_squares.h"

#include <cmath>
#include <utility>

namespace pn::rules {

void NormalEquations::Add(std::span<const double> x, double y, double weight) {
  for (std::size_t i = 0; i < n_; ++i) {
    const double wi = weight * x[i];
    for (std::size_t j = 0; j < n_; ++j) ata_[i * n_ + j] += wi * x[j];
    aty_[i] += wi * y;
  }
}

std::optional<std::vector<double>> NormalEquations::Solve(double ridge) const {
  std::vector<double> a = ata_;
  double trace = 0.0;
  for (std::size_t i = 0; i < n_; ++i) trace += a[i * n_ + i];
  const double lambda = n_ > 0 ? ridge * trace / static_cast<double>(n_) : 0.0;
  for (std::size_t i = 0; i < n_; ++i) a[i * n_ + i] += lambda;
  return SolveLinearSystem(std::move(a), aty_);
}

std::optional<std::vector<double>> SolveLinearSystem(std::vector<double> a, std::vector<double> b) {
  const std::size_t n = b.size();
  if (a.size() != n * n) return std::nullopt;
  for (std::size_t col = 0; col < n; ++col) {
    std::size_t pivot = col;
    for (std::size_t r = col + 1; r < n; ++r) {
      if (std::fabs(a[r * n + col]) > std::fabs(a[pivot * n + col])) pivot = r;
    }
    if (!(std::fabs(a[pivot * n + col]) > 1e-300)) return std::nullopt;
    if (pivot != col) {
      for (std::size_t c = 0; c < n; ++c) std::swap(a[col * n + c], a[pivot * n + c]);
      std::swap(b[col], b[pivot]);
    }
    for (std::size_t r = col + 1; r < n; ++r) {
      const double f = a[r * n + col] / a[col * n + col];
      if (f == 0.0) continue;
      for (std::size_t c = col; c < n; ++c) a[r * n + c] -= f * a[col * n + c];
      b[r] -= f * b[col];
    }
  }
  std::vector<double> x(n, 0.0);
  for (std::size_t i = n; i-- > 0;) {
    double s = b[i];
    for (std::size_t c = i + 1; c < n; ++c) s -= a[i * n + c] * x[c];
    x[i] = s / a[i * n + i];
  }
  return x;
}

double Slope(std::span<const double> x, std::span<const double> y) {
  const std::size_t n = x.size();
  if (n < 2) return 0.0;
  double mx = 0.0, my = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0.0, sxx = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0.0 ? sxy / sxx : 0.0;
}

}  // namespace pn::rules
