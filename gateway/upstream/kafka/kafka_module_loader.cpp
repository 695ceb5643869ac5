// Loads processnow-kafka.so with dlopen (kafka_module.h says why the module exists). The search
// and the checks are the HTTP module's (gateway/health/health_server.cpp).
#include <dlfcn.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "gateway/upstream/kafka/kafka_module.h"

namespace pn::kafka_upstream {
namespace {

// Where to look for the module, in order: beside the executable, then ../lib/processnow/.
std::vector<std::string> ModuleCandidates() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {std::string("/usr/lib/processnow/") + kKafkaModuleFile};
  const auto dir = exe.parent_path();
  return {(dir / kKafkaModuleFile).string(),
          (dir.parent_path() / "lib" / "processnow" / kKafkaModuleFile).string()};
}

Result<const KafkaModuleApi*> Load() {
  std::string tried;
  for (const auto& path : ModuleCandidates()) {
    if (::access(path.c_str(), F_OK) != 0) {
      tried += "\n  " + path + ": " + std::strerror(errno);
      continue;
    }
    // Kept loaded for the life of the process: upstreams hold code from it, and librdkafka's
    // threads outlive nothing but its own handles.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      tried += "\n  " + path + ": " + ::dlerror();
      continue;
    }
    using Entry = const KafkaModuleApi* (*)();
    auto entry = reinterpret_cast<Entry>(::dlsym(handle, kKafkaModuleEntry));
    if (entry == nullptr) {
      tried += "\n  " + path + ": no " + kKafkaModuleEntry + " (not a processnow Kafka module?)";
      ::dlclose(handle);
      continue;
    }
    const KafkaModuleApi* api = entry();
    if (std::strcmp(api->version, PN_VERSION) != 0) {
      tried += "\n  " + path + ": built for processnow " + api->version + ", this is " +
               PN_VERSION + " (a stale install?)";
      ::dlclose(handle);
      continue;
    }
    spdlog::debug("loaded {} (librdkafka {})", path, api->librdkafka_version);
    return api;
  }
  return Err(
      Status::Unavailable(std::string("cannot load the Kafka module ") + kKafkaModuleFile +
                          " (package processnow installs it in /usr/lib/processnow):" + tried));
}

}  // namespace

Result<const KafkaModuleApi*> LoadKafkaModule() {
  static std::once_flag once;
  static Result<const KafkaModuleApi*> loaded = Err(Status::Internal("not loaded"));
  std::call_once(once, [] { loaded = Load(); });
  return loaded;
}

}  // namespace pn::kafka_upstream
