// The status page's live view: what the rules thread saw last, kept small for a person to look
// at. Per series the latest reading and a sparkline of the last minutes (a ring of one value per
// time step, by the reading's own time); the alarms that are raised and not cleared; the latest
// anomaly events; the latest health index and remaining useful life per asset.
//
// Bounded: at most `series_limit` series (readings of further series are counted, not kept),
// `spark_points` floats per series, `anomalies` events and `assets_limit` assets; alarms are
// bounded by the rules (one per rule, device and series). Exists only while the health endpoint
// is on, so a gateway with the endpoint off pays nothing.
//
// Thread-safety: OnReadings/OnEvents on the rules thread, Take from the endpoint's threads; one
// mutex, held for one batch or one copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/reading.h"
#include "gateway/pipeline/pipeline.h"

namespace pn::health {

struct LiveSeries {
  std::string name;
  double value = 0;
  std::string text;  // a string reading's value (value is then NaN)
  std::string unit;
  Quality quality = Quality::kGood;
  std::int64_t ts_ns = 0;
  std::int64_t spark_end_ns = 0;  // the end of the sparkline's last step
  std::vector<float> spark;       // oldest first, one per step; NaN: no reading in that step
};

struct LiveDevice {
  std::string name;
  std::vector<LiveSeries> series;  // by name
};

struct LiveAlarm {
  std::string rule, device, series, severity, message;
  std::int64_t since_ns = 0;  // the raising reading's time
  double value = kNaN;
};

struct LiveAnomaly {
  std::int64_t ts_ns = 0;
  std::string rule, device, series, message;
  double score = kNaN;
  double value = kNaN;
};

struct LiveAsset {
  std::string device, rule;
  double health = kNaN;
  double rul = kNaN;
  double trend = kNaN;
  std::int64_t ts_ns = 0;
};

// A copy of the view, for rendering (health_report.h).
struct LiveSnapshot {
  std::vector<LiveDevice> devices;     // by name
  std::vector<LiveAlarm> alarms;       // oldest raise first
  std::vector<LiveAnomaly> anomalies;  // newest first
  std::vector<LiveAsset> assets;       // by device, then rule
  double spark_step_s = 0;
  std::size_t series = 0;
  std::size_t series_limit = 0;
  std::uint64_t series_dropped = 0;  // readings of series beyond the limit (not kept)
};

class LiveView final : public PipelineObserver {
 public:
  struct Options {
    std::size_t series_limit = 4096;
    std::size_t spark_points = 60;  // 60 steps of 10 s: the last 10 minutes
    std::int64_t spark_step_ns = 10'000'000'000;
    std::size_t anomalies = 20;
    std::size_t assets_limit = 4096;
  };

  LiveView();
  explicit LiveView(Options options);

  void OnReadings(std::span<const Reading> readings) override;
  void OnEvents(std::span<const Event> events) override;

  LiveSnapshot Take() const;

 private:
  struct Series {
    double value = 0;
    std::string text;
    std::string unit;
    Quality quality = Quality::kGood;
    std::int64_t ts_ns = 0;
    std::int64_t newest_step = 0;  // the step of ring's newest value
    std::vector<float> ring;       // spark_points values, step i at i % spark_points
  };
  using SeriesMap = std::map<std::string, Series, std::less<>>;

  void Record(const Reading& r);

  const Options options_;
  mutable std::mutex mu_;
  std::map<std::string, SeriesMap, std::less<>> devices_;
  std::size_t series_ = 0;
  std::uint64_t series_dropped_ = 0;
  std::map<std::string, LiveAlarm> alarms_;                          // key: rule, device, series
  std::deque<LiveAnomaly> anomalies_;                                // newest first
  std::map<std::pair<std::string, std::string>, LiveAsset> assets_;  // (device, rule)
};

}  // namespace pn::health
