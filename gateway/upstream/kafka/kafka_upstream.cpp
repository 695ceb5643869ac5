#include "gateway/upstream/kafka/kafka_upstream.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include "gateway/connect/secret.h"

namespace pn::kafka_upstream {

namespace {

using config::KeySpec;
using config::Node;
using config::Section;
using config::TableSpec;
using config::ValueType;

constexpr std::int64_t kGraceMs = 3000;      // beyond message.timeout.ms for the last reports
constexpr std::int64_t kPurgeWaitMs = 2000;  // after a purge, for the purge reports
constexpr std::int64_t kStopFlushMs = 5000;

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const TableSpec& PropertiesSpec() {
  static const TableSpec spec{
      "Other librdkafka producer properties, passed through as they are (see librdkafka's "
      "CONFIGURATION.md), for example \"linger.ms\" = 20 or \"batch.size\" = 1000000. Each is "
      "checked by librdkafka when the configuration is checked. The properties the keys above "
      "set, and secrets, are not accepted here.",
      {},
      true};
  return spec;
}

const TableSpec& Spec() {
  static const TableSpec spec{
      "Kafka producer (librdkafka): acks=all, idempotent, keyed by device.",
      {
          {.name = "bootstrap_servers",
           .type = ValueType::kStringList,
           .description = "Kafka brokers to fetch the cluster's metadata from, as host:port.",
           .required = true,
           .example = "[\"kafka-1:9092\", \"kafka-2:9092\"]"},
          {.name = "topic",
           .type = ValueType::kString,
           .default_value = std::string("processnow.readings"),
           .description = "Topic for readings. {gateway} is replaced by the gateway id. Topic "
                          "names are 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'."},
          {.name = "event_topic",
           .type = ValueType::kString,
           .default_value = std::string("processnow.events"),
           .description = "Topic for events (anomalies, alarms, health, RUL). Set it to the "
                          "same as `topic` to keep every record in one topic."},
          {.name = "client_id",
           .type = ValueType::kString,
           .default_value = std::string("processnow-{gateway}"),
           .description = "Client id the brokers see in their logs and quotas. {gateway} is "
                          "replaced by the gateway id."},
          {.name = "compression",
           .type = ValueType::kString,
           .default_value = std::string("lz4"),
           .description = "Compression of message batches.",
           .choices = {"none", "gzip", "snappy", "lz4", "zstd"}},
          {.name = "delivery_timeout_ms",
           .type = ValueType::kInt,
           .default_value = std::int64_t{10000},
           .description = "How long librdkafka tries to deliver a message (message.timeout.ms) "
                          "before the send fails and the forwarder backs off and retries. A "
                          "send to an unreachable cluster takes this long, and a shutdown "
                          "waits for a send in progress.",
           .min = 1000,
           .max = 3600000},
          {.name = "security_protocol",
           .type = ValueType::kString,
           .default_value = std::string("plaintext"),
           .description = "How to talk to the brokers: in the clear, over TLS, with SASL "
                          "authentication, or both.",
           .choices = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"}},
          {.name = "ca_file",
           .type = ValueType::kString,
           .description = "TLS: PEM file of the CA certificates that sign the brokers' "
                          "certificates. Unset: the system's CA store.",
           .example = "\"/etc/processnow/kafka-ca.pem\"",
           .aliases = {"tls_ca_file"}},
          {.name = "cert_file",
           .type = ValueType::kString,
           .description = "TLS: PEM client certificate, for brokers that authenticate clients "
                          "by TLS (with key_file).",
           .example = "\"/etc/processnow/kafka-client.pem\"",
           .aliases = {"tls_cert_file"}},
          {.name = "key_file",
           .type = ValueType::kString,
           .description = "TLS: PEM private key of the client certificate, unencrypted; keep "
                          "it readable by the gateway's user only.",
           .example = "\"/etc/processnow/kafka-client.key\"",
           .aliases = {"tls_key_file"}},
          {.name = "tls_verify_hostname",
           .type = ValueType::kBool,
           .default_value = true,
           .description = "Check that the broker's certificate names the host connected to. "
                          "Turning it off (logged as a warning) lets anyone with a certificate "
                          "from the CA pose as the broker."},
          {.name = "sasl_mechanism",
           .type = ValueType::kString,
           .description = "SASL mechanism, required with the sasl_* protocols.",
           .choices = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"},
           .example = "\"SCRAM-SHA-512\""},
          {.name = "sasl_username",
           .type = ValueType::kString,
           .description = "SASL user name.",
           .example = "\"gateway-7\""},
          {.name = "password_file",
           .type = ValueType::kString,
           .description = "File holding the SASL password (one trailing newline is ignored; "
                          "an empty password is an error). The password is never logged.",
           .example = "\"/etc/processnow/kafka.password\""},
          {.name = "password_env",
           .type = ValueType::kString,
           .description = "Environment variable holding the SASL password, instead of "
                          "password_file; unset or empty is an error.",
           .example = "\"PN_KAFKA_PASSWORD\""},
          {.name = "properties",
           .type = ValueType::kTable,
           .description = "Other librdkafka producer properties (librdkafka's "
                          "CONFIGURATION.md), each checked by librdkafka, for example "
                          "\"linger.ms\" = 20. The properties the keys above set, and secrets, "
                          "are not accepted.",
           .table = &PropertiesSpec()},
      }};
  return spec;
}

// Properties set by the keys above (or fixed): why they are not accepted in `properties`.
std::string ManagedBy(std::string_view prop) {
  static const std::pair<const char*, const char*> kManaged[] = {
      {"bootstrap.servers", "bootstrap_servers"},
      {"metadata.broker.list", "bootstrap_servers"},
      {"acks", ""},
      {"request.required.acks", ""},
      {"enable.idempotence", ""},
      {"compression.codec", "compression"},
      {"compression.type", "compression"},
      {"message.timeout.ms", "delivery_timeout_ms"},
      {"delivery.timeout.ms", "delivery_timeout_ms"},
      {"client.id", "client_id"},
      {"security.protocol", "security_protocol"},
      {"ssl.ca.location", "ca_file"},
      {"ssl.certificate.location", "cert_file"},
      {"ssl.key.location", "key_file"},
      {"ssl.endpoint.identification.algorithm", "tls_verify_hostname"},
      {"sasl.mechanism", "sasl_mechanism"},
      {"sasl.mechanisms", "sasl_mechanism"},
      {"sasl.username", "sasl_username"},
      {"sasl.password", "password_file or password_env"},
  };
  for (const auto& [p, k] : kManaged) {
    if (prop != p) continue;
    if (*k == '\0') {
      return "is fixed: the forwarder always produces with acks=all and "
             "enable.idempotence=true (at-least-once, no reordering on retries)";
    }
    return std::string("is set by the forwarder; use ") + k;
  }
  return {};
}

bool IsSecretProperty(std::string_view prop) {
  return prop.find("password") != std::string_view::npos ||
         prop.find("secret") != std::string_view::npos ||
         prop.find(".pem") != std::string_view::npos;
}

std::string Expand(std::string_view tmpl, std::string_view gateway_id, std::string* error) {
  std::string out;
  for (std::size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] == '{') {
      std::size_t end = tmpl.find('}', i);
      if (end == std::string_view::npos) {
        *error = "unclosed '{' in \"" + std::string(tmpl) + "\"";
        return {};
      }
      std::string_view name = tmpl.substr(i + 1, end - i - 1);
      if (name != "gateway") {
        *error = "unknown placeholder {" + std::string(name) + "}: only {gateway} is known";
        return {};
      }
      out += gateway_id;
      i = end + 1;
      continue;
    }
    out += tmpl[i++];
  }
  return out;
}

std::string CheckTopicName(std::string_view t) {
  if (t.empty()) return "the topic name is empty";
  if (t.size() > 249) return "the topic name is longer than 249 characters";
  if (t == "." || t == "..") return "\"" + std::string(t) + "\" is not a valid topic name";
  for (char c : t) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return "topic \"" + std::string(t) + "\" has the character '" + std::string(1, c) +
             "'; topic names allow only a-z, A-Z, 0-9, '.', '_' and '-'";
    }
  }
  return {};
}

