// EWMA: the deviation of each sample from an exponentially weighted moving average, in units of
// an exponentially weighted standard deviation. O(1) state; adapts to slow level changes.
#pragma once

#include "rules/detectors/detector.h"

namespace pn::rules {

// The registry entry for `type = "ewma"`.
const DetectorType& EwmaDetectorType();

}  // namespace pn::rules
