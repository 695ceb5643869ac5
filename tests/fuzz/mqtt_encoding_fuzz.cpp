// Fuzzes the MQTT forwarder's parsers of outside input: topic templates (from the config file)
// and record bodies read back from the store (a damaged database can hold anything), through
// every payload encoder. Input: template text, a NUL byte, then the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/upstream/mqtt/mqtt_encoding.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t nul = in.find('\0');
  std::string_view templ = in.substr(0, nul);
  std::string_view body = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);

  using namespace pn::mqtt_upstream;
  auto t = TopicTemplate::Parse(templ);
  EncoderOptions o;
  o.gateway_id = "gw";
  o.upstream = "up";
  o.topic = t ? *t : *TopicTemplate::Parse("{gateway}/{device}/{series}/{kind}");
  o.batch_max_records = 2;
  std::vector<pn::Record> recs;
  for (std::uint64_t i = 0; i < 3; ++i) {
    pn::Record r;
    r.seq = i + 1;
    r.kind = i == 1 ? pn::RecordKind::kEvent : pn::RecordKind::kReading;
    r.device = std::string(body.substr(0, 8));
    r.series = "s";
    r.body = std::string(body);
    recs.push_back(std::move(r));
  }
  Encoded enc;
  for (PayloadFormat f :
       {PayloadFormat::kJson, PayloadFormat::kJsonBatch, PayloadFormat::kInflux}) {
    o.format = f;
    Encode(recs, o, enc);
    if (enc.message_of.size() != recs.size()) __builtin_trap();
    for (const Message& m : enc.messages) {
      if (m.topic.find_first_of("+#") != std::string::npos) __builtin_trap();
    }
  }
  return 0;
}
