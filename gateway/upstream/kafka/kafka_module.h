// The boundary between the processnow binary and its Kafka module, processnow-kafka.so.
//
// Why a module: librdkafka and what it brings (libsasl2, its own threads, its global init) are
// mapped into every process that links it, whether or not it produces anything, and most
// gateways forward to MQTT or a file. The binary does not link librdkafka: kafka_upstream.cpp
// loads the module with dlopen only when a `kafka` upstream is checked or created (`check` as
// well as `run`: each property is checked by librdkafka itself), so a Modbus -> MQTT gateway
// never maps it. The pattern is the HTTP module's (gateway/health/http_module.h).
//
// The module holds everything that calls librdkafka (the producer, and a configuration object to
// check properties with); the binary keeps the keys, their checks and the wire format. Both are
// built from the same tree with the same compiler, so C++ types cross the boundary. The entry
// point's name carries the ABI number and the module reports the version it was built for, which
// the loader checks: a module left over from another install is refused with an error naming
// both versions, rather than called.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/record.h"
#include "core/status.h"
#include "gateway/upstream/upstream.h"

namespace pn::kafka_upstream {

// The settings of one [upstreams.NAME] table of type "kafka", resolved: templates expanded for
// this gateway, the password read. Built from a validated Section by FromSection()
// (kafka_upstream.h).
struct Settings {
  std::string reading_topic;  // topic for readings ("processnow.readings")
  std::string event_topic;    // topic for events ("processnow.events")
  std::int64_t delivery_timeout_ms = 10000;
  // librdkafka properties, in the order they are applied (ours first, then `properties`).
  // Values of secret properties (sasl.password) are never logged or echoed.
  std::vector<std::pair<std::string, std::string>> properties;
};

// A property whose value must never be logged or echoed (sasl.password, ssl.key.password, ...).
inline bool IsSecretProperty(std::string_view prop) {
  return prop.find("password") != std::string_view::npos ||
         prop.find("secret") != std::string_view::npos ||
         prop.find(".pem") != std::string_view::npos;
}

// A librdkafka configuration object (rd_kafka_conf_t), to check properties with. Not
// thread-safe; any thread.
class KafkaConf {
 public:
  virtual ~KafkaConf() = default;
  // Applies one property (rd_kafka_conf_set): "" when librdkafka accepts it, otherwise
  // librdkafka's message.
  virtual std::string Set(const std::string& name, const std::string& value) = 0;
};

// The binary's wire format (pn::AppendWireJson): the module renders each value with it.
using AppendWireJsonFn = void (*)(std::string& out, std::string_view gateway_id, const Record& r);

struct KafkaModuleApi {
  const char* version;             // PN_VERSION the module was built with
  const char* librdkafka_version;  // rd_kafka_version_str() of the library it loaded
  // An empty configuration object.
  std::unique_ptr<KafkaConf> (*new_conf)();
  // The `kafka` upstream (the contract is in kafka_upstream.h): creates the producer
  // (rd_kafka_new: no network yet). Fails with Code::kConfig when librdkafka rejects the
  // combination of properties.
  Result<std::unique_ptr<Upstream>> (*create)(std::string name, std::string gateway_id,
                                              Settings settings, AppendWireJsonFn wire_json);
};

inline constexpr const char* kKafkaModuleFile = "processnow-kafka.so";
inline constexpr const char* kKafkaModuleEntry = "pn_kafka_module_v1";

// Loads the module on first use (later calls return the first outcome; safe from any thread).
// Looks beside the executable, then in ../lib/processnow/ (/usr/lib/processnow/ in the
// package). Errors: Unavailable, naming every file tried and why it was refused (dlerror).
Result<const KafkaModuleApi*> LoadKafkaModule();

}  // namespace pn::kafka_upstream

// The module's only exported symbol (kKafkaModuleEntry).
extern "C" const pn::kafka_upstream::KafkaModuleApi* pn_kafka_module_v1();
