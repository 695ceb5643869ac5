// Robust median/MAD: the deviation of each sample from the median of the previous `window`
// samples, in units of their scaled median absolute deviation. Unlike the z-score, a few
// outliers in the window do not inflate the baseline. Memory: 16 bytes a window sample.
#pragma once

#include "rules/detectors/detector.h"

namespace pn::rules {

// The registry entry for `type = "mad"`.
const DetectorType& MadDetectorType();

}  // namespace pn::rules
