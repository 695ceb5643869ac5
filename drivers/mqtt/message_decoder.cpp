#include "drivers/mqtt/message_decoder.h"

namespace pn::mqtt {

Status MessageDecoder::Decode(std::string_view topic, std::string_view payload, std::int64_t now_ns,
                              std::vector<Reading>& out) {
  std::string_view device = device_;
  std::string_view series = series_;
  bool matched = false;
  for (const auto& t : topics_) {
    if (t.Match(topic, device, series)) {
      matched = true;
      break;
    }
  }
  if (!matched) return Status::InvalidArgument("the topic matches no configured topic");
  scratch_.clear();
  Status st = parser_->Parse(payload, TopicFields{device, series}, scratch_);
  if (!st.ok()) return st;
  for (auto& d : scratch_) {
    Reading& r = out.emplace_back();
    r.device = std::move(d.device);
    r.series = std::move(d.series);
    r.value = d.value;
    r.kind = d.kind;
    r.integer = d.integer;
    r.text = std::move(d.text);
    r.quality = Quality::kGood;
    r.ts_ns = d.ts_ns != 0 ? d.ts_ns : now_ns;
    r.source_time = d.ts_ns != 0;  // the payload's own time: our clock's state says nothing of it
  }
  return Status::Ok();
}

}  // namespace pn::mqtt
