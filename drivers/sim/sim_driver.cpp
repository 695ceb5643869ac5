#include "drivers/sim/sim_driver.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "drivers/deliver.h"
#include "gateway/connect/sleep.h"

namespace pn::sim {

namespace {

using config::KeySpec;
using config::TableSpec;
using config::ValueType;

std::vector<std::string> AllSeriesNames() {
  std::vector<std::string> names;
  for (Series s : kAllSeries) names.emplace_back(SeriesName(s));
  return names;
}

const TableSpec& FaultSpec() {
  static const TableSpec spec = [] {
    TableSpec t;
    t.description = "A fault injected into one series of one device.";
    auto key = [&t](std::string name, ValueType type, config::DefaultValue def,
                    std::string desc) -> KeySpec& {
      return config::AddKey(t, std::move(name), type, std::move(def), std::move(desc));
    };
    KeySpec& device = key("device", ValueType::kString, {},
                          "The device the fault affects, one of the generated names such as "
                          "\"pump-2\".");
    device.required = true;
    device.example = "\"pump-2\"";
    KeySpec& series = key("series", ValueType::kString, {}, "The series the fault affects.");
    series.required = true;
    series.choices = AllSeriesNames();
    series.example = "\"vibration_rms\"";
    KeySpec& kind = key("kind", ValueType::kString, {},
                        "What the fault does: spike offsets one sample by magnitude, step "
                        "offsets every sample in the window, drift ramps the offset from 0 to "
                        "magnitude over the window, stuck repeats the window's first value, "
                        "dropout sends no readings in the window.");
    kind.required = true;
    kind.choices = {"spike", "step", "drift", "stuck", "dropout"};
    kind.example = "\"step\"";
    KeySpec& at = key("at_s", ValueType::kFloat, {},
                      "When the fault starts, in simulated seconds after the first sample.");
    at.required = true;
    at.min = 0.0;
    at.example = "3600.0";
    key("duration_s", ValueType::kFloat, 0.0,
        "How long the fault lasts, in simulated seconds; 0 means until the end of the run (a "
        "drift needs a duration). Ignored by spike.")
        .min = 0.0;
    key("magnitude", ValueType::kFloat, 0.0,
        "The offset added by spike, step and drift, in the series' unit (degC, mm/s, A, bar, "
        "m3/h). Ignored by stuck and dropout.");
    return t;
  }();
  return spec;
}

const TableSpec& BuildSpec() {
  static const TableSpec spec = [] {
    TableSpec t;
    t.description =
        "A simulated pumping station: pumps with temperature, vibration, current, pressure and "
        "flow, a daily load cycle, slow wear and injectable faults.";
    auto key = [&t](std::string name, ValueType type, config::DefaultValue def,
                    std::string desc) -> KeySpec& {
      return config::AddKey(t, std::move(name), type, std::move(def), std::move(desc));
    };
    key("seed", ValueType::kInt, std::int64_t{1},
        "The random seed. The same seed and settings give the same readings.");
    KeySpec& devices = key("devices", ValueType::kInt, std::int64_t{3},
                           "How many pumps to simulate, named <device_prefix>-1 .. "
                           "<device_prefix>-N.");
    devices.min = 1;
    devices.max = 100000;
    key("device_prefix", ValueType::kString, std::string("pump"),
        "The prefix of the generated device names.");
    key("series", ValueType::kStringList, AllSeriesNames(),
        "The series each pump reports, in this order. Known series: temperature (degC), "
        "vibration_rms (mm/s), current (A), pressure (bar), flow (m3/h).");
    KeySpec& interval = key("interval_ms", ValueType::kInt, std::int64_t{1000},
                            "Simulated time between two samples of a device, in milliseconds.");
    interval.min = 1;
    interval.max = 86400000;
    key("realtime", ValueType::kBool, true,
        "Whether to pace samples to the wall clock. When false, samples are generated as fast "
        "as the pipeline accepts them.");
    KeySpec& start = key("start_time_ms", ValueType::kInt, std::int64_t{0},
                         "The simulated time of the first sample, in epoch milliseconds UTC. 0 "
                         "means now in realtime mode and 1767225600000 (2026-01-01T00:00:00Z) "
                         "otherwise.");
    start.min = 0;
    KeySpec& max_samples =
        key("max_samples", ValueType::kInt, std::int64_t{0},
            "Stop producing after this many samples per device (ticks); 0 means never. "
            "Meant for tests and benchmarks.");
    max_samples.min = 0;
    KeySpec& stall = key("stall_after_samples", ValueType::kInt, std::int64_t{0},
                         "Fault injection for tests: after this many ticks the driver thread "
                         "hangs (no readings, no heartbeat) until a stop is requested, as a "
                         "driver stuck in a blocking call would. 0 means never.");
    stall.min = 0;
    KeySpec& noise = key("noise", ValueType::kFloat, 1.0,
                         "Scale factor of the Gaussian noise on every series; 0 gives smooth "
                         "curves.");
    noise.min = 0.0;
    noise.max = 100.0;
    KeySpec& degr = key("degradation_per_day", ValueType::kFloat, 0.02,
                        "How much vibration and the temperature rise grow per simulated day, as "
                        "a fraction of their values when new (0.02 is 2 % per day).");
    degr.min = 0.0;
    degr.max = 10.0;
    KeySpec& batch = key("batch", ValueType::kInt, std::int64_t{256},
                         "How many readings to hand to the pipeline at once when not in "
                         "realtime mode.");
    batch.min = 1;
    batch.max = 1000000;
    KeySpec& fault = key("fault", ValueType::kTableArray, {},
                         "Faults to inject, one [[drivers.NAME.fault]] table each.");
    fault.table = &FaultSpec();
    return t;
  }();
  return spec;
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Whether `name` is one of "<prefix>-1" .. "<prefix>-<devices>".
bool IsDeviceName(std::string_view name, std::string_view prefix, std::int64_t devices) {
  if (name.size() <= prefix.size() + 1 || name.substr(0, prefix.size()) != prefix ||
      name[prefix.size()] != '-') {
    return false;
  }
  std::string_view num = name.substr(prefix.size() + 1);
  if (num.size() > 9 || num[0] == '0') return false;
  std::int64_t n = 0;
  for (char c : num) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  return n >= 1 && n <= devices;
}

std::int64_t SecondsToNs(double s) { return std::llround(s * 1e9); }

}  // namespace

const config::TableSpec& Spec() { return BuildSpec(); }

void Check(const config::Section& section, config::ErrorList& errors) {
  const std::string prefix = section.GetString("device_prefix");
  const std::int64_t devices = section.GetInt("devices");
  if (prefix.empty()) section.AddError(errors, "device_prefix", "must not be empty");

  std::vector<std::string> series = section.GetStringList("series");
  if (section.Has("series")) {
    const config::Node* list = section.node()->Find("series");
    if (list->array.empty()) section.AddError(errors, "series", "must name at least one series");
    for (std::size_t i = 0; i < list->array.size(); ++i) {
      const config::Node& e = list->array[i];
      std::string path = section.PathOf("series") + "[" + std::to_string(i) + "]";
      if (!ParseSeries(e.str)) {
        std::string known;
        for (Series s : kAllSeries) known += (known.empty() ? "" : ", ") + Quote(SeriesName(s));
        errors.Add(section.file(), e.pos, path,
                   Quote(e.str) + " is not a known series: expected one of " + known);
      } else if (std::find(series.begin(), series.begin() + static_cast<std::ptrdiff_t>(i),
                           e.str) != series.begin() + static_cast<std::ptrdiff_t>(i)) {
        errors.Add(section.file(), e.pos, path, Quote(e.str) + " is listed twice");
      }
    }
  }

  for (const config::Section& f : section.GetTableArray("fault")) {
    const std::string device = f.GetString("device");
    if (f.Has("device") && !IsDeviceName(device, prefix, devices)) {
      std::string range = Quote(prefix + "-1");
      if (devices > 1) range += " .. " + Quote(prefix + "-" + std::to_string(devices));
      f.AddError(errors, "device",
                 Quote(device) + " is not a device of this driver (" + range + ")");
    }
    const std::string s = f.GetString("series");
    if (f.Has("series") && ParseSeries(s) &&
        std::find(series.begin(), series.end(), s) == series.end()) {
      f.AddError(errors, "series",
                 Quote(s) + " is not in " + section.PathOf("series") + " of this driver");
    }
    if (f.GetString("kind") == "drift" && f.GetFloat("duration_s") <= 0.0) {
      f.AddError(errors, f.Has("duration_s") ? "duration_s" : "kind",
                 "a drift fault needs duration_s > 0");
    }
  }
}

SimSettings SettingsFromSection(const config::Section& section) {
  SimSettings s;
  s.plant.seed = static_cast<std::uint64_t>(section.GetInt("seed"));
  s.plant.devices = static_cast<int>(section.GetInt("devices"));
  s.plant.device_prefix = section.GetString("device_prefix");
  s.plant.series.clear();
  for (const std::string& name : section.GetStringList("series")) {
    if (auto id = ParseSeries(name)) s.plant.series.push_back(*id);
  }
  s.plant.noise = section.GetFloat("noise");
  s.plant.degradation_per_day = section.GetFloat("degradation_per_day");
  for (const config::Section& f : section.GetTableArray("fault")) {
    Fault fault;
    fault.device = f.GetString("device");
    fault.series = ParseSeries(f.GetString("series")).value_or(Series::kTemperature);
    fault.kind = ParseFaultKind(f.GetString("kind")).value_or(FaultKind::kSpike);
    fault.at_ns = SecondsToNs(f.GetFloat("at_s"));
    fault.duration_ns = SecondsToNs(f.GetFloat("duration_s"));
    fault.magnitude = f.GetFloat("magnitude");
    s.plant.faults.push_back(std::move(fault));
  }
  s.interval_ms = section.GetInt("interval_ms");
  s.realtime = section.GetBool("realtime");
  s.start_time_ms = section.GetInt("start_time_ms");
  s.max_samples = section.GetInt("max_samples");
  s.stall_after_samples = section.GetInt("stall_after_samples");
  s.batch = static_cast<std::size_t>(section.GetInt("batch"));
  return s;
}

SimDriver::SimDriver(std::string name, SimSettings settings, Clock* clock)
    : name_(std::move(name)), settings_(std::move(settings)), clock_(clock) {}

void SimDriver::Run(std::stop_token stop, ReadingSink& sink) {
  constexpr std::int64_t kNsPerMs = 1'000'000;
  PlantOptions options = settings_.plant;
  std::int64_t start_ms = settings_.start_time_ms;
  if (start_ms == 0) start_ms = settings_.realtime ? clock_->NowNs() / kNsPerMs : kDefaultStartMs;
  options.start_ns = start_ms * kNsPerMs;
  Plant plant(options);
  const std::int64_t interval_ns = settings_.interval_ms * kNsPerMs;
  const std::int64_t max = settings_.max_samples;
  const std::size_t batch_size = std::max<std::size_t>(settings_.batch, 1);

  spdlog::info("driver {}: sim with {} devices x {} series every {} ms ({}), seed {}", name_,
               options.devices, options.series.size(), settings_.interval_ms,
               settings_.realtime ? "realtime" : "as fast as possible", options.seed);

  std::vector<Reading> batch;
  batch.reserve(batch_size + static_cast<std::size_t>(options.devices) * options.series.size());
  stats_.heartbeat_ns.store(clock_->MonotonicNs(), std::memory_order_relaxed);

  // stall_after_samples: hang without heartbeats until a stop is requested (fault injection).
  const std::int64_t stall_after = settings_.stall_after_samples;
  auto stall_here = [&](std::int64_t k) {
    if (stall_after == 0 || k < stall_after) return false;
    DeliverBatch(sink, batch, stats_, *clock_);
    spdlog::warn("driver {}: stall_after_samples reached: hanging until stopped", name_);
    connect::SleepUntilStopped(stop);
    return true;
  };

  if (!settings_.realtime) {
    for (std::int64_t k = 0; max == 0 || k < max; ++k) {
      if (stop.stop_requested() || stall_here(k)) return;
      const std::size_t first = batch.size();
      plant.Step(options.start_ns + k * interval_ns, batch);
      // Simulated time, not the gateway clock's: never marked or corrected by the clock watch.
      for (std::size_t i = first; i < batch.size(); ++i) batch[i].source_time = true;
      if (batch.size() >= batch_size && !DeliverBatch(sink, batch, stats_, *clock_)) return;
    }
    DeliverBatch(sink, batch, stats_, *clock_);
    return;
  }

  // Realtime: tick k is due at (the clock's monotonic time at the start) + k * interval.
  const std::int64_t first = clock_->MonotonicNs();
  for (std::int64_t k = 0; max == 0 || k < max; ++k) {
    if (k > 0 && !connect::SleepUntil(stop, *clock_, first + k * interval_ns)) return;
    if (stop.stop_requested() || stall_here(k)) return;
    plant.Step(options.start_ns + k * interval_ns, batch);
    if (!DeliverBatch(sink, batch, stats_, *clock_)) return;
    stats_.heartbeat_ns.store(clock_->MonotonicNs(), std::memory_order_relaxed);
  }
}

DriverType DriverTypeEntry() {
  DriverType t;
  t.type = "sim";
  t.summary = "Simulated pumps with daily cycle, wear and injectable faults";
  t.spec = &Spec();
  t.check = [](const config::Section& s, config::ErrorList& e) { Check(s, e); };
  t.create = [](const config::Section& s,
                const DriverContext& ctx) -> Result<std::unique_ptr<Driver>> {
    return std::make_unique<SimDriver>(ctx.name, SettingsFromSection(s), ctx.clock);
  };
  return t;
}

}  // namespace pn::sim
