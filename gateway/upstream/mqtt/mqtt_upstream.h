// The `mqtt` upstream: publishes records to an MQTT broker with the Paho MQTT C++ async client.
//
// Delivery: Send() encodes the records (mqtt_encoding.h), publishes the messages with at most
// `max_inflight` unacknowledged at a time, and waits (at most `publish_timeout_ms`) for their
// acknowledgements (PUBACK at QoS 1). It reports as delivered the longest prefix of records whose
// messages were all acknowledged; the forwarder advances the cursor over exactly those. Broker
// down, connection lost or a timeout: kRetry, and the rest is sent again (at-least-once; the
// duplicates are those published but not acknowledged, dropped by consumers on (gateway, seq)).
//
// Connection: Start() and every Send() while disconnected try to connect once (each broker of
// `servers` in turn); the forwarder's retry schedule (retry_initial_ms doubling with jitter up
// to retry_max_ms) paces the attempts. On connect a retained birth message is published on
// `status_topic`; the broker publishes the retained last will if the connection dies; Stop()
// publishes the will payload itself before a clean disconnect.
//
// Thread-safety: one forwarder thread calls Start/Send/Stop; Paho's callbacks (on its own
// thread) only set atomics and a mutex-guarded error text. No exception leaves this class.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/upstream/mqtt/mqtt_connection.h"
#include "gateway/upstream/mqtt/mqtt_encoding.h"
#include "gateway/upstream/upstream.h"

namespace mqtt {
class async_client;
class delivery_token;
class iaction_listener;
}  // namespace mqtt

namespace pn::mqtt_upstream {

struct Options {
  ConnectionOptions conn;  // servers, client id, window, timeouts, credentials, TLS
  bool clean_session = true;
  int qos = 1;
  bool retain = false;
  EncoderOptions encoder;
  std::string status_topic;  // expanded; empty: no birth message and no will
  std::string birth_payload = "online";
  std::string will_payload = "offline";
  Clock* clock = &SystemClock::Instance();  // timeouts of the messages in flight
};

class MqttUpstream final : public Upstream {
 public:
  MqttUpstream(std::string name, Options options);
  ~MqttUpstream() override;
  MqttUpstream(const MqttUpstream&) = delete;
  MqttUpstream& operator=(const MqttUpstream&) = delete;

  const std::string& name() const override { return name_; }
  Status Start() override;
  SendResult Send(std::span<const Record> records) override;
  void Stop() override;
  // Pipelining (upstream.h): Send() returns once its messages are published, without waiting
  // for their acknowledgements; the in-flight window (max_inflight) spans sends.
  bool EnablePipelining(std::function<void()> acknowledged) override;
  SendResult Collect() override;

  bool connected() const { return connected_.load(); }

 private:
  Status Connect();
  Status PublishStatus(const std::string& payload, std::chrono::milliseconds timeout);
  SendResult SendPipelined(std::span<const Record> records);
  // The records acknowledged in order from the oldest one in flight, without waiting; a failed
  // message sets `error`.
  std::size_t Harvest(std::string& error);
  // Drops every record in flight (a failure: the forwarder sends them again).
  void Forget();
  // After a failed send: connected_ becomes false if Paho no longer has the connection, so the
  // next Send() connects again.
  void RecheckConnected();

  // One pipelined Send(): its messages' tokens and which message carries each record.
  struct Flight {
    std::vector<std::shared_ptr<mqtt::delivery_token>> tokens;
    std::vector<std::uint32_t> message_of;
    std::vector<bool> done;        // per message: acknowledged
    std::size_t reported = 0;      // records already reported delivered
    std::int64_t deadline_ns = 0;  // Clock::MonotonicNs() publish_timeout after the send
  };

  std::string name_;
  Options options_;
  ConnectDiagnosis diagnosis_{options_.conn, *options_.clock};
  std::unique_ptr<mqtt::async_client> client_;
  std::atomic<bool> connected_{false};
  Encoded encoded_;

  bool pipelined_ = false;
  std::function<void()> acknowledged_;
  std::unique_ptr<mqtt::iaction_listener> ack_listener_;  // calls acknowledged_
  std::deque<Flight> flights_;
  // Messages published and not yet seen acknowledged, oldest first: the window.
  std::deque<std::shared_ptr<mqtt::delivery_token>> window_;
};

// Validation beyond the spec, for `processnow check` (templates, TLS and password settings).
void Check(const config::Section& s, config::ErrorList& errors);
UpstreamType UpstreamTypeEntry();

}  // namespace pn::mqtt_upstream
