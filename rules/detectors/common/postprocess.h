// Post-processing shared by every detector type: keys that the registry appends to each
// detector's own spec, and a wrapper detector that applies them to the raw score.
//
//   likelihood  Numenta's "anomaly likelihood" (Ahmad et al. 2017): the average of the last
//               `likelihood_window` raw scores is compared with the long-term distribution of
//               that average (exponentially weighted over `likelihood_memory` samples); the
//               score becomes the Gaussian probability that the recent average is not just
//               normal variation. Turns a noisy raw score into few, early detections.
//   range       A sample outside [min - t, max + t] of every sample seen so far (t =
//               `range_tolerance` times max - min) scores 1: a new extreme is anomalous.
//   hold        After a score >= `hold_level`, the next `hold` samples score 0, so one
//               anomaly is reported once, not once per sample.
// All default to off, so a detector's own score passes through unchanged.
#pragma once

#include "rules/detectors/detector.h"

namespace pn::rules::detail {

// `base` with the post-processing keys appended to its spec and its detectors wrapped.
// The returned type refers to a spec stored for the life of the program.
DetectorType WithPostprocess(const DetectorType& base);

}  // namespace pn::rules::detail
