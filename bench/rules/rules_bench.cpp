// rules_bench: throughput, per-series detector state and latency of the rules engine with a
// realistic rule set: validation + z-score + EWMA + alarm on every series.
//
//   rules_bench [--devices N] [--series N] [--readings N] [--latency-readings N] [--rate HZ]
//
// Throughput: readings fed back to back on one thread (readings/s).
// Latency: readings paced at --rate (default 100k/s); the time from a reading entering
// Engine::Process to its events being appended, p50/p99/max.
// Readings are synthetic: Gaussian-ish noise around a per-series level, with a spike every
// ~5000 readings per series so that anomaly, alarm and clear events are part of the load.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gateway/config/schema.h"
#include "rules/detectors/detector.h"
#include "rules/engine.h"

namespace {

constexpr const char* kRules = R"(
[[rule]]
name = "zscore"
[rule.validate]
min = -1000.0
max = 1000.0
max_rate_per_s = 100000.0
[rule.detector]
type = "zscore"
min_score = 0.999
[rule.alarm]
raise_after = 3
clear_after = 10
clear_below = 0.9

[[rule]]
name = "ewma"
[rule.validate]
min = -1000.0
max = 1000.0
[rule.detector]
type = "ewma"
min_score = 0.999
[rule.alarm]
raise_after = 3
clear_after = 10
clear_below = 0.9
)";

struct Rng {
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  double Uniform() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<double>(s >> 11) * (1.0 / 9007199254740992.0);
  }
  double Noise() { return Uniform() + Uniform() + Uniform() - 1.5; }
};

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One detector instance fed `n` readings of noise with a daily load cycle, sampled every
// `step_s` seconds, back to back on this thread: readings/s, and its state after the run.
struct DetectorCost {
  double readings_per_s = 0.0;
  std::size_t state_bytes = 0;
};

