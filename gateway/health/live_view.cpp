#include "gateway/health/live_view.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace pn::health {

namespace {

// floor(a / b) for b > 0, also for times before 1970.
std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// The ring slot of a step (steps may be negative before 1970). REQUIRES: n > 0.
std::size_t Slot(std::int64_t step, std::int64_t n) {
  return static_cast<std::size_t>(((step % n) + n) % n);
}

std::string AlarmKey(const Event& e) { return e.rule + '\0' + e.device + '\0' + e.series; }

}  // namespace

LiveView::LiveView() : LiveView(Options()) {}

LiveView::LiveView(Options options) : options_(options) {}

void LiveView::OnReadings(std::span<const Reading> readings) {
  std::lock_guard lock(mu_);
  for (const Reading& r : readings) Record(r);
}

void LiveView::Record(const Reading& r) {
  auto dev = devices_.find(r.device);
  Series* s = nullptr;
  if (dev != devices_.end()) {
    auto it = dev->second.find(r.series);
    if (it != dev->second.end()) s = &it->second;
  }
  const std::size_t points = options_.spark_points;
  const std::int64_t step = FloorDiv(r.ts_ns, options_.spark_step_ns);
  if (s == nullptr) {
    if (series_ >= options_.series_limit) {
      ++series_dropped_;
      return;
    }
    if (dev == devices_.end()) dev = devices_.emplace(r.device, SeriesMap()).first;
    s = &dev->second[r.series];
    ++series_;
    s->ring.assign(points, std::numeric_limits<float>::quiet_NaN());
    s->newest_step = step;
  }
  if (r.ts_ns >= s->ts_ns) {  // the latest value is the newest by time, not by arrival
    s->value = r.value;
    if (r.kind == ValueKind::kString) {
      s->text = r.text;
    } else if (!s->text.empty()) {
      s->text.clear();
    }
    if (s->unit != r.unit) s->unit = r.unit;
    s->quality = r.quality;
    s->ts_ns = r.ts_ns;
  }
  const auto n = static_cast<std::int64_t>(points);
  if (n == 0) return;
  if (step > s->newest_step) {
    // Steps without a reading in between are gaps.
    const std::int64_t gap = std::min<std::int64_t>(step - s->newest_step - 1, n);
    for (std::int64_t k = 1; k <= gap; ++k) {
      s->ring[Slot(s->newest_step + k, n)] = std::numeric_limits<float>::quiet_NaN();
    }
    s->newest_step = step;
  } else if (s->newest_step - step >= n) {
    return;  // older than the sparkline
  }
  s->ring[Slot(step, n)] = static_cast<float>(r.value);
}

void LiveView::OnEvents(std::span<const Event> events) {
  std::lock_guard lock(mu_);
  for (const Event& e : events) {
    switch (e.kind) {
      case EventKind::kAlarm: {
        auto [it, inserted] = alarms_.try_emplace(AlarmKey(e));
        LiveAlarm& a = it->second;
        if (inserted) {
          a.rule = e.rule;
          a.device = e.device;
          a.series = e.series;
          a.since_ns = e.ts_ns;
        }
        a.severity = e.severity;
        a.message = e.message;
        a.value = e.value;
        break;
      }
      case EventKind::kClear:
        alarms_.erase(AlarmKey(e));
        break;
      case EventKind::kAnomaly: {
        LiveAnomaly a;
        a.ts_ns = e.ts_ns;
        a.rule = e.rule;
        a.device = e.device;
        a.series = e.series;
        a.message = e.message;
        a.score = e.score;
        a.value = e.value;
        anomalies_.push_front(std::move(a));
        while (anomalies_.size() > options_.anomalies) anomalies_.pop_back();
        break;
      }
      case EventKind::kHealth:
      case EventKind::kRul: {
        auto key = std::make_pair(e.device, e.rule);
        auto it = assets_.find(key);
        if (it == assets_.end()) {
          if (assets_.size() >= options_.assets_limit) break;
          it = assets_.emplace(key, LiveAsset{.device = e.device, .rule = e.rule}).first;
        }
        LiveAsset& a = it->second;
        if (!std::isnan(e.health)) a.health = e.health;
        if (!std::isnan(e.rul)) a.rul = e.rul;
        if (!std::isnan(e.trend)) a.trend = e.trend;
        a.ts_ns = std::max(a.ts_ns, e.ts_ns);
        break;
      }
    }
  }
}

LiveSnapshot LiveView::Take() const {
  LiveSnapshot out;
  out.spark_step_s = static_cast<double>(options_.spark_step_ns) / 1e9;
  out.series_limit = options_.series_limit;
  std::lock_guard lock(mu_);
  out.series = series_;
  out.series_dropped = series_dropped_;
  const auto n = static_cast<std::int64_t>(options_.spark_points);
  out.devices.reserve(devices_.size());
  for (const auto& [device, series] : devices_) {
    LiveDevice d;
    d.name = device;
    d.series.reserve(series.size());
    for (const auto& [name, s] : series) {
      LiveSeries ls;
      ls.name = name;
      ls.value = s.value;
      ls.text = s.text;
      ls.unit = s.unit;
      ls.quality = s.quality;
      ls.ts_ns = s.ts_ns;
      ls.spark_end_ns = (s.newest_step + 1) * options_.spark_step_ns;
      ls.spark.reserve(options_.spark_points);
      for (std::int64_t k = s.newest_step - n + 1; n > 0 && k <= s.newest_step; ++k) {
        ls.spark.push_back(s.ring[Slot(k, n)]);
      }
      d.series.push_back(std::move(ls));
    }
    out.devices.push_back(std::move(d));
  }
  out.alarms.reserve(alarms_.size());
  for (const auto& [key, a] : alarms_) out.alarms.push_back(a);
  std::stable_sort(out.alarms.begin(), out.alarms.end(),
                   [](const LiveAlarm& a, const LiveAlarm& b) { return a.since_ns < b.since_ns; });
  out.anomalies.assign(anomalies_.begin(), anomalies_.end());
  out.assets.reserve(assets_.size());
  for (const auto& [key, a] : assets_) out.assets.push_back(a);
  return out;
}

}  // namespace pn::health