std::string ScalarText(const Node& n, bool* ok) {
  *ok = true;
  switch (n.kind) {
    case Node::Kind::kString:
      return n.str;
    case Node::Kind::kInteger:
      return std::to_string(n.integer);
    case Node::Kind::kBool:
      return n.boolean ? "true" : "false";
    case Node::Kind::kFloat: {
      std::ostringstream os;
      os << n.floating;
      return os.str();
    }
    default:
      *ok = false;
      return {};
  }
}

// Flattens a (possibly nested, from unquoted dotted keys) properties table into
// ("linger.ms", node) pairs in file order.
void Flatten(const Node& table, const std::string& prefix,
             std::vector<std::pair<std::string, const Node*>>& out) {
  for (const auto& [key, value] : table.table) {
    std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_table()) {
      Flatten(value, name, out);
    } else {
      out.emplace_back(std::move(name), &value);
    }
  }
}

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};

bool Readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

}  // namespace

Settings FromSection(const Section& s, std::string_view gateway_id, bool read_secrets,
                     config::ErrorList& errors) {
  Settings out;
  std::unique_ptr<rd_kafka_conf_t, ConfDeleter> conf(rd_kafka_conf_new());
  const std::string gw = gateway_id.empty() ? std::string("gateway") : std::string(gateway_id);
  const std::size_t errors_before = errors.size();

  // Applies one property with rd_kafka_conf_set; reports a rejection at `key`.
  auto set = [&](std::string_view key, const std::string& prop, const std::string& value,
                 bool secret = false) {
    char errstr[512];
    if (rd_kafka_conf_set(conf.get(), prop.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      s.AddError(errors, key,
                 secret ? "librdkafka rejected the value of " + prop
                        : "librdkafka: " + std::string(errstr));
      return;
    }
    out.properties.emplace_back(prop, value);
  };

  // Brokers.
  std::vector<std::string> servers = s.GetStringList("bootstrap_servers");
  std::string joined;
  if (servers.empty()) s.AddError(errors, "bootstrap_servers", "must list at least one broker");
  for (const auto& srv : servers) {
    if (srv.empty() || srv.find_first_of(", \t") != std::string::npos) {
      s.AddError(errors, "bootstrap_servers",
                 "\"" + srv + "\" is not a host:port (one broker per list entry)");
      continue;
    }
    if (!joined.empty()) joined += ',';
    joined += srv;
  }
  if (!joined.empty()) set("bootstrap_servers", "bootstrap.servers", joined);

  // Topics and client id.
  for (const char* key : {"topic", "event_topic"}) {
    std::string err;
    std::string topic = Expand(s.GetString(key), gw, &err);
    if (err.empty()) err = CheckTopicName(topic);
    if (!err.empty()) {
      s.AddError(errors, key, err);
      continue;
    }
    (std::string_view(key) == "topic" ? out.reading_topic : out.event_topic) = topic;
  }
  {
    std::string err;
    std::string client_id = Expand(s.GetString("client_id"), gw, &err);
    if (!err.empty()) {
      s.AddError(errors, "client_id", err);
    } else {
      set("client_id", "client.id", client_id);
    }
  }

  // Delivery guarantees: fixed.
  set("bootstrap_servers", "acks", "all");
  set("bootstrap_servers", "enable.idempotence", "true");
  set("compression", "compression.codec", s.GetString("compression"));
  out.delivery_timeout_ms = s.GetInt("delivery_timeout_ms");
  set("delivery_timeout_ms", "message.timeout.ms", std::to_string(out.delivery_timeout_ms));
  // Defaults the properties table may override: the Java client's partitioner (records of a
  // device land where a Java producer keyed by device would put them), and no Nagle delay
  // (a send waits for its delivery reports; Nagle costs a delayed-ACK round trip per batch).
  set("bootstrap_servers", "partitioner", "murmur2_random");
  set("bootstrap_servers", "socket.nagle.disable", "true");

  // Security.
  const std::string protocol = s.GetString("security_protocol");
  const bool tls = protocol == "ssl" || protocol == "sasl_ssl";
  const bool sasl = protocol == "sasl_plaintext" || protocol == "sasl_ssl";
  set("security_protocol", "security.protocol", protocol);
  for (const auto& [key, prop] :
       {std::pair{"ca_file", "ssl.ca.location"}, std::pair{"cert_file", "ssl.certificate.location"},
        std::pair{"key_file", "ssl.key.location"}}) {
    if (!s.Has(key)) continue;
    if (!tls) {
      s.AddError(errors, key, "has no effect unless security_protocol is \"ssl\" or \"sasl_ssl\"");
      continue;
    }
    std::string path = s.GetString(key);
    if (!Readable(path)) {
      s.AddError(errors, key, "cannot read \"" + path + "\": " + std::strerror(errno));
      continue;
    }
    set(key, prop, path);
  }
  if (s.Has("cert_file") != s.Has("key_file")) {
    s.AddError(errors, s.Has("cert_file") ? "cert_file" : "key_file",
               "cert_file and key_file go together: set both or neither");
  }
  if (s.Has("tls_verify_hostname") && !tls) {
    s.AddError(errors, "tls_verify_hostname",
               "has no effect unless security_protocol is \"ssl\" or \"sasl_ssl\"");
  }
  if (tls) {
    set("tls_verify_hostname", "ssl.endpoint.identification.algorithm",
        s.GetBool("tls_verify_hostname") ? "https" : "none");
  }

  const bool has_file = s.Has("password_file");
  const bool has_env = s.Has("password_env");
  if (!sasl) {
    for (const char* key : {"sasl_mechanism", "sasl_username", "password_file", "password_env"}) {
      if (s.Has(key)) {
        s.AddError(errors, key,
                   "has no effect unless security_protocol is \"sasl_plaintext\" or "
                   "\"sasl_ssl\"");
      }
    }
  } else {
    if (!s.Has("sasl_mechanism")) {
      s.AddError(errors, "security_protocol",
                 "\"" + protocol + "\" needs sasl_mechanism (and sasl_username and a password)");
    } else {
      set("sasl_mechanism", "sasl.mechanism", s.GetString("sasl_mechanism"));
    }
    if (!s.Has("sasl_username")) {
      s.AddError(errors, "security_protocol", "\"" + protocol + "\" needs sasl_username");
    } else {
      set("sasl_username", "sasl.username", s.GetString("sasl_username"));
    }
    if (has_file && has_env) {
      s.AddError(errors, "password_env", "set password_file or password_env, not both");
    } else if (!has_file && !has_env) {
      s.AddError(errors, "security_protocol",
                 "\"" + protocol + "\" needs a password: set password_file or password_env");
    } else if (has_file && !read_secrets) {
      std::string path = s.GetString("password_file");
      if (!Readable(path)) {
        s.AddError(errors, "password_file",
                   "cannot read \"" + path + "\": " + std::strerror(errno));
      }
    } else if (read_secrets) {
      const char* key = has_file ? "password_file" : "password_env";
      auto pw = connect::ReadSecret(
          {.file = s.GetString("password_file"), .env = s.GetString("password_env")});
      if (!pw) {
        errors.Add(s.file(), s.PosOf(key), s.path(), pw.error().message());
      } else {
        set(key, "sasl.password", *pw, true);
      }
    }
  }

  // Pass-through properties, each checked by librdkafka.
  if (auto props = s.GetTable("properties"); props && props->node() != nullptr) {
    std::vector<std::pair<std::string, const Node*>> flat;
    Flatten(*props->node(), "", flat);
    for (const auto& entry : flat) {
      const std::string& name = entry.first;
      const Node* node = entry.second;
      std::string path = props->path() + "." + name;
      auto add = [&](std::string message) {
        errors.Add(s.file(), node->pos, path, std::move(message));
      };
      if (std::string why = ManagedBy(name); !why.empty()) {
        add(std::move(why));
        continue;
      }
      if (IsSecretProperty(name)) {
        add("secrets are not accepted in the configuration file");
        continue;
      }
      bool ok = false;
      std::string value = ScalarText(*node, &ok);
      if (!ok) {
        add("expected a string, number or boolean");
        continue;
      }
      char errstr[512];
      if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof errstr) !=
          RD_KAFKA_CONF_OK) {
        add("librdkafka: " + std::string(errstr));
        continue;
      }
      out.properties.emplace_back(name, value);
    }
  }
  if (errors.size() != errors_before) out.properties.clear();
  return out;
}

