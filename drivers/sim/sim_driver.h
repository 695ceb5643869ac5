// The `sim` driver: a simulated pumping station (see plant.h and drivers/sim/README.md).
//
// Configured by [drivers.NAME] with type = "sim". In realtime mode it emits one sample per
// device per series every `interval_ms` of wall time, stamped with simulated time that starts at
// "now"; otherwise it generates as fast as the sink accepts (back-pressure through
// ReadingSink::Deliver), stamped from a fixed start, which makes runs reproducible.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "drivers/driver.h"
#include "drivers/sim/plant.h"

namespace pn::sim {

// The registry entry: type "sim", its spec, check and factory.
DriverType DriverTypeEntry();

// The keys of [drivers.NAME] for type "sim" (`type` and `enabled` excluded).
const config::TableSpec& Spec();

// Cross-key checks beyond the spec: series names, fault devices and series, drift durations.
// REQUIRES: `section` passed config::Validate against Spec().
void Check(const config::Section& section, config::ErrorList& errors);

// The default start of a non-realtime run: 2026-01-01T00:00:00Z.
inline constexpr std::int64_t kDefaultStartMs = 1767225600000;

struct SimSettings {
  PlantOptions plant;  // plant.start_ns is resolved at Run() when start_time_ms == 0
  std::int64_t interval_ms = 1000;
  bool realtime = true;
  std::int64_t start_time_ms = 0;        // 0: now (realtime) or kDefaultStartMs
  std::int64_t max_samples = 0;          // ticks; 0: unlimited
  std::int64_t stall_after_samples = 0;  // fault injection: hang after this many ticks; 0: never
  std::size_t batch = 256;
};

// Reads validated settings. REQUIRES: `section` passed Validate against Spec() and Check().
SimSettings SettingsFromSection(const config::Section& section);

// Thread-safety: Run() is called once, on one thread; stats() and name() are safe from any thread.
class SimDriver final : public Driver {
 public:
  SimDriver(std::string name, SimSettings settings, Clock* clock);

  const std::string& name() const override { return name_; }

  // Delivers readings until a stop is requested, the sink refuses them (shutdown), or
  // max_samples ticks have been delivered (then it returns at once). Returns within ~100 ms of
  // a stop request: realtime waits are interruptible and the fast loop checks every tick.
  // Each Deliver call carries at least `batch` readings (fewer for the last one, and in realtime
  // mode, where every tick is delivered at once).
  void Run(std::stop_token stop, ReadingSink& sink) override;

  const DriverStats& stats() const override { return stats_; }

 private:
  std::string name_;
  SimSettings settings_;
  Clock* clock_;
  DriverStats stats_;
};

}  // namespace pn::sim
