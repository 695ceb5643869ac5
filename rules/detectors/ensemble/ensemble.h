// Ensemble detector, the default for a rule whose [rule.detector] names no type: three
// complementary streaming detectors, each turned into a conformal score by ranking its
// nonconformity against its own recent history, fused by taking the largest:
//   shape    KNN-CAD (Burnaev & Ishimtsev 2016): distance of the shape of the last `dim`
//            samples to its k nearest earlier shapes (unusual patterns, missing peaks);
//   context  distance to the shapes at the same time of day on earlier days (the daily cycle
//            learned from the sampling interval): a shape normal at 3 a.m. is not at noon;
//   shift    the last few samples against the reference before them (level and spread).
// A new extreme beyond `range_tolerance` of the range seen scores 1, and `hold` samples after an
// anomaly score 0 (the shared post-processing, with defaults of its own here).
// Scale-free: nothing is set per series. Bounded memory (see README.md; <= 64 KB);
// O((history + 3 days' matches) * dim) per sample.
#pragma once

#include "rules/detectors/detector.h"

namespace pn::rules {

// The registry entry for `type = "ensemble"`.
const DetectorType& EnsembleDetectorType();

}  // namespace pn::rules
