// The built-in `threshold` detector: score 1 when a value crosses a fixed limit, else 0.
//
//   [rule.detector]
//   type = "threshold"
//   above = 80.0   # anomalous when value > above
//   below = 5.0    # anomalous when value < below (one or both of above/below)
//
// It lives in the engine (not in rules/detectors/) so that a gateway without the detector
// library still has static limits. Stateless, univariate, no warm-up.
#pragma once

#include "rules/detectors/detector.h"

namespace pn::rules {

// The type descriptor, shaped like the registry's entries.
const DetectorType& ThresholdDetectorType();

// Finds a detector type by name: the registry (DetectorTypes()) first, then the built-ins.
const DetectorType* FindAnyDetectorType(std::string_view name);

// Every known detector name, comma-separated, for "unknown detector" messages.
std::string KnownDetectorNames();

}  // namespace pn::rules