namespace {

void DeliveryTrampoline(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  static_cast<KafkaUpstream*>(opaque)->OnDelivery(*msg);
}

void ErrorTrampoline(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  static_cast<KafkaUpstream*>(opaque)->OnError(err, reason);
}

void LogTrampoline(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // Called from librdkafka's threads: touches only the upstream's immutable name (the producer
  // is destroyed before the upstream) and spdlog (thread-safe).
  // Syslog levels. 3 (connection refused, "all brokers are down") is a warning here: the
  // forwarder reports failed sends itself, as errors of the upstream.
  spdlog::level::level_enum lvl = level <= 2   ? spdlog::level::err
                                  : level <= 4 ? spdlog::level::warn
                                  : level <= 6 ? spdlog::level::info
                                               : spdlog::level::debug;
  const auto* up = static_cast<const KafkaUpstream*>(rd_kafka_opaque(rk));
  spdlog::log(lvl, "upstream {}: librdkafka {}: {}", up != nullptr ? up->name() : "?", fac, buf);
}

bool Permanent(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return true;
    default:
      return false;
  }
}

}  // namespace

KafkaUpstream::KafkaUpstream(std::string name, std::string gateway_id, Settings settings)
    : name_(std::move(name)), gateway_id_(std::move(gateway_id)), settings_(std::move(settings)) {}

