// The explicit list of upstream types. Add a forwarder here and to upstream/CMakeLists.txt.
#include "gateway/upstream/file/file_upstream.h"
#include "gateway/upstream/kafka/kafka_upstream.h"
#include "gateway/upstream/mqtt/mqtt_upstream.h"
#include "gateway/upstream/sparkplug/sparkplug_upstream.h"
#include "gateway/upstream/upstream.h"

namespace pn {

const std::vector<UpstreamType>& UpstreamTypes() {
  static const std::vector<UpstreamType> types = {
      file_upstream::UpstreamTypeEntry(),
      kafka_upstream::UpstreamTypeEntry(),
      mqtt_upstream::UpstreamTypeEntry(),
      sparkplug::UpstreamTypeEntry(),
  };
  return types;
}

const UpstreamType* FindUpstreamType(std::string_view type) {
  for (const auto& t : UpstreamTypes()) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

}  // namespace pn
