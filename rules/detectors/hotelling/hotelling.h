// Multivariate detector over several series of one device: PCA on a healthy baseline learned
// from the first `baseline` samples, then per sample Hotelling's T-squared (the distance within
// the principal subspace, in its own variances) and the squared prediction error Q (SPE, the
// distance off that subspace: broken correlations between sensors). The correlation matrix is
// shrunk towards the identity, so the baseline may be short or nearly collinear.
//
// Both statistics are mapped to standard-normal z-values (Wilson-Hilferty for T-squared on its
// chi-squared(k) law, Jackson-Mudholkar for Q), optionally averaged exponentially over
// `smoothing` samples, and the score is the normal probability of the larger one.
//
// Optionally the baseline follows the machine: an exponentially weighted update of its mean and
// covariance by samples scoring below `adapt_level` (frozen while flagged), re-learning from the
// last `rebaseline_window` samples after `rebaseline_after` flagged samples whose state is stable,
// and a robust (median/MAD, one-step reweighted) fit that drops gross outliers (`trim_level`).
// Memory O(d^2) for d series (+ d x rebaseline_window when re-baselining); O(d^2) time per
// sample, O(d^3) every 10 adaptive updates. Deterministic; no clock reads.
#pragma once

#include "rules/detectors/detector.h"

namespace pn::rules {

// The registry entry for `type = "hotelling"`.
const DetectorType& HotellingDetectorType();

}  // namespace pn::rules