KafkaUpstream::~KafkaUpstream() { DestroyProducer(); }

Result<std::unique_ptr<KafkaUpstream>> KafkaUpstream::Create(std::string name,
                                                             std::string gateway_id,
                                                             Settings settings) {
  std::unique_ptr<KafkaUpstream> up(
      new KafkaUpstream(std::move(name), std::move(gateway_id), std::move(settings)));
  Status s = up->CreateProducer();
  if (!s.ok()) return Err(s);
  return up;
}

Status KafkaUpstream::CreateProducer() {
  if (rk_ != nullptr) return Status::Ok();
  std::unique_ptr<rd_kafka_conf_t, ConfDeleter> conf(rd_kafka_conf_new());
  char errstr[512];
  for (const auto& [prop, value] : settings_.properties) {
    if (rd_kafka_conf_set(conf.get(), prop.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      return Status::Config(
          prop + ": " + (IsSecretProperty(prop) ? std::string("rejected") : std::string(errstr)));
    }
  }
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), DeliveryTrampoline);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorTrampoline);
  rd_kafka_conf_set_log_cb(conf.get(), LogTrampoline);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) return Status::Config(std::string("cannot create the producer: ") + errstr);
  conf.release();  // rd_kafka_new took it
  rk_ = rk;
  reading_rkt_ = rd_kafka_topic_new(rk_, settings_.reading_topic.c_str(), nullptr);
  event_rkt_ = settings_.event_topic == settings_.reading_topic
                   ? reading_rkt_
                   : rd_kafka_topic_new(rk_, settings_.event_topic.c_str(), nullptr);
  if (reading_rkt_ == nullptr || event_rkt_ == nullptr) {
    Status st = Status::Internal(std::string("cannot create topic handles: ") +
                                 rd_kafka_err2str(rd_kafka_last_error()));
    DestroyProducer();
    return st;
  }
  fatal_ = false;
  return Status::Ok();
}

