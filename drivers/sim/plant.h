// Plant: a deterministic model of a small pumping station, the data source of the sim driver.
//
// Each device is a centrifugal pump driven by an electric motor. Per device and per tick the plant
// produces one Reading for each enabled series:
//   temperature    degC   motor winding temperature: ambient + load-dependent rise
//   vibration_rms  mm/s   bearing vibration velocity (ISO 10816 "good" zone when new)
//   current        A      motor current: idle current + load share
//   pressure       bar    discharge pressure: falls with flow along the pump curve
//   flow           m3/h   delivered flow, proportional to load
// Load follows a daily cycle (a sinusoid over 24 h of simulated UTC time, lowest at 02:00 and
// highest at 14:00), so flow and current rise and fall together while pressure moves against
// them. Vibration and temperature rise above their new-machine values by `degradation_per_day`
// (a fraction) per simulated day since the start. Every value carries Gaussian noise from a
// per-device std::mt19937_64 with our own Box-Muller transform (no implementation-defined
// distributions), and faults can be injected per device and series (see FaultKind).
//
// Determinism: the output depends only on the options and on the sequence of Step() timestamps.
// The same options give bit-identical readings on one platform (libm's log/cos/sin may differ in
// the last bit between platforms). Faults never change the random stream, so a plant with faults
// equals the same plant without them outside the fault windows.
//
// Thread-safety: none; a Plant is used by one thread (the sim driver's).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.h"

namespace pn::sim {

enum class Series : std::uint8_t { kTemperature, kVibrationRms, kCurrent, kPressure, kFlow };
inline constexpr std::size_t kSeriesCount = 5;
inline constexpr std::array<Series, kSeriesCount> kAllSeries = {
    Series::kTemperature, Series::kVibrationRms, Series::kCurrent, Series::kPressure,
    Series::kFlow};

std::string_view SeriesName(Series s);  // "temperature", "vibration_rms", ...
std::string_view SeriesUnit(Series s);  // "degC", "mm/s", "A", "bar", "m3/h"
std::optional<Series> ParseSeries(std::string_view name);

// What a fault does to one series of one device, from `at` (relative to the plant's start) for
// `duration` (0 = until the end of the run; a drift needs a duration > 0):
enum class FaultKind : std::uint8_t {
  kSpike,    // the first sample at or after `at` is offset by `magnitude`; duration is ignored
  kStep,     // every sample in the window is offset by `magnitude`
  kDrift,    // offset ramps linearly from 0 at `at` to `magnitude` at the end of the window
  kStuck,    // every sample in the window repeats the window's first value
  kDropout,  // no readings of the series in the window
};

std::string_view FaultKindName(FaultKind k);  // "spike", "step", "drift", "stuck", "dropout"
std::optional<FaultKind> ParseFaultKind(std::string_view name);

struct Fault {
  std::string device;  // a device name, e.g. "pump-2"
  Series series = Series::kTemperature;
  FaultKind kind = FaultKind::kSpike;
  std::int64_t at_ns = 0;        // offset from PlantOptions::start_ns
  std::int64_t duration_ns = 0;  // 0: until the end
  double magnitude = 0.0;        // in the series' unit; ignored by stuck and dropout
};

struct PlantOptions {
  std::uint64_t seed = 1;
  int devices = 3;  // named "<device_prefix>-1" .. "<device_prefix>-<devices>"
  std::string device_prefix = "pump";
  std::vector<Series> series = {kAllSeries.begin(), kAllSeries.end()};  // order of the output
  double noise = 1.0;                 // scale of every series' noise; 0 gives a smooth plant
  double degradation_per_day = 0.02;  // fractional rise of vibration and temperature per day
  std::int64_t start_ns = 0;          // simulated start, epoch ns UTC (faults and ageing count
                                      // from here)
  std::vector<Fault> faults;  // faults naming an unknown device or a disabled series are ignored
};

class Plant {
 public:
  // REQUIRES: options.devices >= 1.
  explicit Plant(const PlantOptions& options);

  // Appends one reading per device per enabled series (minus dropouts) at simulated time ts_ns,
  // device by device, series in options order. REQUIRES: ts_ns does not decrease between calls.
  void Step(std::int64_t ts_ns, std::vector<Reading>& out);

  const std::vector<std::string>& device_names() const { return device_names_; }
  const PlantOptions& options() const { return options_; }

 private:
  struct ActiveFault {
    FaultKind kind;
    std::int64_t from_ns;  // absolute
    std::int64_t to_ns;    // absolute, exclusive; INT64_MAX when open-ended
    double magnitude;
    bool spike_done = false;
    bool stuck_set = false;
    double stuck_value = 0.0;
  };
  struct Device {
    std::mt19937_64 rng;
    double spare_normal = 0.0;
    bool has_spare = false;
    // Per-device variation of the nominal machine, drawn once from the seed.
    double flow_nominal = 0.0;      // m3/h at full load
    double current_idle = 0.0;      // A
    double current_per_load = 0.0;  // A at full load above idle
    double pressure_shutoff = 0.0;  // bar at zero flow
    double temp_rise = 0.0;         // degC above ambient at full load
    double vib_base = 0.0;          // mm/s when new
    double load_base = 0.0;         // mean load, 0..1
    double phase_h = 0.0;           // shift of the daily cycle, hours
    // Fault indices into faults_, per series.
    std::array<std::vector<std::size_t>, kSeriesCount> faults;
  };

  double Normal(Device& d);
  // Applies the faults of one series; returns false when the reading is dropped.
  bool ApplyFaults(Device& d, Series s, std::int64_t ts_ns, double& value);

  PlantOptions options_;
  std::vector<std::string> device_names_;
  std::vector<Device> devices_;
  std::vector<ActiveFault> faults_;
};

}  // namespace pn::sim
