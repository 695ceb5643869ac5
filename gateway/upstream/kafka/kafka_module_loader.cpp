// Loads processnow-kafka.so (kafka_module.h says why the module exists) with the loader every
// processnow module uses (gateway/connect/module_loader.h).
#include <spdlog/spdlog.h>

#include <mutex>

#include "gateway/connect/module_loader.h"
#include "gateway/upstream/kafka/kafka_module.h"

namespace pn::kafka_upstream {

Result<const KafkaModuleApi*> LoadKafkaModule() {
  static std::once_flag once;
  static Result<const KafkaModuleApi*> loaded = Err(Status::Internal("not loaded"));
  std::call_once(once, [] {
    loaded = connect::LoadModule<KafkaModuleApi>(kKafkaModuleFile, kKafkaModuleEntry, "Kafka",
                                                 PN_VERSION);
    if (loaded)
      spdlog::debug("loaded {} (librdkafka {})", kKafkaModuleFile, (*loaded)->librdkafka_version);
  });
  return loaded;
}

}  // namespace pn::kafka_upstream