void KafkaUpstream::DestroyProducer() {
  if (rk_ == nullptr) return;
  // Reports that arrive from here on belong to no batch: OnDelivery ignores them.
  state_.clear();
  outstanding_ = 0;
  if (event_rkt_ != nullptr && event_rkt_ != reading_rkt_) rd_kafka_topic_destroy(event_rkt_);
  if (reading_rkt_ != nullptr) rd_kafka_topic_destroy(reading_rkt_);
  reading_rkt_ = event_rkt_ = nullptr;
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_poll(rk_, 0);
  rd_kafka_destroy(rk_);
  rk_ = nullptr;
}

Status KafkaUpstream::Start() { return CreateProducer(); }

void KafkaUpstream::OnDelivery(const rd_kafka_message_t& msg) {
  auto i = reinterpret_cast<std::uintptr_t>(msg._private);
  if (i >= state_.size() || state_[i] != State::kPending) return;  // not of this batch
  --outstanding_;
  if (msg.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    state_[i] = State::kDelivered;
    return;
  }
  state_[i] = Permanent(msg.err) ? State::kPermanent : State::kTransient;
  reason_[i] = rd_kafka_err2str(msg.err);
}

void KafkaUpstream::OnError(int err, const char* reason) {
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL && rk_ != nullptr) {
    char buf[512];
    rd_kafka_fatal_error(rk_, buf, sizeof buf);
    fatal_ = true;
    last_error_ = std::string("fatal producer error: ") + buf;
    spdlog::error("upstream {}: {}; re-creating the producer", name_, last_error_);
    return;
  }
  last_error_ = reason;
  spdlog::debug("upstream {}: {}: {}", name_, rd_kafka_err2name(code), reason);
}

