// Topic templates and payload encoders of the MQTT forwarder (pure functions, no Paho).
//
// A topic template is text with placeholders in braces: {gateway}, {upstream}, {device},
// {series}, {type} ("reading" or "event") and {kind} ("reading" for readings, the event kind
// such as "alarm" for events). "{{" and "}}" stand for literal braces. A placeholder value
// containing the MQTT wildcards '+' or '#' (or NUL) has them replaced by '_'; '/' is kept, so a
// device named "line1/pump1" spans two topic levels.
//
// Payloads (schemas in gateway/upstream/mqtt/README.md):
//   json        one record per message: the wire JSON object (pn::AppendWireJson);
//   json_batch  a JSON array of wire objects per message, records grouped per topic;
//   influx      InfluxDB line protocol, one line per record, lines grouped per topic.
// Thread-safety: all types here are values; const methods may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.h"
#include "core/status.h"

namespace pn::mqtt_upstream {

enum class Placeholder : std::uint8_t { kGateway, kUpstream, kDevice, kSeries, kType, kKind };

// The values a template is expanded with.
struct TopicValues {
  std::string_view gateway = {};
  std::string_view upstream = {};
  std::string_view device = {};
  std::string_view series = {};
  std::string_view type = {};  // "reading" / "event"
  std::string_view kind = {};  // "reading" / event kind
};

class TopicTemplate {
 public:
  TopicTemplate() = default;
  // Parses `text`. Errors (as kInvalidArgument, message without the key path): an unknown
  // placeholder, an unbalanced brace, a placeholder not in `allowed`, wildcards '+'/'#' in the
  // literal text, an empty template.
  static Result<TopicTemplate> Parse(std::string_view text, std::span<const Placeholder> allowed);
  static Result<TopicTemplate> Parse(std::string_view text);  // every placeholder allowed

  std::string Expand(const TopicValues& v) const;
  void AppendTo(std::string& out, const TopicValues& v) const;
  bool Uses(Placeholder p) const;
  const std::string& text() const { return text_; }

 private:
  struct Part {
    bool literal = true;
    Placeholder placeholder = Placeholder::kGateway;
    std::string text;
  };
  std::string text_;
  std::vector<Part> parts_;
};

enum class PayloadFormat : std::uint8_t { kJson, kJsonBatch, kInflux };

struct EncoderOptions {
  std::string gateway_id;
  std::string upstream;
  TopicTemplate topic;        // readings (and events when event_topic is unset)
  TopicTemplate event_topic;  // events; empty text: `topic`
  PayloadFormat format = PayloadFormat::kJson;
  std::size_t batch_max_records = 1000;       // json_batch / influx: records per message, >= 1
  std::string events_measurement = "events";  // influx: measurement of events
};

struct Message {
  std::string topic;
  std::string payload;
  std::size_t records = 0;
};

struct Encoded {
  std::vector<Message> messages;
  std::vector<std::uint32_t> message_of;  // per record: index of the message that carries it
};

// Encodes `records` into messages, in order: message i was started before message i+1, and the
// records of one topic keep their order within and across that topic's messages. Never fails:
// a record whose body cannot be read is encoded with the fields its envelope carries.
void Encode(std::span<const Record> records, const EncoderOptions& options, Encoded& out);

// One record as an InfluxDB line (no trailing newline), appended to `out`.
void AppendInfluxLine(std::string& out, std::string_view gateway_id,
                      std::string_view events_measurement, const Record& r);

// The "kind" of an event record's body ("alarm", ...), or "reading" for readings; "event" when
// an event's body has none.
std::string EventKindOf(const Record& r);

// How many records, from the first, are carried by acknowledged messages.
std::size_t DeliveredPrefix(const Encoded& encoded, const std::vector<bool>& acked);

}  // namespace pn::mqtt_upstream
