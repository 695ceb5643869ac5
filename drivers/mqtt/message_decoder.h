// MessageDecoder: one MQTT message (topic + payload) to readings, without any network.
//
// The topic is matched against the configured templates in order; the first match gives device
// and series (placeholders), falling back to the defaults. The payload parser then makes the
// readings; those without a time from the payload are stamped with `now_ns`. Pure apart from the
// parser's scratch memory. Thread-safety: one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.h"
#include "drivers/mqtt/payload_parsers.h"
#include "drivers/mqtt/topic_template.h"

namespace pn::mqtt {

class MessageDecoder {
 public:
  // REQUIRES: !topics.empty(), !default_device.empty(), parser != nullptr.
  MessageDecoder(std::vector<TopicTemplate> topics, std::string default_device,
                 std::string default_series, std::unique_ptr<PayloadParser> parser)
      : topics_(std::move(topics)),
        device_(std::move(default_device)),
        series_(std::move(default_series)),
        parser_(std::move(parser)) {}

  // Appends the readings of one message to `out`, or returns why it could not (and appends
  // nothing).
  Status Decode(std::string_view topic, std::string_view payload, std::int64_t now_ns,
                std::vector<Reading>& out);

  const std::vector<TopicTemplate>& topics() const { return topics_; }

 private:
  std::vector<TopicTemplate> topics_;
  std::string device_;
  std::string series_;
  std::unique_ptr<PayloadParser> parser_;
  std::vector<Decoded> scratch_;
};

}  // namespace pn::mqtt