void KafkaUpstream::Produce(std::span<const Record> records, std::int64_t deadline_ns) {
  char seq_text[24];
  for (std::size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    if (!delivered_beyond_.empty() && delivered_beyond_.count(r.seq) != 0) {
      state_[i] = State::kDelivered;  // acknowledged in the previous send already
      continue;
    }
    value_.clear();
    AppendWireJson(value_, gateway_id_, r);
    auto [end, ec] = std::to_chars(seq_text, seq_text + sizeof seq_text, r.seq);
    (void)ec;
    // App-owned headers (VTYPE_HEADERS): librdkafka 2.0's produceva double-frees headers it
    // built itself (VTYPE_HEADER) when partitioning fails; a failed produce leaves these with us.
    rd_kafka_headers_t* headers = rd_kafka_headers_new(2);
    rd_kafka_header_add(headers, "gateway", -1, gateway_id_.data(),
                        static_cast<ssize_t>(gateway_id_.size()));
    rd_kafka_header_add(headers, "seq", -1, seq_text, static_cast<ssize_t>(end - seq_text));
    rd_kafka_vu_t all[6];
    all[0].vtype = RD_KAFKA_VTYPE_RKT;
    all[0].u.rkt = r.kind == RecordKind::kEvent ? event_rkt_ : reading_rkt_;
    all[1].vtype = RD_KAFKA_VTYPE_KEY;
    all[1].u.mem.ptr = const_cast<char*>(r.device.data());
    all[1].u.mem.size = r.device.size();
    all[2].vtype = RD_KAFKA_VTYPE_VALUE;
    all[2].u.mem.ptr = value_.data();
    all[2].u.mem.size = value_.size();
    all[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    all[3].u.i = RD_KAFKA_MSG_F_COPY;
    all[4].vtype = RD_KAFKA_VTYPE_HEADERS;
    all[4].u.headers = headers;
    all[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
    all[5].u.ptr = reinterpret_cast<void*>(static_cast<std::uintptr_t>(i));
    for (;;) {
      rd_kafka_error_t* error = rd_kafka_produceva(rk_, all, 6);
      if (error == nullptr) {
        ++outstanding_;  // librdkafka owns the headers now
        break;
      }
      rd_kafka_resp_err_t code = rd_kafka_error_code(error);
      std::string what = rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
      if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL && NowNs() < deadline_ns) {
        rd_kafka_poll(rk_, 10);  // serves reports, which frees room
        continue;
      }
      rd_kafka_headers_destroy(headers);
      if (Permanent(code)) {
        state_[i] = State::kPermanent;
        reason_[i] = what;
        break;
      }
      // Transient (queue full until the deadline, fatal, unknown topic): what follows waits
      // for the next send.
      for (std::size_t k = i; k < records.size(); ++k) {
        if (state_[k] != State::kPending) continue;
        state_[k] = State::kTransient;
        reason_[k] = k == i ? what : "not sent: an earlier record failed";
      }
      if (code == RD_KAFKA_RESP_ERR__FATAL) {
        fatal_ = true;
      } else if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        // A topic-level error (authorisation, unknown topic) sticks to librdkafka's cached
        // topic state until its next metadata refresh (minutes): refresh before the retry.
        refresh_metadata_ = true;
      }
      return;
    }
  }
}