DetectorCost MeasureDetector(const char* type, int step_s, std::size_t n) {
  DetectorCost cost;
  const pn::rules::DetectorType* t = pn::rules::FindDetectorType(type);
  if (t == nullptr) return cost;
  auto doc = pn::config::ParseString("", "bench");
  if (!doc) return cost;
  pn::config::Section s(&doc->root, t->spec, "detector", "bench");
  auto d = t->create(s, 1);
  if (!d) return cost;
  Rng rng;
  std::vector<double> xs(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double hour = static_cast<double>((i * static_cast<std::size_t>(step_s)) % 86400) / 3600;
    xs[i] = (hour >= 8 && hour < 18 ? 20.0 : 10.0) + rng.Noise();
  }
  double sink = 0.0;
  const std::int64_t start = NowNs();
  for (std::size_t i = 0; i < n; ++i) {
    const double v[1] = {xs[i]};
    const double score = d->Update(static_cast<std::int64_t>(i) * step_s * 1'000'000'000, v);
    sink += score == score ? score : 0.0;
  }
  const double secs = static_cast<double>(NowNs() - start) / 1e9;
  cost.readings_per_s = static_cast<double>(n) / secs;
  cost.state_bytes = d->state_bytes() + (sink < 0 ? 1 : 0);  // keeps the loop's work
  return cost;
}

std::size_t StateBytes(const char* type) {
  const pn::rules::DetectorType* t = pn::rules::FindDetectorType(type);
  if (t == nullptr) return 0;
  auto doc = pn::config::ParseString("", "bench");
  if (!doc) return 0;
  pn::config::Section s(&doc->root, t->spec, "detector", "bench");
  auto d = t->create(s, 1);
  return d ? d->state_bytes() : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t devices = 100, series = 10, readings = 5'000'000, latency_readings = 300'000;
  double rate = 100'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    double v = std::atof(argv[i + 1]);
    if (a == "--devices") devices = static_cast<std::size_t>(v);
    if (a == "--series") series = static_cast<std::size_t>(v);
    if (a == "--readings") readings = static_cast<std::size_t>(v);
    if (a == "--latency-readings") latency_readings = static_cast<std::size_t>(v);
    if (a == "--rate") rate = v;
  }

  pn::config::ErrorList errors;
  auto engine = pn::rules::Engine::LoadString(kRules, "bench.toml", errors);
  if (!engine) {
    std::fprintf(stderr, "%s", errors.ToString().c_str());
    return 1;
  }
  std::vector<pn::Reading> rs;
  std::vector<double> level;
  for (std::size_t d = 0; d < devices; ++d) {
    for (std::size_t s = 0; s < series; ++s) {
      // (Built with +=: GCC 12 -O3 gives a -Wrestrict false positive on "lit" + string.)
      std::string device = "dev-", name = "s";
      device += std::to_string(d);
      name += std::to_string(s);
      rs.push_back({device, name, 0.0, "", pn::Quality::kGood, 0});
      level.push_back(10.0 * static_cast<double>(s));
    }
  }
  Rng rng;
  std::vector<pn::Event> events;
  events.reserve(1024);
  std::size_t n_events = 0;
  const std::int64_t t0 = 1'700'000'000'000'000'000;
  auto feed = [&](std::size_t i) {
    std::size_t k = i % rs.size();
    pn::Reading& r = rs[k];
    r.ts_ns = t0 + static_cast<std::int64_t>(i / rs.size()) * 1'000'000'000;
    double spike = (i / rs.size()) % 5000 >= 4990 ? 20.0 : 0.0;
    r.value = level[k] + rng.Noise() + spike;
    r.quality = pn::Quality::kGood;
    engine->Process(r, events);
    n_events += events.size();
    events.clear();
  };

  // Throughput.
  std::int64_t start = NowNs();
  for (std::size_t i = 0; i < readings; ++i) feed(i);
  double secs = static_cast<double>(NowNs() - start) / 1e9;
  std::printf("series: %zu (%zu devices x %zu), rules: %zu (validation + detector + alarm each)\n",
              rs.size(), devices, series, engine->rule_count());
  std::printf("throughput: %zu readings in %.3f s = %.2f M readings/s (%zu events)\n", readings,
              secs, static_cast<double>(readings) / secs / 1e6, n_events);
  std::printf("detector state per series: zscore %zu B, ewma %zu B\n", StateBytes("zscore"),
              StateBytes("ewma"));

  // Each univariate detector alone, with its defaults, on one core: 5-minute samples (the
  // ensemble matches shapes around the same time of day on up to 3 earlier days) and 1-second
  // samples (a day does not fit: the ensemble falls back to KNN over all earlier shapes).
  std::printf("detector alone, defaults, one core: readings/s and state per series\n");
  for (const char* type : {"zscore", "ewma", "cusum", "mad", "knn", "ensemble"}) {
    for (int step_s : {300, 1}) {
      const std::size_t n =
          std::string(type) == "knn" || std::string(type) == "ensemble" ? 200000 : 5000000;
      const DetectorCost c = MeasureDetector(type, step_s, n);
      std::printf("  %-8s every %3d s: %10.0f readings/s, %6zu B\n", type, step_s, c.readings_per_s,
                  c.state_bytes);
    }
  }

  // Latency at a paced rate.
  std::vector<std::int64_t> lat;
  lat.reserve(latency_readings);
  const double period_ns = 1e9 / rate;
  std::int64_t next = NowNs();
  for (std::size_t i = 0; i < latency_readings; ++i) {
    next += static_cast<std::int64_t>(period_ns);
    while (NowNs() < next) {
    }
    std::int64_t a = NowNs();
    feed(readings + i);
    lat.push_back(NowNs() - a);
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return static_cast<double>(
               lat[static_cast<std::size_t>(p * static_cast<double>(lat.size() - 1))]) /
           1e3;
  };
  std::printf(
      "latency at %.0f readings/s over %zu readings: p50 %.2f us, p99 %.2f us, max %.2f us\n", rate,
      latency_readings, pct(0.5), pct(0.99), pct(1.0));
  return 0;
}
