#include "drivers/sim/plant.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace pn::sim {

namespace {

constexpr std::int64_t kNsPerHour = 3'600'000'000'000;
constexpr std::int64_t kNsPerDay = 24 * kNsPerHour;

// Noise standard deviation per series at noise = 1, in the series' unit.
constexpr std::array<double, kSeriesCount> kNoiseStd = {0.15, 0.04, 0.25, 0.02, 0.8};

std::uint64_t SplitMix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) with 53 random bits.
double Uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::size_t Index(Series s) { return static_cast<std::size_t>(s); }

}  // namespace

std::string_view SeriesName(Series s) {
  switch (s) {
    case Series::kTemperature:
      return "temperature";
    case Series::kVibrationRms:
      return "vibration_rms";
    case Series::kCurrent:
      return "current";
    case Series::kPressure:
      return "pressure";
    case Series::kFlow:
      return "flow";
  }
  return "temperature";
}

std::string_view SeriesUnit(Series s) {
  switch (s) {
    case Series::kTemperature:
      return "degC";
    case Series::kVibrationRms:
      return "mm/s";
    case Series::kCurrent:
      return "A";
    case Series::kPressure:
      return "bar";
    case Series::kFlow:
      return "m3/h";
  }
  return "";
}

std::optional<Series> ParseSeries(std::string_view name) {
  for (Series s : kAllSeries) {
    if (SeriesName(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view FaultKindName(FaultKind k) {
  switch (k) {
    case FaultKind::kSpike:
      return "spike";
    case FaultKind::kStep:
      return "step";
    case FaultKind::kDrift:
      return "drift";
    case FaultKind::kStuck:
      return "stuck";
    case FaultKind::kDropout:
      return "dropout";
  }
  return "spike";
}

std::optional<FaultKind> ParseFaultKind(std::string_view name) {
  for (FaultKind k : {FaultKind::kSpike, FaultKind::kStep, FaultKind::kDrift, FaultKind::kStuck,
                      FaultKind::kDropout}) {
    if (FaultKindName(k) == name) return k;
  }
  return std::nullopt;
}

Plant::Plant(const PlantOptions& options) : options_(options) {
  const int n = std::max(options_.devices, 1);
  device_names_.reserve(static_cast<std::size_t>(n));
  devices_.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    device_names_.push_back(options_.device_prefix + "-" + std::to_string(i + 1));
    Device& d = devices_[static_cast<std::size_t>(i)];
    d.rng.seed(
        SplitMix64(options_.seed ^ (0xD1B54A32D192ED03ULL * static_cast<std::uint64_t>(i + 1))));
    // Each pump is a slightly different machine; the draws happen in a fixed order.
    d.flow_nominal = 120.0 * (0.9 + 0.2 * Uniform(d.rng));
    d.current_idle = 8.0 * (0.9 + 0.2 * Uniform(d.rng));
    d.current_per_load = 32.0 * (0.9 + 0.2 * Uniform(d.rng));
    d.pressure_shutoff = 6.5 * (0.95 + 0.1 * Uniform(d.rng));
    d.temp_rise = 30.0 * (0.9 + 0.2 * Uniform(d.rng));
    d.vib_base = 1.8 * (0.8 + 0.4 * Uniform(d.rng));
    d.load_base = 0.6 + 0.15 * Uniform(d.rng);
    d.phase_h = 2.0 * (Uniform(d.rng) - 0.5);
  }
  for (const Fault& f : options_.faults) {
    auto it = std::find(device_names_.begin(), device_names_.end(), f.device);
    if (it == device_names_.end()) continue;
    if (std::find(options_.series.begin(), options_.series.end(), f.series) ==
        options_.series.end()) {
      continue;
    }
    ActiveFault af{};
    af.kind = f.kind;
    af.from_ns = options_.start_ns + f.at_ns;
    af.to_ns =
        f.duration_ns > 0 ? af.from_ns + f.duration_ns : std::numeric_limits<std::int64_t>::max();
    af.magnitude = f.magnitude;
    faults_.push_back(af);
    devices_[static_cast<std::size_t>(it - device_names_.begin())]
        .faults[Index(f.series)]
        .push_back(faults_.size() - 1);
  }
}

double Plant::Normal(Device& d) {
  if (d.has_spare) {
    d.has_spare = false;
    return d.spare_normal;
  }
  // Box-Muller; u1 in (0, 1] so the log is finite.
  const double u1 = (static_cast<double>(d.rng() >> 11) + 1.0) * 0x1.0p-53;
  const double u2 = Uniform(d.rng);
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * std::numbers::pi * u2;
  d.spare_normal = r * std::sin(theta);
  d.has_spare = true;
  return r * std::cos(theta);
}

bool Plant::ApplyFaults(Device& d, Series s, std::int64_t ts_ns, double& value) {
  bool keep = true;
  for (std::size_t idx : d.faults[Index(s)]) {
    ActiveFault& f = faults_[idx];
    if (f.kind == FaultKind::kSpike) {
      if (!f.spike_done && ts_ns >= f.from_ns) {
        value += f.magnitude;
        f.spike_done = true;
      }
      continue;
    }
    if (ts_ns < f.from_ns || ts_ns >= f.to_ns) continue;
    switch (f.kind) {
      case FaultKind::kStep:
        value += f.magnitude;
        break;
      case FaultKind::kDrift:
        value += f.magnitude * static_cast<double>(ts_ns - f.from_ns) /
                 static_cast<double>(f.to_ns - f.from_ns);
        break;
      case FaultKind::kStuck:
        if (!f.stuck_set) {
          f.stuck_value = value;
          f.stuck_set = true;
        }
        value = f.stuck_value;
        break;
      case FaultKind::kDropout:
        keep = false;
        break;
      case FaultKind::kSpike:
        break;
    }
  }
  return keep;
}

void Plant::Step(std::int64_t ts_ns, std::vector<Reading>& out) {
  // Time of day (UTC) and age since the start, shared by all devices.
  std::int64_t in_day = ts_ns % kNsPerDay;
  if (in_day < 0) in_day += kNsPerDay;
  const double hour = static_cast<double>(in_day) / static_cast<double>(kNsPerHour);
  const double days = static_cast<double>(std::max<std::int64_t>(ts_ns - options_.start_ns, 0)) /
                      static_cast<double>(kNsPerDay);
  const double age = 1.0 + options_.degradation_per_day * days;
  const double noise = options_.noise;

  for (std::size_t di = 0; di < devices_.size(); ++di) {
    Device& d = devices_[di];
    // Daily cycle: lowest at 02:00, highest at 14:00 (shifted by the pump's phase).
    const double cycle = std::sin(2.0 * std::numbers::pi * (hour - 8.0 - d.phase_h) / 24.0);
    const double load = std::clamp(d.load_base + 0.2 * cycle, 0.05, 1.0);
    const double ambient = 18.0 + 4.0 * cycle;
    for (Series s : options_.series) {
      double value = 0.0;
      switch (s) {
        case Series::kTemperature:
          value = ambient + d.temp_rise * (0.3 + 0.7 * load) * age;
          break;
        case Series::kVibrationRms:
          value = d.vib_base * (0.85 + 0.3 * load) * age;
          break;
        case Series::kCurrent:
          value = d.current_idle + d.current_per_load * load;
          break;
        case Series::kPressure:
          value = d.pressure_shutoff * (1.0 - 0.35 * load * load);
          break;
        case Series::kFlow:
          value = d.flow_nominal * load;
          break;
      }
      // Always draw, so neither the noise scale nor faults change the random stream.
      value += Normal(d) * kNoiseStd[Index(s)] * noise;
      if (!d.faults[Index(s)].empty() && !ApplyFaults(d, s, ts_ns, value)) continue;
      Reading& r = out.emplace_back();
      r.device = device_names_[di];
      r.series = SeriesName(s);
      r.value = value;
      r.unit = SeriesUnit(s);
      r.quality = Quality::kGood;
      r.ts_ns = ts_ns;
    }
  }
}

}  // namespace pn::sim
