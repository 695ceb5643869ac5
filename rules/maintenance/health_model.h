// HealthModel: predictive maintenance for one asset (device). Learns a healthy baseline from
// the first readings of chosen series, then maps each new sample to a health index (1 = like
// the baseline, 0 = failed) and a remaining-useful-life estimate in the time column's units.
//
// Contract: deterministic; bounded memory per asset (a shared, read-only reference library of
// run-to-failure trajectories may be loaded once at start-up and shared between assets);
// no clock reads. Not thread-safe: one engine thread owns each instance.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/schema.h"

namespace pn::rules {

struct HealthEstimate {
  double health = NAN;  // 0..1, NaN while learning the baseline
  double rul = NAN;     // remaining useful life in time-column units, NaN when unknown
  // Degradation trend: the health index's recent slope per time-column unit (negative while
  // degrading), NaN when unknown. Optional for the engine to emit.
  double trend = NAN;
};

class HealthModel {
 public:
  virtual ~HealthModel() = default;
  // One sample of the rule's series (values.size() == number of series, in rule order) at time
  // `t` (the reading's time in the time column's units: cycles, or seconds for date-times).
  virtual HealthEstimate Update(double t, std::span<const double> values) = 0;
};

struct HealthModelType {
  std::string name;  // `method = "..."` in [rule.health]
  std::string summary;
  const config::TableSpec* spec;  // keys of [rule.health], `method` excluded
  std::function<void(const config::Section&, config::ErrorList&)> check;
  // Loads shared resources (e.g. a reference library CSV, path relative to `base_dir`) and
  // returns a factory for per-asset models; errors are appended to `errors`.
  std::function<std::function<std::unique_ptr<HealthModel>()>(
      const config::Section&, std::size_t arity, const std::string& base_dir,
      config::ErrorList& errors)>
      prepare;
  // Optional; when set, engines should call it instead of `prepare`. The same, but given the
  // rule's series names in rule order (series.size() is the arity), so a reference library's
  // columns can be matched to the rule's series by name.
  std::function<std::function<std::unique_ptr<HealthModel>()>(
      const config::Section&, const std::vector<std::string>& series, const std::string& base_dir,
      config::ErrorList& errors)>
      prepare_named;
};

const std::vector<HealthModelType>& HealthModelTypes();
const HealthModelType* FindHealthModelType(std::string_view name);

}  // namespace pn::rules
