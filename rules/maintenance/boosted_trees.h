// Gradient-boosted regression trees (least squares), small and dependency-free, for the health
// models' regressions from a handful of features to a remaining useful life.
//
// Fit: every feature is cut into at most `bins` quantile bins once; each round fits a tree of
// `depth` levels to the residuals (every split the one that most reduces the squared error,
// searched over the bin edges of every feature), and adds its leaf means times `rate`
// (Friedman, *Greedy function approximation: a gradient boosting machine*, 2001). Deterministic.
//
// Thread-safety: an instance is immutable after Fit; Predict may be called from any thread.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace pn::rules {

struct BoostedTreesParams {
  int rounds = 200;   // trees
  int depth = 3;      // levels of each tree (2^depth leaves)
  double rate = 0.1;  // shrinkage of each tree's contribution
  int bins = 32;      // quantile bins per feature for the split search
};

class BoostedTrees {
 public:
  // Fits y ~ f(x) on `rows` rows of `cols` features (row-major `x`). REQUIRES: x.size() ==
  // rows * cols, y.size() == rows, rows >= 1, cols >= 1.
  static BoostedTrees Fit(std::span<const double> x, std::size_t cols, std::span<const double> y,
                          const BoostedTreesParams& params);

  // REQUIRES: x.size() == cols() of the fit.
  double Predict(std::span<const double> x) const;

  std::size_t cols() const { return cols_; }
  std::size_t trees() const { return depth_ > 0 ? leaf_.size() >> depth_ : 0; }

 private:
  std::size_t cols_ = 0;
  int depth_ = 0;
  double base_ = 0.0;
  // Per tree, its 2^depth - 1 internal nodes in breadth-first order (children of node i are
  // 2i+1 and 2i+2): a sample goes left when x[feature] <= threshold. A node that did not split
  // has threshold +inf. Then its 2^depth leaves' values (rate already applied).
  std::vector<std::size_t> feature_;
  std::vector<double> threshold_;
  std::vector<double> leaf_;
};

}  // namespace pn::rules