void KafkaUpstream::AwaitReports(std::int64_t deadline_ns) {
  while (outstanding_ > 0) {
    std::int64_t left_ms = (deadline_ns - NowNs()) / 1'000'000;
    if (left_ms <= 0) break;
    // flush() sends what lingers at once and serves delivery reports.
    if (rd_kafka_flush(rk_, static_cast<int>(std::min<std::int64_t>(left_ms, 100))) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        outstanding_ > 0) {
      rd_kafka_poll(rk_, 10);
    }
  }
  if (outstanding_ == 0) return;
  // Past the deadline (librdkafka should have timed them out first): purge what is left, so
  // that no report of this batch can arrive during a later one.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  const std::int64_t purge_end = NowNs() + kPurgeWaitMs * 1'000'000;
  while (outstanding_ > 0 && NowNs() < purge_end) rd_kafka_poll(rk_, 50);
  if (outstanding_ > 0) {
    spdlog::warn(
        "upstream {}: {} delivery reports missing after a purge; re-creating the "
        "producer",
        name_, outstanding_);
    for (std::size_t i = 0; i < state_.size(); ++i) {
      if (state_[i] == State::kPending) {
        state_[i] = State::kTransient;
        reason_[i] = "no delivery report";
      }
    }
    std::vector<State> keep = std::move(state_);
    DestroyProducer();
    state_ = std::move(keep);
  }
}

