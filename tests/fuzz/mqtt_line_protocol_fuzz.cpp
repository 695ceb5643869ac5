// Fuzzes the MQTT InfluxDB line protocol payload parser (two option sets).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "drivers/mqtt/payload_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto ns = pn::mqtt::MakeLineProtocolParser({});
  static auto s = [] {
    pn::mqtt::LineProtocolOptions o;
    o.device_tag = "host";
    o.series_with_measurement = true;
    o.precision = pn::mqtt::TimeUnit::kSeconds;
    return pn::mqtt::MakeLineProtocolParser(o);
  }();
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<pn::mqtt::Decoded> out;
  (void)ns->Parse(in, pn::mqtt::TopicFields{"dev", "s"}, out);
  (void)s->Parse(in, pn::mqtt::TopicFields{"dev", ""}, out);
  return 0;
}
