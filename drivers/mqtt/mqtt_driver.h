// The `mqtt` driver: subscribes to topic filters on an MQTT broker (Paho MQTT C++) and turns
// messages into readings.
//
// Configured by [drivers.NAME] with type = "mqtt" (see drivers/mqtt/README.md). Device and series
// come from topic levels by template ("plant/{device}/{series}"), payloads are plain numbers,
// JSON with field mapping, or InfluxDB line protocol (see payload_parsers.h). QoS 0 or 1; TLS
// with CA, client certificate and hostname verification (on by default); username and password,
// the password read from a file or an environment variable and never logged. The driver owns
// its connection: on a failed connect or a lost connection it reconnects with exponential backoff
// (connect::Backoff: retry_initial_ms doubling up to retry_max_ms, equal jitter) and subscribes
// again. A payload that does not parse is counted (DriverStats::errors) and logged
// rate-limited, never fatal.
//
// Delivery: Paho acknowledges a QoS 1 message when the driver's callback returns (the message is
// then decoded and in a bounded in-process inbox), so readings in that inbox when the process is
// killed are lost; readings are durable once in the store. When the pipeline is slower than the
// broker, the callback waits for room in the inbox and Paho stops reading the socket.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "drivers/driver.h"
#include "drivers/mqtt/message_decoder.h"

namespace pn::mqtt {

// The registry entry: type "mqtt", its spec, check and factory.
DriverType DriverTypeEntry();

// The keys of [drivers.NAME] for type "mqtt" (`type` and `enabled` excluded).
const config::TableSpec& Spec();

// Cross-key checks: broker URI scheme, topic templates, payload-specific keys, TLS keys only with
// a TLS broker, one password source, retry_initial_ms <= retry_max_ms.
// REQUIRES: `section` passed config::Validate against Spec().
void Check(const config::Section& section, config::ErrorList& errors);

struct MqttSettings {
  std::string broker;     // tcp://host:1883, ssl://host:8883 (mqtt:// and mqtts:// too)
  std::string client_id;  // empty: "processnow-<instance name>"
  std::vector<std::string> topics;
  int qos = 1;
  bool clean_session = true;
  std::string payload = "plain";  // plain, json, line_protocol
  std::string device_name;        // empty: the instance name
  std::string series;             // default series when the topic has no {series}
  JsonOptions json;
  LineProtocolOptions line_protocol;
  std::string username;
  std::string password_file;  // one of these two, or neither
  std::string password_env;
  std::string ca_file, cert_file, key_file;
  bool tls_verify_hostname = true;
  std::int64_t keep_alive_s = 30;
  std::int64_t connect_timeout_ms = 5000;
  std::int64_t retry_initial_ms = 500;  // connect::Backoff
  std::int64_t retry_max_ms = 30000;
  std::int64_t log_interval_ms = 10000;
  std::size_t batch = 1000;
};

// Reads validated settings. REQUIRES: `section` passed Validate against Spec() and Check().
MqttSettings SettingsFromSection(const config::Section& section);

// Builds the decoder (templates, defaults, payload parser). Fails only on settings that did not
// pass Check().
Result<std::unique_ptr<MessageDecoder>> MakeDecoder(const MqttSettings& settings,
                                                    const std::string& instance_name);

// Thread-safety: Run() is called once, on one thread; stats(), name() and the counters are safe
// from any thread.
class MqttDriver final : public Driver {
 public:
  // Reads the password now (connect::ReadSecret: file or environment; unset, unreadable or
  // empty is an error).
  static Result<std::unique_ptr<MqttDriver>> Create(std::string name, MqttSettings settings,
                                                    Clock* clock);

  const std::string& name() const override { return name_; }

  // Connects, subscribes and delivers until a stop is requested or the sink refuses (shutdown).
  // Returns within ~100 ms of a stop request plus a bounded disconnect (at most 1 s).
  void Run(std::stop_token stop, ReadingSink& sink) override;

  const DriverStats& stats() const override { return stats_; }

  // Successful connect + subscribe rounds; for tests and metrics.
  std::uint64_t connects() const { return connects_.load(std::memory_order_relaxed); }

 private:
  MqttDriver(std::string name, MqttSettings settings, std::string password,
             std::unique_ptr<MessageDecoder> decoder, Clock* clock);
  std::string name_;
  MqttSettings settings_;
  std::string password_;  // never logged
  std::unique_ptr<MessageDecoder> decoder_;
  Clock* clock_;
  DriverStats stats_;
  std::atomic<std::uint64_t> connects_{0};
};

}  // namespace pn::mqtt
