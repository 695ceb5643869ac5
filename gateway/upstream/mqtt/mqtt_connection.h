// What the two MQTT upstreams (`mqtt` and `sparkplug`) share about their connection to a broker,
// written once: the connection keys (servers, client id, window, timeouts, credentials, TLS),
// their checks and reading, Paho's connect options, clear TLS error messages, and the publish
// window that reports which messages were acknowledged.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "gateway/config/schema.h"
#include "gateway/upstream/upstream.h"

namespace mqtt {
class async_client;
class connect_options;
class message;
class token;
}  // namespace mqtt

namespace pn::mqtt_upstream {

bool IsTlsUri(std::string_view uri);    // ssl://, mqtts://, wss://
bool IsKnownUri(std::string_view uri);  // those and tcp://, mqtt://, ws://

struct ConnectionOptions {
  std::vector<std::string> servers;  // "tcp://host:1883", "ssl://host:8883", ...
  std::string client_id;
  int max_inflight = 64;
  std::chrono::milliseconds publish_timeout{10000};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::seconds keep_alive{30};
  std::string username;
  std::string password;  // secret: never logged
  std::string ca_file, cert_file, key_file;
  bool tls_verify_hostname = true;
  std::vector<std::string> alpn;  // ALPN protocol names offered in the TLS handshake

  bool tls() const;  // some server URI uses TLS
};

// An upstream's table spec: the keys of ConnectionOptions around the upstream's `own` keys, in
// the order the reference config shows them (servers, client_id; own; max_inflight ...
// tls_verify_hostname).
config::TableSpec ConnectionTableSpec(std::string description, std::vector<config::KeySpec> own);

// `processnow check` of those keys: URIs, password_file/password_env, readable TLS files only
// with a TLS URI, key_file with cert_file, and a cert_file that holds a certificate.
void CheckConnection(const config::Section& s, config::ErrorList& errors);

// Reads them (the password through connect::ReadSecret); an empty client_id becomes
// "processnow-GATEWAY-UPSTREAM".
Result<ConnectionOptions> ReadConnection(const config::Section& s, const UpstreamContext& ctx);

// At construction: a warning for tls_verify_hostname = false, an error line for a client
// certificate that has expired or is not yet valid at `clock`'s time (the gateway still starts
// and buffers).
void WarnAboutTls(const std::string& upstream, const ConnectionOptions& o, const Clock& clock);

// Why connecting failed, in words. Paho's TLS error callback feeds OnTlsError(); when Paho gave
// no OpenSSL reason, one diagnostic handshake of our own (ProbeTls, at most once a minute)
// finds the alert the broker sent. Thread-safe.
class ConnectDiagnosis {
 public:
  // `clock` paces the probe (MonotonicNs) and dates certificates (NowNs); both must outlive
  // this.
  ConnectDiagnosis(const ConnectionOptions& o, const Clock& clock) : options_(o), clock_(clock) {}
  void OnTlsError(const std::string& msg);
  void Clear();
  // "cannot connect to the broker: WHAT[: why][ (TLS: openssl reason)]".
  std::string Describe(const std::string& what);

 private:
  std::string ProbeCached();

  const ConnectionOptions& options_;
  const Clock& clock_;
  std::mutex mu_;
  std::string tls_error_;          // guarded by mu_
  bool probed_ = false;            // the probe's last answer and when (the connecting thread only)
  std::int64_t probed_at_ns_ = 0;  // Clock::MonotonicNs()
  std::string probe_result_;
};

// Paho's connect options for `o`: every server in order, the clean-session flag, keep-alive,
// timeouts, the in-flight window, no automatic reconnect (the forwarder paces retries), user,
// password, and TLS (connect::PahoSslOptions) with its errors sent to `diag` (may be null).
// The caller adds its own will.
mqtt::connect_options BuildConnectOptions(const ConnectionOptions& o, bool clean_session,
                                          ConnectDiagnosis* diag);

// Waits for a publish `token` to complete. Returns "" when it did, else why not: the publish
// failed ("publish failed: ..."), `connected` turned false ("connection to the broker lost"), or
// `clock`'s MonotonicNs() reached `deadline_ns` ("no acknowledgement within
// publish_timeout_ms"). Blocks in slices of at most 50 ms of real time, none longer than what is
// left until the deadline, so a lost connection is seen within 50 ms and a FakeClock moved past
// the deadline ends the wait at the next slice. The one wait both publish paths use.
std::string WaitForToken(mqtt::token& token, const Clock& clock, std::int64_t deadline_ns,
                         const std::atomic<bool>& connected);

// Publishes `n` messages in order (make(i) builds the i-th) with at most `window` of them
// unacknowledged, all within `timeout` of `clock`'s monotonic time; acked[i] tells which were
// acknowledged (PUBACK at QoS 1, written at QoS 0), counting acknowledgements that came after a
// failure too. Stops at the first failure: a publish that throws, no acknowledgement by the
// deadline, `connected` turning false, or `may_publish` (checked before each publish)
// returning a reason. Returns "" when every message was acknowledged, else the reason.
std::string PublishWindow(mqtt::async_client& client, std::size_t n,
                          const std::function<std::shared_ptr<mqtt::message>(std::size_t)>& make,
                          std::size_t window, std::chrono::milliseconds timeout, const Clock& clock,
                          const std::atomic<bool>& connected, std::vector<bool>& acked,
                          const std::function<std::string()>& may_publish = {});

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
  std::vector<std::string> alpn = {};
  std::chrono::milliseconds timeout{3000};
};
std::string ProbeTls(const std::string& uri, const TlsProbeOptions& o);

// Why a TLS handshake failed, in words, from the OpenSSL error text Paho reported (the TLS alert
// the broker sent): a missing, expired, untrusted or otherwise refused client certificate
// (followed by DescribeClientCert), or an untrusted broker certificate. "" when not recognised.
std::string ExplainTlsError(const std::string& openssl_error, const std::string& cert_file,
                            std::time_t now);

}  // namespace pn::mqtt_upstream
