// Two-sided CUSUM for slow drift: learns a baseline mean and standard deviation from the first
// `baseline` samples, then accumulates standardised deviations beyond a slack `k` in each
// direction. A shift of d standard deviations is signalled after about h / (d - k) samples,
// including shifts far too small for a z-score to see.
#pragma once

#include "rules/detectors/detector.h"

namespace pn::rules {

// The registry entry for `type = "cusum"`.
const DetectorType& CusumDetectorType();

}  // namespace pn::rules
