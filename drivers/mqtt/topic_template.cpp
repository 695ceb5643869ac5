#include "drivers/mqtt/topic_template.h"

namespace pn::mqtt {

Result<TopicTemplate> TopicTemplate::Parse(std::string_view text) {
  TopicTemplate t;
  t.text_ = std::string(text);
  if (text.empty()) return Err(Status::InvalidArgument("the topic is empty"));
  std::size_t pos = 0;
  std::vector<std::string_view> parts;
  while (true) {
    const std::size_t slash = text.find('/', pos);
    parts.push_back(text.substr(pos, slash == std::string_view::npos ? text.npos : slash - pos));
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string_view p = parts[i];
    const int index = static_cast<int>(i);
    if (p == "#") {
      if (i + 1 != parts.size())
        return Err(Status::InvalidArgument("\"#\" must be the last level"));
      t.multi_ = true;
      break;
    }
    if (p == "+") {
      t.levels_.push_back({Kind::kAny, {}});
    } else if (p == "{device}" || p == "{series}") {
      int& slot = p == "{device}" ? t.device_level_ : t.series_level_;
      if (slot >= 0) {
        return Err(Status::InvalidArgument(std::string(p) + " appears twice"));
      }
      slot = index;
      t.levels_.push_back({p == "{device}" ? Kind::kDevice : Kind::kSeries, {}});
    } else {
      if (p.find_first_of("+#") != std::string_view::npos) {
        return Err(Status::InvalidArgument("\"+\" and \"#\" must be whole levels"));
      }
      if (p.find_first_of("{}") != std::string_view::npos) {
        return Err(Status::InvalidArgument(
            "a placeholder must be a whole level and one of {device}, {series}: \"" +
            std::string(p) + "\""));
      }
      t.levels_.push_back({Kind::kLiteral, std::string(p)});
    }
  }
  for (std::size_t i = 0; i < t.levels_.size(); ++i) {
    if (i > 0) t.filter_ += '/';
    t.filter_ += t.levels_[i].kind == Kind::kLiteral ? t.levels_[i].literal : "+";
  }
  if (t.multi_) t.filter_ += t.levels_.empty() ? "#" : "/#";
  return t;
}

bool TopicTemplate::Match(std::string_view topic, std::string_view& device,
                          std::string_view& series) const {
  std::string_view dev = device;
  std::string_view ser = series;
  std::size_t pos = 0;
  for (std::size_t i = 0; i < levels_.size(); ++i) {
    if (pos > topic.size()) return false;  // fewer levels than the template
    const std::size_t slash = topic.find('/', pos);
    const std::size_t end = slash == std::string_view::npos ? topic.size() : slash;
    const std::string_view level = topic.substr(pos, end - pos);
    switch (levels_[i].kind) {
      case Kind::kLiteral:
        if (level != levels_[i].literal) return false;
        break;
      case Kind::kAny:
        break;
      case Kind::kDevice:
        if (level.empty()) return false;
        dev = level;
        break;
      case Kind::kSeries:
        if (level.empty()) return false;
        ser = level;
        break;
    }
    pos = end + 1;  // past the slash (or past the end)
  }
  // All template levels consumed: the topic must end here unless "#" takes the rest
  // ("a/#" also matches "a", as MQTT says).
  if (!multi_ && pos <= topic.size()) return false;
  device = dev;
  series = ser;
  return true;
}

}  // namespace pn::mqtt
