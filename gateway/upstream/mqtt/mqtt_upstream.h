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
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/upstream/mqtt/mqtt_encoding.h"
#include "gateway/upstream/upstream.h"

namespace mqtt {
class async_client;
}

namespace pn::mqtt_upstream {

struct Options {
  std::vector<std::string> servers;  // "tcp://host:1883", "ssl://host:8883", ...
  std::string client_id;
  bool clean_session = true;
  int qos = 1;
  bool retain = false;
  EncoderOptions encoder;
  std::string status_topic;  // expanded; empty: no birth message and no will
  std::string birth_payload = "online";
  std::string will_payload = "offline";
  int max_inflight = 64;
  std::chrono::milliseconds publish_timeout{10000};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::seconds keep_alive{30};
  std::string username;
  std::string password;  // secret: never logged
  std::string ca_file, cert_file, key_file;
  bool tls_verify_hostname = true;
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

  bool connected() const { return connected_.load(); }

 private:
  Status Connect();
  Status PublishStatus(const std::string& payload, std::chrono::milliseconds timeout);
  std::string TakeTlsError();
  std::string ProbeTlsCached();

  std::string name_;
  Options options_;
  bool tls_ = false;
  std::unique_ptr<mqtt::async_client> client_;
  std::atomic<bool> connected_{false};
  std::mutex error_mu_;
  std::string tls_error_;  // last OpenSSL error reported by Paho, guarded by error_mu_
  Encoded encoded_;
  bool probed_ = false;  // ProbeTlsCached(): the last answer and when (forwarder thread only)
  std::chrono::steady_clock::time_point probed_at_;
  std::string probe_result_;
};

// A client certificate's names and validity, read with OpenSSL (the first PEM certificate of
// `path`). Times are "YYYY-MM-DD HH:MM:SS UTC"; expired/not_yet_valid are relative to `now`.
struct ClientCertInfo {
  std::string subject, issuer, not_before, not_after;
  bool expired = false, not_yet_valid = false;
};
Result<ClientCertInfo> ReadClientCert(const std::string& path, std::time_t now);

// "cert_file PATH: subject ..., issued by ..., valid from ..., not valid after ...[: EXPIRED]".
std::string DescribeClientCert(const std::string& path, std::time_t now);

// One TLS handshake of our own (OpenSSL, the upstream's TLS files) with the broker of `uri`
// (ssl://, mqtts:// or wss://), to learn why Paho's connection failed when Paho reports no
// OpenSSL reason: the OpenSSL error text (the alert the broker sent, e.g. "tlsv13 alert
// certificate required", or the verify error), or "" when the handshake worked or the broker
// is not reachable. Each step (TCP connect, handshake, the read that waits for a late alert) is
// bounded by `timeout`. No MQTT is spoken.
struct TlsProbeOptions {
  std::string ca_file, cert_file, key_file;
  bool verify_hostname = true;
  std::chrono::milliseconds timeout{3000};
};
std::string ProbeTls(const std::string& uri, const TlsProbeOptions& o);

// Why a TLS handshake failed, in words, from the OpenSSL error text Paho reported (the TLS alert
// the broker sent): a missing, expired, untrusted or otherwise refused client certificate
// (followed by DescribeClientCert), or an untrusted broker certificate. "" when not recognised.
std::string ExplainTlsError(const std::string& openssl_error, const std::string& cert_file,
                            std::time_t now);

// Validation beyond the spec, for `processnow check` (templates, TLS and password settings).
void Check(const config::Section& s, config::ErrorList& errors);
UpstreamType UpstreamTypeEntry();

}  // namespace pn::mqtt_upstream
