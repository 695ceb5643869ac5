#include "rules/maintenance/boosted_trees.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace pn::rules {

BoostedTrees BoostedTrees::Fit(std::span<const double> x, std::size_t cols,
                               std::span<const double> y, const BoostedTreesParams& params) {
  BoostedTrees m;
  m.cols_ = cols;
  m.depth_ = std::clamp(params.depth, 1, 16);
  const std::size_t rows = y.size();
  if (rows == 0 || cols == 0) return m;
  const std::size_t nodes = (std::size_t{1} << m.depth_) - 1;
  const std::size_t leaves = nodes + 1;

  // Bin edges: distinct quantiles of every feature below its largest value; bin(x) = number
  // of edges below x, so that a split at an edge e sends x <= e left.
  const std::size_t nb = static_cast<std::size_t>(std::clamp(params.bins, 2, 1024));
  std::vector<std::vector<double>> edges(cols);
  std::vector<std::uint16_t> bin(rows * cols);
  {
    std::vector<double> v(rows);
    for (std::size_t j = 0; j < cols; ++j) {
      for (std::size_t r = 0; r < rows; ++r) v[r] = x[r * cols + j];
      std::sort(v.begin(), v.end());
      for (std::size_t q = 1; q < nb; ++q) {
        const double e = v[q * (rows - 1) / nb];
        if (e < v.back() && (edges[j].empty() || e > edges[j].back())) edges[j].push_back(e);
      }
      for (std::size_t r = 0; r < rows; ++r) {
        bin[r * cols + j] = static_cast<std::uint16_t>(
            std::lower_bound(edges[j].begin(), edges[j].end(), x[r * cols + j]) - edges[j].begin());
      }
    }
  }

  double mean = 0.0;
  for (double v : y) mean += v;
  m.base_ = mean / static_cast<double>(rows);
  std::vector<double> pred(rows, m.base_);
  std::vector<double> resid(rows);
  std::vector<std::size_t> node(rows);  // the node (then leaf) each row sits in
  std::vector<double> cnt, sum;
  for (int round = 0; round < params.rounds; ++round) {
    for (std::size_t r = 0; r < rows; ++r) resid[r] = y[r] - pred[r];
    std::fill(node.begin(), node.end(), 0);
    const std::size_t tree_nodes = m.feature_.size();
    m.feature_.resize(tree_nodes + nodes, 0);
    m.threshold_.resize(tree_nodes + nodes, std::numeric_limits<double>::infinity());
    // Level by level: one pass over the rows fills every node's histograms of that level.
    for (int level = 0; level < m.depth_; ++level) {
      const std::size_t first = (std::size_t{1} << level) - 1;
      const std::size_t width = std::size_t{1} << level;
      cnt.assign(width * cols * (nb + 1), 0.0);
      sum.assign(width * cols * (nb + 1), 0.0);
      for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t off = (node[r] - first) * cols * (nb + 1);
        for (std::size_t j = 0; j < cols; ++j) {
          const std::size_t k = off + j * (nb + 1) + bin[r * cols + j];
          cnt[k] += 1.0;
          sum[k] += resid[r];
        }
      }
      for (std::size_t w = 0; w < width; ++w) {
        double best_gain = 0.0;
        std::size_t best_j = 0, best_b = 0;
        bool found = false;
        for (std::size_t j = 0; j < cols; ++j) {
          const double* c = &cnt[(w * cols + j) * (nb + 1)];
          const double* s = &sum[(w * cols + j) * (nb + 1)];
          double n_all = 0.0, s_all = 0.0;
          for (std::size_t b = 0; b <= edges[j].size(); ++b) {
            n_all += c[b];
            s_all += s[b];
          }
          if (n_all < 2.0) continue;
          const double parent = s_all * s_all / n_all;
          double n_left = 0.0, s_left = 0.0;
          // Left: bins 0..b, i.e. x <= edges[j][b].
          for (std::size_t b = 0; b < edges[j].size(); ++b) {
            n_left += c[b];
            s_left += s[b];
            const double n_right = n_all - n_left;
            if (n_left < 1.0 || n_right < 1.0) continue;
            const double s_right = s_all - s_left;
            const double gain = s_left * s_left / n_left + s_right * s_right / n_right - parent;
            if (gain > best_gain) {
              best_gain = gain;
              best_j = j;
              best_b = b;
              found = true;
            }
          }
        }
        if (found) {
          m.feature_[tree_nodes + first + w] = best_j;
          m.threshold_[tree_nodes + first + w] = edges[best_j][best_b];
        }
      }
      for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t i = node[r];
        const std::size_t j = m.feature_[tree_nodes + i];
        const bool left = x[r * cols + j] <= m.threshold_[tree_nodes + i];
        node[r] = 2 * i + (left ? 1 : 2);
      }
    }
    // Leaves: the mean residual of their rows, shrunk by the rate.
    std::vector<double> lc(leaves, 0.0), ls(leaves, 0.0);
    for (std::size_t r = 0; r < rows; ++r) {
      lc[node[r] - nodes] += 1.0;
      ls[node[r] - nodes] += resid[r];
    }
    for (std::size_t l = 0; l < leaves; ++l) {
      m.leaf_.push_back(lc[l] > 0.0 ? params.rate * ls[l] / lc[l] : 0.0);
    }
    const std::size_t leaf0 = m.leaf_.size() - leaves;
    for (std::size_t r = 0; r < rows; ++r) pred[r] += m.leaf_[leaf0 + node[r] - nodes];
  }
  return m;
}

double BoostedTrees::Predict(std::span<const double> x) const {
  double out = base_;
  const std::size_t nodes = (std::size_t{1} << depth_) - 1;
  const std::size_t t_count = trees();
  for (std::size_t t = 0; t < t_count; ++t) {
    const std::size_t* f = &feature_[t * nodes];
    const double* th = &threshold_[t * nodes];
    std::size_t i = 0;
    while (i < nodes) i = 2 * i + (x[f[i]] <= th[i] ? 1 : 2);
    out += leaf_[t * (nodes + 1) + i - nodes];
  }
  return out;
}

}  // namespace pn::rules
