#include "gateway/core/reading.h"

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
