#include "core/reading.h"

namespace pn {

std::string_view QualityName(Quality q) {
  switch (q) {
    case Quality::kGood:
      return "good";
    case Quality::kUncertain:
      return "uncertain";
    case Quality::kBad:
      return "bad";
  }
  return "bad";
}

std::string_view ValueKindName(ValueKind k) {
  switch (k) {
    case ValueKind::kDouble:
      return "double";
    case ValueKind::kInt64:
      return "int64";
    case ValueKind::kBoolean:
      return "boolean";
    case ValueKind::kString:
      return "string";
  }
  return "double";
}

std::optional<ValueKind> ParseValueKind(std::string_view name) {
  for (auto k : {ValueKind::kDouble, ValueKind::kInt64, ValueKind::kBoolean, ValueKind::kString}) {
    if (ValueKindName(k) == name) return k;
  }
  return std::nullopt;
}

std::string_view ClockMarkName(ClockMark m) {
  switch (m) {
    case ClockMark::kSynced:
      return "synced";
    case ClockMark::kUnsynced:
      return "unsynced";
    case ClockMark::kCorrected:
      return "corrected";
  }
  return "unsynced";
}

std::string_view EventKindName(EventKind k) {
  switch (k) {
    case EventKind::kAnomaly:
      return "anomaly";
    case EventKind::kAlarm:
      return "alarm";
    case EventKind::kClear:
      return "clear";
    case EventKind::kHealth:
      return "health";
    case EventKind::kRul:
      return "rul";
  }
  return "anomaly";
}

std::optional<EventKind> ParseEventKind(std::string_view name) {
  for (auto k : {EventKind::kAnomaly, EventKind::kAlarm, EventKind::kClear, EventKind::kHealth,
                 EventKind::kRul}) {
    if (EventKindName(k) == name) return k;
  }
  return std::nullopt;
}

}  // namespace pn
