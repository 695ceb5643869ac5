// Fuzzes MQTT topic templates and the plain payload: the input is "TEMPLATE\nTOPIC\nPAYLOAD";
// a template that parses is matched against the topic, and the whole message is decoded by a
// decoder with fixed templates. Checks that captures are levels of the topic.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "drivers/mqtt/message_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static pn::mqtt::MessageDecoder decoder = [] {
    std::vector<pn::mqtt::TopicTemplate> t;
    t.push_back(*pn::mqtt::TopicTemplate::Parse("plant/{device}/{series}"));
    t.push_back(*pn::mqtt::TopicTemplate::Parse("+/{series}/#"));
    return pn::mqtt::MessageDecoder(std::move(t), "gw", "v", pn::mqtt::MakePlainParser());
  }();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t a = in.find('\n');
  if (a == std::string_view::npos) return 0;
  const std::size_t b = in.find('\n', a + 1);
  const std::string_view tmpl = in.substr(0, a);
  const std::string_view topic = in.substr(a + 1, b == in.npos ? in.npos : b - a - 1);
  const std::string_view payload = b == in.npos ? std::string_view() : in.substr(b + 1);
  if (auto t = pn::mqtt::TopicTemplate::Parse(tmpl)) {
    std::string_view dev = "d", ser = "s";
    if (t->Match(topic, dev, ser)) {
      for (std::string_view c : {dev, ser}) {
        if (c != "d" && c != "s" &&
            (c.find('/') != c.npos || c.data() < topic.data() ||
             c.data() + c.size() > topic.data() + topic.size())) {
          std::abort();
        }
      }
    }
  }
  std::vector<pn::Reading> out;
  (void)decoder.Decode(topic, payload, 1, out);
  return 0;
}
