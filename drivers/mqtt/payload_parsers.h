// MQTT payload parsers: pure functions from one message payload to readings.
//
//   plain          a number ("21.5"); device and series come from the topic (or defaults)
//   json           an object (or an array of objects) with field mapping: one value plus an
//                  optional time, device and series field, or several series from one object
//   line_protocol  InfluxDB line protocol, one or more lines; each numeric field is a reading
//
// Parse() depends only on the parser's options, the payload and the topic fields. It never
// throws; a payload that does not parse gives a Status (kInvalidArgument) and appends nothing.
// Thread-safety: a parser instance is used by one thread at a time (the JSON parser reuses its
// simdjson buffers); distinct instances are independent.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/reading.h"
#include "core/status.h"

namespace pn::mqtt {

// What the topic (or the defaults) says about a message.
struct TopicFields {
  std::string_view device;  // never empty
  std::string_view series;  // may be empty when the template has no {series} and no default
};

struct Decoded {
  std::string device;
  std::string series;
  double value = 0.0;
  std::int64_t ts_ns = 0;               // 0: the payload carried no time; the receiver stamps it
  ValueKind kind = ValueKind::kDouble;  // as in Reading: value, integer and text follow it
  std::int64_t integer = 0;
  std::string text{};
};

class PayloadParser {
 public:
  virtual ~PayloadParser() = default;
  virtual Status Parse(std::string_view payload, const TopicFields& topic,
                       std::vector<Decoded>& out) = 0;
};

// plain: the payload is one number; needs topic.series.
std::unique_ptr<PayloadParser> MakePlainParser();

enum class TimeUnit { kSeconds, kMilliseconds, kMicroseconds, kNanoseconds };
// "s", "ms", "us", "ns"; false when unknown.
bool ParseTimeUnit(std::string_view text, TimeUnit& unit);

// A JSON location: a top-level key ("temp") or a JSON pointer ("/sensors/0/temp").
struct JsonOptions {
  std::string value = "value";  // used when `fields` is empty; series from the topic
  // Several series from one object: (series, location). When not empty, `value` is unused.
  std::vector<std::pair<std::string, std::string>> fields;
  std::string time;  // empty: no time in the payload
  TimeUnit time_unit = TimeUnit::kMilliseconds;
  std::string device;  // empty: device from the topic
  std::string series;  // empty: series from the topic (single-value mode only)
  // Series delivered as text (string readings): a JSON string as is, a number or boolean as its
  // JSON text. Every other series needs a number (a double reading) or a boolean (a boolean
  // reading); a string there is an error.
  std::vector<std::string> text_series;
};
// Null or a missing field gives no reading for that series (but an object with no reading at
// all is an error). The time must be a number.
std::unique_ptr<PayloadParser> MakeJsonParser(const JsonOptions& options);

struct LineProtocolOptions {
  std::string device_tag = "device";     // the tag naming the device; missing: from the topic
  bool series_with_measurement = false;  // series "measurement_field" instead of "field"
  TimeUnit precision = TimeUnit::kNanoseconds;
};
// Every field becomes a reading of its type: integer (i) and unsigned (u) int64, float double,
// boolean boolean, string string. Blank lines and # comments are ignored.
std::unique_ptr<PayloadParser> MakeLineProtocolParser(const LineProtocolOptions& options);

// Parses "series=location" or "name" (series and top-level key the same) into a field mapping.
std::pair<std::string, std::string> ParseFieldMapping(std::string_view entry);

}  // namespace pn::mqtt
