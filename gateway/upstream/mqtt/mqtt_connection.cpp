#include "gateway/upstream/mqtt/mqtt_connection.h"

#include <arpa/inet.h>
#include <mqtt/async_client.h>
#include <netdb.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "gateway/connect/paho_tls.h"
#include "gateway/connect/secret.h"

namespace pn::mqtt_upstream {

namespace {

using config::ValueType;
using std::chrono::milliseconds;

// The clock's wall time in whole seconds, for certificate validity.
std::time_t EpochSeconds(const Clock& clock) {
  return static_cast<std::time_t>(clock.NowNs() / 1'000'000'000);
}

std::string Lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string NameText(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "?";
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(std::max(0L, n)));
  BIO_free(bio);
  return out;
}

std::string TimeText(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// The OpenSSL error queue of this thread as "reason; reason", emptied.
std::string TakeOpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

// A TCP socket connected to host:port within `timeout` (SO_SNDTIMEO bounds connect on Linux),
// reads bounded by `timeout` too; -1 when it cannot connect.
int ConnectTcp(const std::string& host, const std::string& port, milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return -1;
  int fd = -1;
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  return fd;
}

}  // namespace

bool IsTlsUri(std::string_view uri) {
  return uri.starts_with("ssl://") || uri.starts_with("mqtts://") || uri.starts_with("wss://");
}

bool IsKnownUri(std::string_view uri) {
  return uri.starts_with("tcp://") || uri.starts_with("mqtt://") || uri.starts_with("ws://") ||
         IsTlsUri(uri);
}

bool ConnectionOptions::tls() const {
  return std::any_of(servers.begin(), servers.end(), IsTlsUri);
}

namespace {

std::vector<config::KeySpec> ConnectionHeadKeys() {
  return {
      {.name = "servers",
       .type = ValueType::kStringList,
       .description = "Broker URIs, tried in order until one accepts the connection: "
                      "tcp://HOST:PORT (or mqtt://) in the clear, ssl://HOST:PORT (or "
                      "mqtts://) with TLS.",
       .required = true,
       .example = "[\"tcp://127.0.0.1:1883\"]"},
      {.name = "client_id",
       .type = ValueType::kString,
       .default_value = std::string(""),
       .description = "MQTT client identifier, unique on the broker. Empty means "
                      "\"processnow-GATEWAY-UPSTREAM\"."},
  };
}

std::vector<config::KeySpec> ConnectionTailKeys() {
  return {
      {.name = "max_inflight",
       .type = ValueType::kInt,
       .default_value = std::int64_t{64},
       .description = "Most messages published and not yet acknowledged at any time.",
       .min = 1,
       .max = 65535},
      {.name = "publish_timeout_ms",
       .type = ValueType::kInt,
       .default_value = std::int64_t{10000},
       .description = "How long one send waits for the acknowledgements of its messages "
                      "before it gives up and retries the unacknowledged records.",
       .min = 100,
       .max = 600000},
      {.name = "connect_timeout_ms",
       .type = ValueType::kInt,
       .default_value = std::int64_t{5000},
       .description = "How long a connection attempt (TCP, TLS and MQTT handshakes) may take.",
       .min = 100,
       .max = 600000},
      {.name = "keep_alive_s",
       .type = ValueType::kInt,
       .default_value = std::int64_t{30},
       .description = "MQTT keep-alive interval: a dead connection is noticed after about "
                      "1.5 times this (and the broker then publishes the last will).",
       .min = 1,
       .max = 65535},
      {.name = "username",
       .type = ValueType::kString,
       .default_value = std::string(""),
       .description = "User name for the broker. Empty: no user name."},
      {.name = "password_file",
       .type = ValueType::kString,
       .default_value = std::string(""),
       .description = "File holding the password (one trailing newline is ignored; an "
                      "empty password is an error). Never logged."},
      {.name = "password_env",
       .type = ValueType::kString,
       .default_value = std::string(""),
       .description = "Environment variable holding the password, instead of "
                      "password_file; unset or empty is an error. Never logged."},
      {.name = "ca_file",
       .type = ValueType::kString,
       .default_value = std::string(""),
       .description = "TLS: PEM file of the certificate authorities that sign the broker's "
                      "certificate. Empty: the system's trust store."},
      {.name = "cert_file",
       .type = ValueType::kString,
       .default_value = std::string(""),
       .description = "TLS: PEM file of the client certificate (and chain), for brokers "
                      "that require client certificates."},
      {.name = "key_file",
       .type = ValueType::kString,
       .default_value = std::string(""),
       .description = "TLS: PEM file of the client certificate's private key. Empty: the "
                      "key is in cert_file."},
      {.name = "alpn",
       .type = ValueType::kStringList,
       .default_value = std::vector<std::string>{},
       .description = "TLS: ALPN protocol names to offer in the handshake. AWS IoT Core on "
                      "port 443 needs [\"x-amzn-mqtt-ca\"]; empty offers none."},
      {.name = "tls_verify_hostname",
       .type = ValueType::kBool,
       .default_value = true,
       .description = "TLS: check that the broker's certificate names the host in the URI. "
                      "Turning it off lets anyone with a certificate from the CA pose as "
                      "the broker; the gateway logs a warning."},
  };
}

}  // namespace

config::TableSpec ConnectionTableSpec(std::string description, std::vector<config::KeySpec> own) {
  config::TableSpec t{std::move(description), ConnectionHeadKeys()};
  for (config::KeySpec& k : own) t.keys.push_back(std::move(k));
  for (config::KeySpec& k : ConnectionTailKeys()) t.keys.push_back(std::move(k));
  return t;
}

void CheckConnection(const config::Section& s, config::ErrorList& errors) {
  auto servers = s.GetStringList("servers");
  bool any_tls = false;
  if (servers.empty()) s.AddError(errors, "servers", "must name at least one broker URI");
  for (const auto& uri : servers) {
    if (!IsKnownUri(uri)) {
      s.AddError(errors, "servers",
                 "\"" + uri + "\" is not tcp://, mqtt://, ssl://, mqtts://, ws:// or wss://");
    }
    any_tls = any_tls || IsTlsUri(uri);
  }
  if (s.Has("password_file") && s.Has("password_env")) {
    s.AddError(errors, "password_env", "set password_file or password_env, not both");
  }
  if (std::string f = s.GetString("password_file"); !f.empty() && ::access(f.c_str(), R_OK) != 0) {
    s.AddError(errors, "password_file", "cannot read \"" + f + "\": " + std::strerror(errno));
  }
  for (const char* key : {"ca_file", "cert_file", "key_file"}) {
    std::string f = s.GetString(key);
    if (f.empty()) continue;
    if (!any_tls) {
      s.AddError(errors, key, "TLS file given but no server URI uses TLS (ssl:// or mqtts://)");
    }
    if (::access(f.c_str(), R_OK) != 0) {
      s.AddError(errors, key, "cannot read \"" + f + "\": " + std::strerror(errno));
    }
  }
  if (!s.GetStringList("alpn").empty() && !any_tls) {
    s.AddError(errors, "alpn", "ALPN is part of TLS, but no server URI uses TLS");
  }
  for (const std::string& p : s.GetStringList("alpn")) {
    if (p.empty() || p.size() > 255) {
      s.AddError(errors, "alpn",
                 "a protocol name is 1 to 255 bytes, got " + std::to_string(p.size()));
    }
  }
  if (!s.GetString("key_file").empty() && s.GetString("cert_file").empty()) {
    s.AddError(errors, "key_file", "key_file needs cert_file");
  }
  if (std::string f = s.GetString("cert_file"); !f.empty() && ::access(f.c_str(), R_OK) == 0) {
    // Dates are not errors here: a certificate that expires while the gateway runs must not
    // stop it from starting (it keeps buffering); the upstream logs them at start instead.
    if (Result<ClientCertInfo> c = ReadClientCert(f, EpochSeconds(SystemClock::Instance())); !c) {
      s.AddError(errors, "cert_file", c.error().message());
    }
  }
}

Result<ConnectionOptions> ReadConnection(const config::Section& s, const UpstreamContext& ctx) {
  ConnectionOptions o;
  o.servers = s.GetStringList("servers");
  if (o.servers.empty()) return Err(Status::Config("servers: no broker URI"));
  o.client_id = s.GetString("client_id");
  if (o.client_id.empty()) o.client_id = "processnow-" + ctx.gateway_id + "-" + ctx.name;
  o.max_inflight = static_cast<int>(s.GetInt("max_inflight"));
  o.publish_timeout = milliseconds(s.GetInt("publish_timeout_ms"));
  o.connect_timeout = milliseconds(s.GetInt("connect_timeout_ms"));
  o.keep_alive = std::chrono::seconds(s.GetInt("keep_alive_s"));
  o.username = s.GetString("username");
  auto pw = connect::ReadSecret(
      {.file = s.GetString("password_file"), .env = s.GetString("password_env")});
  if (!pw) return Err(pw.error());
  o.password = std::move(*pw);
  o.ca_file = s.GetString("ca_file");
  o.cert_file = s.GetString("cert_file");
  o.key_file = s.GetString("key_file");
  o.tls_verify_hostname = s.GetBool("tls_verify_hostname");
  o.alpn = s.GetStringList("alpn");
  return o;
}

void WarnAboutTls(const std::string& upstream, const ConnectionOptions& o, const Clock& clock) {
  if (!o.tls()) return;
  if (!o.tls_verify_hostname) {
    spdlog::warn(
        "upstream {}: tls_verify_hostname = false: the broker's certificate is not checked "
        "against its host name, so anyone holding a certificate from the CA can pose as it",
        upstream);
  }
  if (!o.cert_file.empty()) {
    const std::time_t now = EpochSeconds(clock);
    Result<ClientCertInfo> c = ReadClientCert(o.cert_file, now);
    if (c && (c->expired || c->not_yet_valid)) {
      spdlog::error("upstream {}: {}: brokers that check client certificates will refuse it",
                    upstream, DescribeClientCert(o.cert_file, now));
    }
  }
}

void ConnectDiagnosis::OnTlsError(const std::string& msg) {
  std::lock_guard lock(mu_);
  tls_error_ = msg;
}

void ConnectDiagnosis::Clear() {
  std::lock_guard lock(mu_);
  tls_error_.clear();
}

std::string ConnectDiagnosis::ProbeCached() {
  // Paho reports no OpenSSL reason when the broker refuses the client certificate after the
  // handshake (TLS 1.3) or closes the connection, so one handshake of our own finds the alert.
  // At most once a minute: the retries in between reuse its answer.
  const std::int64_t now = clock_.MonotonicNs();
  if (probed_ && now - probed_at_ns_ < std::chrono::nanoseconds(std::chrono::minutes(1)).count()) {
    return probe_result_;
  }
  TlsProbeOptions po{.ca_file = options_.ca_file,
                     .cert_file = options_.cert_file,
                     .key_file = options_.key_file,
                     .verify_hostname = options_.tls_verify_hostname,
                     .alpn = options_.alpn,
                     .timeout = std::min(options_.connect_timeout, milliseconds(3000))};
  probe_result_.clear();
  for (const std::string& uri : options_.servers) {
    if (!IsTlsUri(uri)) continue;
    probe_result_ = ProbeTls(uri, po);
    if (!probe_result_.empty()) break;
  }
  probed_ = true;
  probed_at_ns_ = now;
  return probe_result_;
}

std::string ConnectDiagnosis::Describe(const std::string& what) {
  std::string tls;
  {
    std::lock_guard lock(mu_);
    tls = std::move(tls_error_);
    tls_error_.clear();
  }
  std::string msg = "cannot connect to the broker: " + what;
  while (!tls.empty() && (tls.back() == '\n' || tls.back() == '\r')) tls.pop_back();
  const bool use_tls = options_.tls();
  if (tls.empty() && use_tls) tls = ProbeCached();
  if (!tls.empty()) {
    std::string why = ExplainTlsError(tls, options_.cert_file, EpochSeconds(clock_));
    if (!why.empty()) msg += ": " + why;
    msg += " (TLS: " + tls + ")";
  } else if (use_tls) {
    // Paho checks the host name after the handshake and reports no OpenSSL error for it.
    msg +=
        " (if the broker is up: the TLS handshake failed or its certificate does not name "
        "the host of the URI)";
  }
  return msg;
}

mqtt::connect_options BuildConnectOptions(const ConnectionOptions& o, bool clean_session,
                                          ConnectDiagnosis* diag) {
  mqtt::connect_options_builder b;
  b.servers(std::make_shared<mqtt::string_collection>(o.servers))
      .clean_session(clean_session)
      .keep_alive_interval(o.keep_alive)
      .connect_timeout(o.connect_timeout)
      .max_inflight(o.max_inflight)
      .automatic_reconnect(false);
  if (!o.username.empty()) b.user_name(o.username);
  if (!o.password.empty()) b.password(o.password);
  if (o.tls()) {
    std::function<void(const std::string&)> on_error;
    if (diag != nullptr) on_error = [diag](const std::string& msg) { diag->OnTlsError(msg); };
    b.ssl(connect::PahoSslOptions({.ca_file = o.ca_file,
                                   .cert_file = o.cert_file,
                                   .key_file = o.key_file,
                                   .verify_hostname = o.tls_verify_hostname,
                                   .alpn = o.alpn},
                                  on_error));
  }
  return b.finalize();
}

std::string WaitForToken(mqtt::token& token, const Clock& clock, std::int64_t deadline_ns,
                         const std::atomic<bool>& connected) {
  constexpr std::int64_t kSliceNs = 50'000'000;
  for (;;) {
    const std::int64_t left_ns =
        std::clamp<std::int64_t>(deadline_ns - clock.MonotonicNs(), 0, kSliceNs);
    try {
      if (token.wait_for(milliseconds((left_ns + 999'999) / 1'000'000))) return "";
    } catch (const std::exception& e) {
      return std::string("publish failed: ") + e.what();
    }
    if (!connected) return "connection to the broker lost";
    if (clock.MonotonicNs() >= deadline_ns) return "no acknowledgement within publish_timeout_ms";
  }
}

std::string PublishWindow(mqtt::async_client& client, std::size_t n,
                          const std::function<std::shared_ptr<mqtt::message>(std::size_t)>& make,
                          std::size_t window, milliseconds timeout, const Clock& clock,
                          const std::atomic<bool>& connected, std::vector<bool>& acked,
                          const std::function<std::string()>& may_publish) {
  const std::int64_t deadline_ns = clock.MonotonicNs() + std::chrono::nanoseconds(timeout).count();
  std::vector<mqtt::delivery_token_ptr> tokens(n);
  acked.assign(n, false);
  std::string error;
  // Waits for token i until the deadline; false (with `error` set) when it did not complete.
  auto wait_one = [&](std::size_t i) -> bool {
    error = WaitForToken(*tokens[i], clock, deadline_ns, connected);
    acked[i] = error.empty();
    return acked[i];
  };
  std::size_t published = 0, waited = 0;
  bool failed = false;
  for (; published < n && !failed; ++published) {
    while (published - waited >= window) {
      if (!wait_one(waited)) {
        failed = true;
        break;
      }
      ++waited;
    }
    if (failed) break;
    if (may_publish) {
      error = may_publish();
      if (!error.empty()) {
        failed = true;
        break;
      }
    }
    try {
      tokens[published] = client.publish(make(published));
    } catch (const std::exception& e) {
      error = std::string("publish failed: ") + e.what();
      failed = true;
      break;
    }
  }
  while (!failed && waited < published) {
    if (!wait_one(waited)) {
      failed = true;
      break;
    }
    ++waited;
  }
  // Acknowledgements that arrived after the first failure still count.
  for (std::size_t i = waited; i < published; ++i) {
    try {
      if (tokens[i] && tokens[i]->try_wait()) acked[i] = true;
    } catch (const std::exception&) {
    }
  }
  if (!failed) return "";
  return error.empty() ? "not every message was acknowledged" : error;
}

std::string ProbeTls(const std::string& uri, const TlsProbeOptions& o) {
  // ssl://HOST:PORT, mqtts://HOST:PORT, wss://HOST:PORT/path; HOST may be [IPv6].
  std::string_view rest = uri;
  const bool wss = rest.starts_with("wss://");
  if (auto p = rest.find("://"); p != std::string_view::npos) rest.remove_prefix(p + 3);
  rest = rest.substr(0, rest.find('/'));
  std::string host, port = wss ? "443" : "8883";
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return "";
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else {
    auto colon = rest.rfind(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  int fd = ConnectTcp(host, port, o.timeout);
  if (fd < 0) return "";  // the broker is not reachable: not a TLS problem
  ERR_clear_error();
  std::string result;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = nullptr;
  auto fail = [&](const std::string& what) { result = what + ": " + TakeOpenSslErrors(); };
  if (ctx == nullptr) {
    fail("cannot create a TLS context");
  } else if (!o.ca_file.empty() &&
             SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1) {
    fail("cannot load ca_file " + o.ca_file);
  } else if (o.ca_file.empty() && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    fail("cannot load the system's trust store");
  } else if (!o.cert_file.empty() &&
             SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1) {
    fail("cannot load cert_file " + o.cert_file);
  } else if (!o.cert_file.empty() &&
             SSL_CTX_use_PrivateKey_file(ctx,
                                         (o.key_file.empty() ? o.cert_file : o.key_file).c_str(),
                                         SSL_FILETYPE_PEM) != 1) {
    fail("cannot load the client certificate's key (key_file) or it does not match cert_file");
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    in6_addr ip{};
    const bool is_ip = ::inet_pton(AF_INET, host.c_str(), &ip) == 1 ||
                       ::inet_pton(AF_INET6, host.c_str(), &ip) == 1;
    if (!is_ip) {  // SNI; SSL_set_tlsext_host_name() is a macro with a C cast
      SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(host.c_str()));
    }
    if (o.verify_hostname) SSL_set1_host(ssl, host.c_str());
    if (!o.alpn.empty()) {  // as Paho offers it: a 443 endpoint may refuse a handshake without
      std::basic_string<unsigned char> wire;  // length-prefixed names, the wire format
      for (const std::string& p : o.alpn) {
        wire += static_cast<unsigned char>(p.size());
        wire.append(p.begin(), p.end());
      }
      SSL_set_alpn_protos(ssl, wire.data(), static_cast<unsigned>(wire.size()));
    }
    if (SSL_connect(ssl) != 1) {
      long v = SSL_get_verify_result(ssl);
      result = TakeOpenSslErrors();
      if (v != X509_V_OK) {
        result += std::string(result.empty() ? "" : "; ") +
                  "verify error: " + X509_verify_cert_error_string(v);
      }
    } else {
      // TLS 1.3: the broker checks the client certificate after the client's handshake is
      // done, and a refusal arrives as an alert on the first read. Silence (a read that times
      // out) or data means it accepted the certificate.
      char byte;
      if (SSL_read(ssl, &byte, 1) <= 0) result = TakeOpenSslErrors();
    }
  }
  if (ssl != nullptr) SSL_free(ssl);
  if (ctx != nullptr) SSL_CTX_free(ctx);
  ::close(fd);
  ERR_clear_error();
  return result;
}

Result<ClientCertInfo> ReadClientCert(const std::string& path, std::time_t now) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (bio == nullptr) {
    return Err(Status::Config("cannot read \"" + path + "\": " + std::strerror(errno)));
  }
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) {
    return Err(Status::Config("\"" + path + "\" holds no PEM certificate"));
  }
  ClientCertInfo info;
  info.subject = NameText(X509_get_subject_name(cert));
  info.issuer = NameText(X509_get_issuer_name(cert));
  info.not_before = TimeText(X509_get0_notBefore(cert));
  info.not_after = TimeText(X509_get0_notAfter(cert));
  // X509_cmp_time: -1 when the certificate's time is before `now`, 1 after, 0 on error.
  info.expired = X509_cmp_time(X509_get0_notAfter(cert), &now) < 0;
  info.not_yet_valid = X509_cmp_time(X509_get0_notBefore(cert), &now) > 0;
  X509_free(cert);
  return info;
}

std::string DescribeClientCert(const std::string& path, std::time_t now) {
  Result<ClientCertInfo> c = ReadClientCert(path, now);
  if (!c) return "cert_file " + c.error().message();
  std::string out = "cert_file " + path + ": subject " + c->subject + ", issued by " + c->issuer +
                    ", valid from " + c->not_before + ", not valid after " + c->not_after;
  if (c->expired) out += ": EXPIRED";
  if (c->not_yet_valid) out += ": NOT YET VALID (is the clock right?)";
  return out;
}

std::string ExplainTlsError(const std::string& openssl_error, const std::string& cert_file,
                            std::time_t now) {
  const std::string e = Lower(openssl_error);
  auto has = [&](const char* s) { return e.find(s) != std::string::npos; };
  if (has("alert certificate required") || (cert_file.empty() && has("alert handshake failure"))) {
    return cert_file.empty() ? "the broker requires a client certificate: set cert_file and "
                               "key_file"
                             : "the broker requires a client certificate and did not get one; " +
                                   DescribeClientCert(cert_file, now);
  }
  std::string why;
  if (has("alert certificate expired")) {
    why = "it has expired (or is not yet valid)";
  } else if (has("alert unknown ca")) {
    why = "it does not trust the CA that issued it";
  } else if (has("alert certificate revoked")) {
    why = "it was revoked";
  } else if (has("alert bad certificate") || has("alert certificate unknown") ||
             has("alert unsupported certificate") || has("alert access denied") ||
             has("alert decrypt error")) {
    why = "it was not accepted";
  }
  if (!why.empty()) {
    std::string out = "the broker refused the client certificate: " + why;
    if (!cert_file.empty()) out += "; " + DescribeClientCert(cert_file, now);
    return out;
  }
  if (has("hostname mismatch") || has("ip address mismatch")) {
    return "the broker's certificate does not name the host of the URI (its subjectAltName "
           "must hold that DNS name or IP address)";
  }
  if (has("certificate verify failed")) {
    return "the broker's certificate was not accepted: check ca_file and the broker's chain";
  }
  return "";
}

}  // namespace pn::mqtt_upstream
