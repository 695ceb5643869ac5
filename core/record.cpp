#include "core/record.h"

#include <fmt/format.h>

#include <cmath>

namespace pn {

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void AppendJsonNumber(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  fmt::format_to(std::back_inserter(out), "{}", v);  // shortest round-trip form
}

namespace {

void AppendKey(std::string& out, std::string_view key) {
  out += ",\"";
  out += key;
  out += "\":";
}

// The value in its kind: a number, an exact integer, true/false or a string; null when there is
// none (a "bad" reading, a number that is not finite).
void AppendReadingValue(std::string& out, const Reading& r) {
  const bool none =
      r.kind == ValueKind::kString ? r.quality == Quality::kBad : !std::isfinite(r.value);
  if (none) {
    out += "null";
    return;
  }
  switch (r.kind) {
    case ValueKind::kDouble:
      AppendJsonNumber(out, r.value);
      return;
    case ValueKind::kInt64:
      fmt::format_to(std::back_inserter(out), "{}", r.integer);
      return;
    case ValueKind::kBoolean:
      out += r.value != 0 ? "true" : "false";
      return;
    case ValueKind::kString:
      AppendJsonString(out, r.text);
      return;
  }
}

// "clock" only when the time is not from a synchronised clock: old records and consumers read
// the same. The store finds unsynchronised records by this exact text (sqlite_store.cpp).
void AppendClockMark(std::string& b, ClockMark m) {
  if (m == ClockMark::kSynced) return;
  AppendKey(b, "clock");
  AppendJsonString(b, ClockMarkName(m));
}

}  // namespace

NewRecord ToRecord(const Reading& r) {
  NewRecord rec;
  rec.kind = RecordKind::kReading;
  rec.ts_ns = r.ts_ns;
  rec.device = r.device;
  rec.series = r.series;
  std::string& b = rec.body;
  b.reserve(96 + r.device.size() + r.series.size() + r.text.size());
  b += "{\"type\":\"reading\",\"ts_ns\":";
  fmt::format_to(std::back_inserter(b), "{}", r.ts_ns);
  AppendKey(b, "device");
  AppendJsonString(b, r.device);
  AppendKey(b, "series");
  AppendJsonString(b, r.series);
  AppendKey(b, "value");
  AppendReadingValue(b, r);
  if (r.kind != ValueKind::kDouble) {
    AppendKey(b, "value_type");
    AppendJsonString(b, ValueKindName(r.kind));
  }
  if (!r.unit.empty()) {
    AppendKey(b, "unit");
    AppendJsonString(b, r.unit);
  }
  AppendKey(b, "quality");
  AppendJsonString(b, QualityName(r.quality));
  AppendClockMark(b, r.clock);
  b += '}';
  return rec;
}

NewRecord ToRecord(const Event& e) {
  NewRecord rec;
  rec.kind = RecordKind::kEvent;
  rec.ts_ns = e.ts_ns;
  rec.device = e.device;
  rec.series = e.series;
  std::string& b = rec.body;
  b += "{\"type\":\"event\",\"ts_ns\":";
  fmt::format_to(std::back_inserter(b), "{}", e.ts_ns);
  AppendKey(b, "device");
  AppendJsonString(b, e.device);
  AppendKey(b, "series");
  AppendJsonString(b, e.series);
  AppendKey(b, "rule");
  AppendJsonString(b, e.rule);
  AppendKey(b, "kind");
  AppendJsonString(b, EventKindName(e.kind));
  auto num = [&](std::string_view k, double v) {
    if (std::isnan(v)) return;
    AppendKey(b, k);
    AppendJsonNumber(b, v);
  };
  num("value", e.value);
  num("score", e.score);
  num("health", e.health);
  num("rul", e.rul);
  num("trend", e.trend);
  if (!e.severity.empty()) {
    AppendKey(b, "severity");
    AppendJsonString(b, e.severity);
  }
  if (!e.message.empty()) {
    AppendKey(b, "message");
    AppendJsonString(b, e.message);
  }
  AppendClockMark(b, e.clock);
  b += '}';
  return rec;
}

void AppendWireJson(std::string& out, std::string_view gateway_id, const Record& r) {
  out += "{\"gateway\":";
  AppendJsonString(out, gateway_id);
  out += ",\"seq\":";
  fmt::format_to(std::back_inserter(out), "{}", r.seq);
  if (r.body.size() > 1) {
    out += ',';
    out.append(r.body, 1);  // body without its opening brace
  } else {
    out += '}';
  }
}

std::string WireJson(std::string_view gateway_id, const Record& r) {
  std::string s;
  AppendWireJson(s, gateway_id, r);
  return s;
}

}  // namespace pn
