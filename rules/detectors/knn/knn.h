// KNN conformal anomaly detector (after Burnaev & Ishimtsev's KNN-CAD, NAB 2016): each sample
// closes a "shape", the vector of the last `dim` values. Its nonconformity is the sum of squared
// distances to its `k` nearest shapes among the previous `history` ones; the score is the
// fraction of the last `calibration` nonconformities that were smaller (a conformal p-value, so
// the score of normal data is uniform on 0..1 and min_score = 0.99 flags about 1% of it).
// Sees changes of shape (a missing daily peak, a flat segment, a new rhythm), not only of level.
// Bounded memory, 16 * (history + dim) + 4 * calibration bytes; O(history * dim) per sample.
#pragma once

#include "rules/detectors/detector.h"

namespace pn::rules {

// The registry entry for `type = "knn"`.
const DetectorType& KnnDetectorType();

}  // namespace pn::rules
