// Rolling z-score: how far a sample lies from the mean of the previous `window` samples, in
// standard deviations of that window. Catches spikes and steps against a recent baseline.
#pragma once

#include "rules/detectors/detector.h"

namespace pn::rules {

// The registry entry for `type = "zscore"`.
const DetectorType& ZScoreDetectorType();

}  // namespace pn::rules
