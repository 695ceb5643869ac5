// Fuzzes the MQTT JSON payload parser in both mappings: one value with time, device and series
// fields, and several series (keys and JSON pointers) from one object, one of them a text series.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "drivers/mqtt/payload_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto single = [] {
    pn::mqtt::JsonOptions o;
    o.time = "ts";
    o.device = "id";
    o.series = "name";
    return pn::mqtt::MakeJsonParser(o);
  }();
  static auto multi = [] {
    pn::mqtt::JsonOptions o;
    o.fields = {{"a", "a"}, {"b", "/x/0/b"}, {"c", "/y~1z"}};
    o.text_series = {"b"};
    o.time = "/t";
    o.time_unit = pn::mqtt::TimeUnit::kSeconds;
    return pn::mqtt::MakeJsonParser(o);
  }();
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<pn::mqtt::Decoded> out;
  (void)single->Parse(in, pn::mqtt::TopicFields{"dev", "s"}, out);
  (void)multi->Parse(in, pn::mqtt::TopicFields{"dev", ""}, out);
  return 0;
}
