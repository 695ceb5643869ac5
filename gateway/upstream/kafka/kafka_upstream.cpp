#include "gateway/upstream/kafka/kafka_upstream.h"

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

bool Readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

}  // namespace

Settings FromSection(const Section& s, std::string_view gateway_id, bool read_secrets,
                     config::ErrorList& errors) {
  Settings out;
  const std::string gw = gateway_id.empty() ? std::string("gateway") : std::string(gateway_id);
  const std::size_t errors_before = errors.size();
  // librdkafka checks each property, in the module. Without it, the checks below still run and
  // the one error is the module's.
  std::unique_ptr<KafkaConf> conf;
  if (auto api = LoadKafkaModule(); api) {
    conf = (*api)->new_conf();
  } else {
    s.AddError(errors, "type", api.error().message());
  }

  // Applies one property with rd_kafka_conf_set; reports a rejection at `key`.
  auto set = [&](std::string_view key, const std::string& prop, const std::string& value,
                 bool secret = false) {
    if (conf != nullptr) {
      if (std::string err = conf->Set(prop, value); !err.empty()) {
        s.AddError(errors, key,
                   secret ? "librdkafka rejected the value of " + prop : "librdkafka: " + err);
        return;
      }
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
      if (conf != nullptr) {
        if (std::string err = conf->Set(name, value); !err.empty()) {
          add("librdkafka: " + err);
          continue;
        }
      }
      out.properties.emplace_back(name, value);
    }
  }
  if (errors.size() != errors_before) out.properties.clear();
  return out;
}

Result<std::unique_ptr<Upstream>> Create(std::string name, std::string gateway_id,
                                         Settings settings) {
  auto api = LoadKafkaModule();
  if (!api) return Err(api.error());
  return (*api)->create(std::move(name), std::move(gateway_id), std::move(settings),
                        &AppendWireJson);
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
        return Create(ctx.name, ctx.gateway_id, std::move(settings));
      }};
}

}  // namespace pn::kafka_upstream
