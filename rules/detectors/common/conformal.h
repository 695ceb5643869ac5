// ConformalRanker: turns a detector's nonconformity (larger = more unusual) into a conformal
// score, the fraction of the last `size` nonconformities that were smaller. On data like what
// was seen the score is uniform on 0..1, whatever the series' unit or scale, so one threshold
// serves every series (Vovk et al., "Algorithmic learning in a random world", 2005).
// Bounded memory: one float per remembered nonconformity. Not thread-safe.
#pragma once

#include <cstddef>
#include <vector>

namespace pn::rules::detail {

class ConformalRanker {
 public:
  // REQUIRES: size > 0.
  explicit ConformalRanker(std::size_t size) : ring_(size) {}

  // Ranks `ncm` against the remembered values (0 when there are none yet), then remembers it.
  double Rank(double ncm) {
    const std::size_t m = count_ < ring_.size() ? count_ : ring_.size();
    std::size_t below = 0;
    const float v = static_cast<float>(ncm);
    for (std::size_t i = 0; i < m; ++i) below += ring_[i] < v ? 1 : 0;
    ring_[count_ % ring_.size()] = v;
    ++count_;
    return m == 0 ? 0.0 : static_cast<double>(below) / static_cast<double>(m);
  }

  std::size_t bytes() const { return ring_.capacity() * sizeof(float); }

 private:
  std::vector<float> ring_;
  std::size_t count_ = 0;
};

}  // namespace pn::rules::detail
