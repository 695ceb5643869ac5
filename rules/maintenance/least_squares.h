// Small dense least squares for the health models (a few coefficients; no external library).
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace pn::rules {

// Accumulates the normal equations of y ~ x . beta for `n` coefficients (include a constant 1
// in x for an intercept), then solves them with a small ridge term for stability.
class NormalEquations {
 public:
  explicit NormalEquations(std::size_t n) : n_(n), ata_(n * n, 0.0), aty_(n, 0.0) {}
  // REQUIRES: x.size() == n.
  void Add(std::span<const double> x, double y, double weight = 1.0);
  // Solves (A'A + ridge * trace(A'A)/n * I) beta = A'y. Returns nullopt if singular.
  std::optional<std::vector<double>> Solve(double ridge = 1e-9) const;

 private:
  std::size_t n_;
  std::vector<double> ata_;
  std::vector<double> aty_;
};

// Solves the n x n system a x = b (row-major `a`) by Gaussian elimination with partial
// pivoting. Returns nullopt if the matrix is singular.
std::optional<std::vector<double>> SolveLinearSystem(std::vector<double> a, std::vector<double> b);

// Least-squares slope of y against x; 0 when x has no spread. REQUIRES: equal sizes.
double Slope(std::span<const double> x, std::span<const double> y);

}  // namespace pn::rules
