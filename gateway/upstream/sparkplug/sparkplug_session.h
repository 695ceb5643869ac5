// The Sparkplug B edge-node session: turns records into Sparkplug messages (topics and protobuf
// payloads) and keeps the state the specification asks for: bdSeq, the message sequence number
// (0..255, wrapping), metric aliases and which devices were born in this MQTT session.
//
// No MQTT here: the upstream (sparkplug_upstream.h) publishes what this produces, so the session
// rules can be unit-tested on their own.
//
// Metrics: a reading is metric <series>, of the reading's kind (Double, Int64, Boolean or String;
// see core/reading.h), its unit in the birth as the property "engUnit". A series whose
// kind changes gets a new DBIRTH with the new datatype. Events: alarm/clear ->
// "alarms/<rule>/active" (Boolean), anomaly -> "anomaly/<rule>/score" (Double), health ->
// "health/<rule>" (Double), rul -> "rul/<rule>" (Double). Aliases are unique across the edge node
// and stable for the life of the process; alias 0 is the node's "Node Control/Rebirth".
//
// Device liveness (tck-id-operational-behavior-device-ddeath): a device gets a DDEATH when the
// latest reading of every one of its series has quality "bad" (a dead Modbus unit, for example),
// or when no record of it was encoded for a while (Deaths(), driven by the upstream's timer: a
// driver that stopped). While dead, its "bad" readings are acknowledged without being sent (the
// DDEATH told the host they are stale); any other record gives it a new DBIRTH first.
//
// Thread-safety: none; the caller serialises every call (the upstream holds a mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.h"

namespace pn::sparkplug {

inline constexpr const char* kNamespace = "spBv1.0";
inline constexpr const char* kRebirthMetric = "Node Control/Rebirth";
inline constexpr std::uint64_t kRebirthAlias = 0;

// Sparkplug data types used here (values of the DataType enum of sparkplug_b.proto).
enum class DataType : std::uint32_t {
  kInt64 = 4,
  kUInt64 = 8,
  kDouble = 10,
  kBoolean = 11,
  kString = 12
};

// A metric's value; which member counts depends on the metric's DataType.
struct Value {
  bool is_null = false;
  double number = 0;         // kDouble
  std::int64_t integer = 0;  // kInt64
  bool boolean = false;      // kBoolean
  std::string text{};        // kString
};

struct SessionOptions {
  std::string group_id;
  std::string edge_node_id;
  // A record is sent with is_historical = true when its timestamp is older than the start of
  // the session (its CONNECT, or its first NBIRTH if that came later) minus this grace (ns).
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

  // A new MQTT session with `bd_seq` begins at `start_ns` (epoch ns; `mono_ns` on the monotonic
  // clock): every birth is due again, the next message (the NBIRTH) gets seq 0, and every
  // device's silence is counted from now.
  void Begin(std::uint64_t bd_seq, std::int64_t start_ns, std::int64_t mono_ns);

  // The NDEATH payload for `bd_seq`: one metric bdSeq (UInt64), no seq.
  std::string DeathPayload(std::uint64_t bd_seq, std::int64_t now_ms) const;

  // NBIRTH (bdSeq, Node Control/Rebirth = false) and a DBIRTH of every device known so far and
  // not dead, appended to `out`. Used after Begin() and for a rebirth request (same bdSeq, seq
  // goes on).
  void Births(std::int64_t now_ms, std::vector<Outgoing>& out);
  bool births_due() const { return births_due_; }

  // Encodes records: births first when due, a DBIRTH for a device before its first data in this
  // session (or again when it reports a metric not in its last birth), then DDATA with aliases
  // only; a DDEATH after the data of a device whose every series is now "bad". record_msg[i] is
  // the index in `out` of the message carrying records[i]; a record whose body cannot be read,
  // or a "bad" reading of a dead device, gets kNoMessage (nothing to deliver). `mono_ns`
  // (monotonic) is when the batch is sent: the devices in it were last seen then.
  static constexpr std::size_t kNoMessage = static_cast<std::size_t>(-1);
  void Encode(std::span<const Record> records, std::int64_t now_ms, std::int64_t mono_ns,
              std::vector<Outgoing>& out, std::vector<std::size_t>& record_msg);

  // A DDEATH (seq, timestamp, no metrics) for every born device with no record encoded since
  // `mono_ns - silence_ns`. Nothing while births are due (no session yet).
  void Deaths(std::int64_t mono_ns, std::int64_t silence_ns, std::int64_t now_ms,
              std::vector<Outgoing>& out);
  // When the next device falls silent (monotonic ns), INT64_MAX when none can.
  std::int64_t NextSilenceNs(std::int64_t silence_ns) const;
  bool device_dead(const std::string& device) const;

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
    Value value;  // the latest, for the next birth
    std::int64_t ts_ms = 0;
    bool reading = false;  // a series (not an event metric)
    bool bad = false;      // its latest reading had quality "bad"
  };
  struct DeviceState {
    std::map<std::string, MetricState> metrics;  // by metric name
    bool born = false;  // DBIRTH published in this MQTT session with every metric above
    bool dead = false;  // DDEATH published; born again by its next record that is not "bad"
    std::int64_t last_seen_ns = 0;  // monotonic
  };
  std::uint64_t NextSeq();
  void DeviceBirth(const std::string& device, DeviceState& d, std::int64_t now_ms,
                   std::vector<Outgoing>& out);
  void DeviceDeath(const std::string& device, DeviceState& d, std::int64_t now_ms,
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

// A primary host application's STATE message (Sparkplug 3.0: spBv1.0/STATE/<host_id>, retained,
// JSON {"online": bool, "timestamp": epoch ms}; other keys, such as the 2.2-era "bdSeq", are
// ignored). nullopt when the payload is not such an object.
struct HostState {
  bool online = false;
  std::uint64_t timestamp = 0;
};
std::optional<HostState> ParseHostState(std::string_view payload);

// The edge node's view of its primary host (tck-id-message-flow-edge-node-birth-publish-phid-
// wait-timestamp): a STATE counts only when its timestamp is not older than the last one
// counted. The same message again (a retained STATE delivered on every subscribe) counts.
class HostTracker {
 public:
  // True when `s` is accepted (and is then the current state).
  bool Observe(const HostState& s) {
    if (seen_ && s.timestamp < last_) return false;
    seen_ = true;
    last_ = s.timestamp;
    online_ = s.online;
    return true;
  }
  bool online() const { return online_; }

 private:
  bool seen_ = false;
  bool online_ = false;
  std::uint64_t last_ = 0;
};

// bdSeq persistence: the bdSeq to use for the next CONNECT (0 when `path` does not exist).
std::uint64_t ReadBdSeq(const std::string& path);
// Writes `next` to `path` (write to a temporary file, fsync, rename). False on failure.
bool WriteBdSeq(const std::string& path, std::uint64_t next, std::string* error);

}  // namespace pn::sparkplug
