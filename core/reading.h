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
#include <utility>

namespace pn {

enum class Quality : std::uint8_t { kGood = 0, kUncertain = 1, kBad = 2 };

std::string_view QualityName(Quality q);  // "good", "uncertain", "bad"

// What a reading's source value is. Most sensors give numbers (kDouble); a Modbus counter
// register is an integer, a coil a boolean, a PLC's state register or an MQTT field a text.
// The rules engine works on `value`, which every kind but kString fills (a boolean as 0 or 1);
// upstreams that keep types (JSON, line protocol, Sparkplug B) send the source's kind.
enum class ValueKind : std::uint8_t { kDouble = 0, kInt64 = 1, kBoolean = 2, kString = 3 };

std::string_view ValueKindName(ValueKind k);  // "double", "int64", "boolean", "string"
std::optional<ValueKind> ParseValueKind(std::string_view name);

// How far a record's time can be trusted (gateway/clock/README.md). kSynced: taken from a
// synchronised clock, or the source's own time. kUnsynced: taken from the gateway's clock while
// it was not synchronised. kCorrected: taken while unsynchronised, then corrected by the offset
// measured when the clock synchronised.
enum class ClockMark : std::uint8_t { kSynced = 0, kUnsynced = 1, kCorrected = 2 };

std::string_view ClockMarkName(ClockMark m);  // "synced", "unsynced", "corrected"

struct Reading {
  std::string device;
  std::string series;
  double value = 0.0;  // kInt64: the integer as a double; kBoolean: 0 or 1; kString: NaN
  std::string unit;    // engineering unit, may be empty
  Quality quality = Quality::kGood;
  std::int64_t ts_ns = 0;  // epoch nanoseconds UTC
  ValueKind kind = ValueKind::kDouble;
  ClockMark clock = ClockMark::kSynced;  // set by the rules stage, not by drivers
  bool source_time = false;  // ts_ns is the source's own time (a payload timestamp), not ours
  std::int64_t integer = 0;  // kInt64: the exact value (a double is exact only up to 2^53)
  std::string text{};        // kString: the value

  void SetInteger(std::int64_t v) {
    kind = ValueKind::kInt64;
    integer = v;
    value = static_cast<double>(v);
  }
  void SetBoolean(bool b) {
    kind = ValueKind::kBoolean;
    value = b ? 1.0 : 0.0;
  }
  void SetText(std::string s) {
    kind = ValueKind::kString;
    text = std::move(s);
    value = std::numeric_limits<double>::quiet_NaN();
  }
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
  ClockMark clock = ClockMark::kSynced;  // as the reading's that caused it (set by the rules stage)
  double value = kNaN;                   // the reading's value, when one caused it
  double score = kNaN;                   // anomaly score 0..1
  double health = kNaN;                  // health index 0..1
  double rul = kNaN;                     // remaining useful life, in the series' time units
  double trend = kNaN;                   // health events: slope of the health index per time unit
  std::string severity;                  // alarms: "info", "warning", "critical"
  std::string message;                   // short human-readable explanation
};

}  // namespace pn
