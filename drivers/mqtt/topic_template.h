// TopicTemplate: an MQTT topic filter whose levels may name the device and the series of the
// readings, e.g. "plant/{device}/{series}" or "site/+/{device}/telemetry/#".
//
// A level is a literal, "+" (any one level, ignored), "{device}", "{series}" (any one level,
// captured) or, as the last level only, "#" (any remaining levels). filter() is what is
// subscribed: placeholders become "+". Match() is pure; a TopicTemplate is immutable after Parse
// and safe for concurrent use.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace pn::mqtt {

class TopicTemplate {
 public:
  // Errors: an empty level list, a placeholder that is not a whole level, an unknown
  // placeholder, a placeholder used twice, "#" not last, "+" or "#" inside a level.
  static Result<TopicTemplate> Parse(std::string_view text);

  const std::string& text() const { return text_; }
  const std::string& filter() const { return filter_; }
  bool has_device() const { return device_level_ >= 0; }
  bool has_series() const { return series_level_ >= 0; }

  // Whether `topic` matches; on a match sets `device` and `series` to the captured levels
  // (views into `topic`; left unchanged when the template has no such placeholder).
  bool Match(std::string_view topic, std::string_view& device, std::string_view& series) const;

 private:
  enum class Kind { kLiteral, kAny, kDevice, kSeries };
  struct Level {
    Kind kind;
    std::string literal;
  };
  std::string text_;
  std::string filter_;
  std::vector<Level> levels_;
  bool multi_ = false;  // ends with "#"
  int device_level_ = -1;
  int series_level_ = -1;
};

}  // namespace pn::mqtt