SendResult KafkaUpstream::Outcome(std::span<const Record> records) {
  const std::size_t n = records.size();
  std::size_t d = 0;
  while (d < n && state_[d] == State::kDelivered) ++d;
  std::unordered_set<std::uint64_t> beyond;
  std::size_t delivered_after = 0, permanent = 0, transient = 0;
  for (std::size_t i = d; i < n; ++i) {
    switch (state_[i]) {
      case State::kDelivered:
        beyond.insert(records[i].seq);
        ++delivered_after;
        break;
      case State::kPermanent:
        ++permanent;
        break;
      default:
        if (state_[i] == State::kPending) reason_[i] = "no delivery report in time";
        ++transient;
        break;
    }
  }
  SendResult r;
  r.delivered = d;
  if (d == n) {
    delivered_beyond_.clear();
    r.code = SendCode::kOk;
    return r;
  }
  const Record& first = records[d];
  std::string where =
      "record seq " + std::to_string(first.seq) + " (device \"" + first.device + "\")";
  if (transient == 0) {
    // Everything left was refused for good or delivered: the engine skips the rest.
    delivered_beyond_.clear();
    r.code = SendCode::kError;
    r.error = std::to_string(permanent) + " of " + std::to_string(n) +
              " records refused for good (" + std::to_string(delivered_after) +
              " after the first were delivered), first " + where + ": " + reason_[d];
    return r;
  }
  delivered_beyond_ = std::move(beyond);
  r.code = SendCode::kRetry;
  r.error = std::to_string(transient) + " of " + std::to_string(n) +
            " records not delivered, first " + where + ": " + reason_[d];
  if (!last_error_.empty()) r.error += " (last broker error: " + last_error_ + ")";
  return r;
}

SendResult KafkaUpstream::Send(std::span<const Record> records) {
  if (records.empty()) return {SendCode::kOk, 0, {}};
  if (rk_ == nullptr || fatal_) {
    DestroyProducer();
    Status s = CreateProducer();
    if (!s.ok()) return {SendCode::kRetry, 0, s.message()};
  }
  if (refresh_metadata_) {
    refresh_metadata_ = false;
    const int timeout_ms =
        static_cast<int>(std::min<std::int64_t>(settings_.delivery_timeout_ms, 5000));
    for (rd_kafka_topic_t* rkt : {reading_rkt_, event_rkt_}) {
      const rd_kafka_metadata_t* md = nullptr;
      if (rd_kafka_metadata(rk_, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
      }
      if (event_rkt_ == reading_rkt_) break;
    }
  }
  const std::int64_t deadline = NowNs() + (settings_.delivery_timeout_ms + kGraceMs) * 1'000'000;
  last_error_.clear();
  state_.assign(records.size(), State::kPending);
  reason_.assign(records.size(), std::string());
  outstanding_ = 0;
  Produce(records, deadline);
  AwaitReports(deadline);
  SendResult r = Outcome(records);
  state_.clear();
  if (fatal_) DestroyProducer();
  return r;
}

void KafkaUpstream::Stop() {
  if (rk_ != nullptr) rd_kafka_flush(rk_, static_cast<int>(kStopFlushMs));
  DestroyProducer();
  delivered_beyond_.clear();
}

UpstreamType UpstreamTypeEntry() {
  return UpstreamType{
      .type = "kafka",
      .summary =
          "Kafka producer (librdkafka): acks=all, idempotent, keyed by device, headers "
          "gateway and seq, JSON values.",
      .spec = &Spec(),
      .check =
          [](const Section& s, config::ErrorList& errors) {
            (void)FromSection(s, {}, /*read_secrets=*/false, errors);
          },
      .create = [](const Section& s,
                   const UpstreamContext& ctx) -> pn::Result<std::unique_ptr<Upstream>> {
        config::ErrorList errors;
        Settings settings = FromSection(s, ctx.gateway_id, /*read_secrets=*/true, errors);
        if (!errors.empty()) {
          std::string text = errors.ToString();
          if (!text.empty() && text.back() == '\n') text.pop_back();
          return Err(Status::Config(text));
        }
        if (s.Has("tls_verify_hostname") && !s.GetBool("tls_verify_hostname")) {
          spdlog::warn(
              "upstream {}: tls_verify_hostname = false: the brokers' certificates "
              "are not checked against their host names",
              ctx.name);
        }
        auto up = KafkaUpstream::Create(ctx.name, ctx.gateway_id, std::move(settings));
        if (!up) return Err(up.error());
        return std::unique_ptr<Upstream>(std::move(*up));
      }};
}

}  // namespace pn::kafka_upstream
