// Reading and Event: the two kinds of data that flow through the gateway.
//
// A Reading is one sample of one series of one device, timestamped at the source (or at the poll
// when the source has no clock) in epoch nanoseconds UTC. An Event is what the rules engine
// concludes from readings: an anomaly score, an alarm raised or cleared, a health index or a
// remaining-useful-life estimate. Both are plain values, cheap to move.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace pn {

enum class Quality : std::uint8_t { kGood = 0, kUncertain = 1, kBad = 2 };

std::string_view QualityName(Quality q);  // "good", "uncertain", "bad"

struct Reading {
  std::string device;
  std::string series;
  double value = 0.0;
  std::string unit;  // engineering unit, may be empty
  Quality quality = Quality::kGood;
  std::int64_t ts_ns = 0;  // epoch nanoseconds UTC
};

enum class EventKind : std::uint8_t { kAnomaly, kAlarm, kClear, kHealth, kRul };

std::string_view EventKindName(EventKind k);  // "anomaly", "alarm", "clear", "health", "rul"
std::optional<EventKind> ParseEventKind(std::string_view name);

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Event {
  std::int64_t ts_ns = 0;  // time of the reading that caused the event
  std::string device;
  std::string series;
  std::string rule;
  EventKind kind = EventKind::kAnomaly;
  double value = kNaN;   // the reading's value, when one caused it
  double score = kNaN;   // anomaly score 0..1
  double health = kNaN;  // health index 0..1
  double rul = kNaN;     // remaining useful life, in the series' time units
  double trend = kNaN;   // health events: slope of the health index per time unit
  std::string severity;  // alarms: "info", "warning", "critical"
  std::string message;   // short human-readable explanation
};

}  // namespace pn
