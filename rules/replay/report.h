// ReplayReport: the self-contained HTML file that `replay --report FILE` writes, so that a person
// tuning a rule sees what it catches and misses. One SVG panel per device and series: the values
// (min and max per pixel column, so a million rows draw as 1000 columns and no spike is lost),
// each rule's anomaly score in a band below them, every anomaly event as a mark, alarms shaded
// from raise to clear, and labelled windows (--labels, --label-column) shaded too. Health and
// RUL get a panel per device and rule. A per-rule summary table closes the page. Inline CSS and
// SVG only: nothing is loaded from anywhere, so it opens on an offline laptop.
//
// Memory: every value and score is kept until Render (16 bytes each), so a 1M-row CSV with one
// series costs about 32 MB. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/reading.h"
#include "rules/engine.h"

namespace pn::rules {

class ReplayReport {
 public:
  // `iso_time`: the CSV's times are date-times (shown as UTC), else plain numbers.
  explicit ReplayReport(bool iso_time) : iso_time_(iso_time) {}

  void AddValue(std::string_view device, std::string_view series, std::int64_t ts_ns, double v);
  void AddScore(std::string_view rule, std::string_view device, std::string_view series,
                std::int64_t ts_ns, double score);
  void AddEvent(const Event& e);
  // Labelled windows [start, end] in reading time, shown on every panel.
  void AddLabel(std::int64_t start_ns, std::int64_t end_ns) {
    labels_.emplace_back(start_ns, end_ns);
  }
  void set_iso_time(bool iso) { iso_time_ = iso; }

  // The whole HTML document.
  std::string Render(std::string_view title, const std::vector<RuleScoreSummary>& rules) const;

 private:
  using Points = std::vector<std::pair<std::int64_t, double>>;
  struct Panel {
    Points values;
    std::map<std::string, Points> scores;  // by rule
    std::vector<Event> events;             // anomaly, alarm, clear
  };
  struct HealthPanel {
    Points health;
    Points rul;
  };

  void RenderPanel(std::string& out, const std::string& title, const Panel& p) const;
  void RenderHealth(std::string& out, const std::string& title, const HealthPanel& p) const;
  double X(std::int64_t ts) const;
  std::string TimeText(std::int64_t ts) const;

  bool iso_time_;
  std::map<std::pair<std::string, std::string>, Panel> panels_;        // (device, series)
  std::map<std::pair<std::string, std::string>, HealthPanel> health_;  // (device, rule)
  std::vector<std::pair<std::int64_t, std::int64_t>> labels_;
  std::int64_t t_min_ = INT64_MAX;
  std::int64_t t_max_ = INT64_MIN;
  std::size_t event_count_[5] = {};
};

}  // namespace pn::rules
