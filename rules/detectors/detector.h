// Detector: a streaming anomaly detector over one series (arity 1) or several series of one
// device sampled together (arity N, e.g. Hotelling T-squared).
//
// Contract: bounded memory per instance (independent of stream length); deterministic; no clock
// reads (time comes from ts_ns); non-finite inputs are never passed in (the engine filters them).
// Not thread-safe: one engine thread owns each instance.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/schema.h"

namespace pn::rules {

class Detector {
 public:
  virtual ~Detector() = default;
  // Feeds one sample (values.size() == arity) taken at ts_ns. Returns the anomaly score in
  // 0..1, or NaN while warming up. The engine emits an `anomaly` event when the score reaches
  // the rule's threshold.
  virtual double Update(std::int64_t ts_ns, std::span<const double> values) = 0;
  // Bytes of state held (for the <= 1 KB per series target of the O(1) detectors).
  virtual std::size_t state_bytes() const = 0;
};

struct DetectorType {
  std::string name;               // `type = "..."` in [rule.detector]
  std::string summary;            // one line for docs
  bool multivariate;              // takes several series of one device
  const config::TableSpec* spec;  // keys of [rule.detector], `type` excluded
  std::function<void(const config::Section&, config::ErrorList&)> check;  // may be empty
  // `arity` is the number of series the rule selects (1 for univariate).
  std::function<std::unique_ptr<Detector>(const config::Section&, std::size_t arity)> create;
  // The rule's min_score when [rule.detector] sets none.
  double default_min_score = 0.5;
};

// The detector of a [rule.detector] table that names no type.
inline constexpr std::string_view kDefaultDetector = "ensemble";

// Every detector compiled in (rules/detectors/registry.cpp lists them explicitly).
const std::vector<DetectorType>& DetectorTypes();
const DetectorType* FindDetectorType(std::string_view name);

}  // namespace pn::rules
