// Record: what the store keeps and the forwarders send. One Reading or one Event, serialised to
// a JSON object once (by the store stage) and given a sequence number by the store.
//
// Wire form sent upstream (see gateway/upstream/README.md for the full schema):
//   {"gateway":"gw-1","seq":42,"type":"reading","ts_ns":...,"device":"pump1",...}
// `body` holds the object from "type" on, without the gateway and seq, which the forwarder adds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/reading.h"

namespace pn {

enum class RecordKind : std::uint8_t { kReading = 0, kEvent = 1 };

struct NewRecord {
  RecordKind kind = RecordKind::kReading;
  std::int64_t ts_ns = 0;
  std::string device;
  std::string series;
  std::string body;  // JSON object text, starting with {"type":...
};

struct Record {
  std::uint64_t seq = 0;  // store-assigned, strictly increasing, never reused
  RecordKind kind = RecordKind::kReading;
  std::int64_t ts_ns = 0;
  std::string device;
  std::string series;
  std::string body;
};

NewRecord ToRecord(const Reading& r);
NewRecord ToRecord(const Event& e);

// The full JSON object sent upstream: body with "gateway" and "seq" put in front.
std::string WireJson(std::string_view gateway_id, const Record& r);
void AppendWireJson(std::string& out, std::string_view gateway_id, const Record& r);

// JSON helpers shared by the encoders.
void AppendJsonString(std::string& out, std::string_view s);
void AppendJsonNumber(std::string& out, double v);  // NaN/inf become null

}  // namespace pn
