// The Sparkplug B edge-node session: turns records into Sparkplug messages (topics and protobuf
// payloads) and keeps the state the specification asks for: bdSeq, the message sequence number
// (0..255, wrapping), metric aliases and which devices were born in this MQTT session.
//
// No MQTT here: the upstream (sparkplug_upstream.h) publishes what this produces, so the session
// rules can be unit-tested on their own.
//
// Metrics: a reading is metric <series> (Double; its unit in the birth as the property
// "engUnit"). Events: alarm/clear -> "alarms/<rule>/active" (Boolean), anomaly ->
// "anomaly/<rule>/score" (Double), health -> "health/<rule>" (Double), rul -> "rul/<rule>"
// (Double). Aliases are unique across the edge node and stable for the life of the process;
// alias 0 is the node's "Node Control/Rebirth".
//
// Thread-safety: none; the caller serialises every call (the upstream holds a mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "gateway/core/record.h"

namespace pn::sparkplug {

inline constexpr const char* kNamespace = "spBv1.0";
inline constexpr const char* kRebirthMetric = "Node Control/Rebirth";
inline constexpr std::uint64_t kRebirthAlias = 0;

// Sparkplug data types used here (values of the DataType enum of sparkplug_b.proto).
enum class DataType : std::uint32_t { kUInt64 = 8, kDouble = 10, kBoolean = 11, kString = 12 };

struct SessionOptions {
  std::string group_id;
  std::string edge_node_id;
  // A record is sent with is_historical = true when its timestamp is older than the start of
  // the MQTT session minus this grace (nanoseconds).
  std::int64_t historical_grace_ns = 5'000'000'000;
  std::size_t max_metrics_per_message = 1000;
};

struct Outgoing {
  std::string topic;
  std::string payload;  // serialised Sparkplug B Payload
  bool birth = false;   // NBIRTH or DBIRTH
};

class Session {
 public:
  explicit Session(SessionOptions options);

  // A new MQTT session with `bd_seq` begins at `start_ns` (epoch ns): every birth is due again
  // and the next message (the NBIRTH) gets seq 0.
  void Begin(std::uint64_t bd_seq, std::int64_t start_ns);

  // The NDEATH payload for `bd_seq`: one metric bdSeq (UInt64), no seq.
  std::string DeathPayload(std::uint64_t bd_seq, std::int64_t now_ms) const;

  // NBIRTH (bdSeq, Node Control/Rebirth = false) and a DBIRTH of every device known so far,
  // appended to `out`. Used after Begin() and for a rebirth request (same bdSeq, seq goes on).
  void Births(std::int64_t now_ms, std::vector<Outgoing>& out);
  bool births_due() const { return births_due_; }

  // Encodes records: births first when due, a DBIRTH for a device before its first data in this
  // session (or again when it reports a metric not in its last birth), then DDATA with aliases
  // only. record_msg[i] is the index in `out` of the message carrying records[i]; a record
  // whose body cannot be read gets kNoMessage (nothing to deliver).
  static constexpr std::size_t kNoMessage = static_cast<std::size_t>(-1);
  void Encode(std::span<const Record> records, std::int64_t now_ms, std::vector<Outgoing>& out,
              std::vector<std::size_t>& record_msg);

  std::string NodeTopic(const char* type) const;
  std::string DeviceTopic(const char* type, const std::string& device) const;
  std::uint64_t bd_seq() const { return bd_seq_; }
  std::uint8_t next_seq() const { return seq_; }

 private:
  struct MetricState {
    std::uint64_t alias = 0;
    DataType type = DataType::kDouble;
    std::string unit;
    bool has_value = false;
    bool is_null = false;
    double number = 0;
    bool boolean = false;
    std::int64_t ts_ms = 0;
  };
  struct DeviceState {
    std::map<std::string, MetricState> metrics;  // by metric name
    bool born = false;  // DBIRTH published in this MQTT session with every metric above
  };
  std::uint64_t NextSeq();
  void DeviceBirth(const std::string& device, DeviceState& d, std::int64_t now_ms,
                   std::vector<Outgoing>& out);

  SessionOptions options_;
  std::uint64_t bd_seq_ = 0;
  std::int64_t start_ns_ = 0;
  std::uint8_t seq_ = 0;
  bool births_due_ = true;
  std::uint64_t next_alias_ = kRebirthAlias + 1;
  std::map<std::string, DeviceState> devices_;
};

// '/', '+' and '#' (not allowed in a Sparkplug id) become '_'.
std::string SanitizeId(std::string_view id);

// A decoded NCMD: true when it asks for a rebirth (Node Control/Rebirth = true, by name or alias).
bool IsRebirthCommand(const void* payload, std::size_t size);

// bdSeq persistence: the bdSeq to use for the next CONNECT (0 when `path` does not exist).
std::uint64_t ReadBdSeq(const std::string& path);
// Writes `next` to `path` (write to a temporary file, fsync, rename). False on failure.
bool WriteBdSeq(const std::string& path, std::uint64_t next, std::string* error);

}  // namespace pn::sparkplug
