#include "drivers/mqtt/payload_parsers.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "drivers/serial/line_parsers.h"

namespace pn::mqtt {

namespace {

Status Bad(std::string m) { return Status::InvalidArgument(std::move(m)); }

class PlainParser final : public PayloadParser {
 public:
  Status Parse(std::string_view payload, const TopicFields& topic,
               std::vector<Decoded>& out) override {
    if (topic.series.empty()) return Bad("no series: the topic names none");
    auto v = serial::ParseNumber(payload);
    if (!v) return Bad("not a number");
    out.push_back(Decoded{std::string(topic.device), std::string(topic.series), *v, 0});
    return Status::Ok();
  }
};

// ---- InfluxDB line protocol ----

std::int64_t Scale(TimeUnit u) {
  switch (u) {
    case TimeUnit::kSeconds:
      return 1'000'000'000;
    case TimeUnit::kMilliseconds:
      return 1'000'000;
    case TimeUnit::kMicroseconds:
      return 1'000;
    case TimeUnit::kNanoseconds:
      return 1;
  }
  return 1;
}

// Reads up to an unescaped character of `stops` (a backslash escapes the next character);
// appends the unescaped text to `out` and returns the position of the stop (or end).
std::size_t ReadEscaped(std::string_view s, std::size_t i, std::string_view stops,
                        std::string& out) {
  out.clear();
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      out += s[i + 1];
      i += 2;
      continue;
    }
    if (stops.find(c) != std::string_view::npos) break;
    out += c;
    ++i;
  }
  return i;
}

class LineProtocolParser final : public PayloadParser {
 public:
  explicit LineProtocolParser(LineProtocolOptions o) : o_(std::move(o)) {}

  Status Parse(std::string_view payload, const TopicFields& topic,
               std::vector<Decoded>& out) override {
    const std::size_t start = out.size();
    std::size_t pos = 0;
    int line_no = 0;
    while (pos <= payload.size()) {
      const std::size_t nl = payload.find('\n', pos);
      std::string_view line =
          payload.substr(pos, nl == std::string_view::npos ? payload.npos : nl - pos);
      pos = nl == std::string_view::npos ? payload.size() + 1 : nl + 1;
      ++line_no;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (line.empty() || line.front() == '#') continue;
      Status st = ParseLine(line, topic, out);
      if (!st.ok()) {
        out.resize(start);
        return Bad("line " + std::to_string(line_no) + ": " + st.message());
      }
    }
    return Status::Ok();
  }

 private:
  Status ParseLine(std::string_view line, const TopicFields& topic, std::vector<Decoded>& out) {
    std::size_t i = ReadEscaped(line, 0, ", ", measurement_);
    if (measurement_.empty()) return Bad("no measurement");
    device_.assign(topic.device);
    while (i < line.size() && line[i] == ',') {
      i = ReadEscaped(line, i + 1, "=, ", key_);
      if (i >= line.size() || line[i] != '=' || key_.empty()) return Bad("malformed tag");
      i = ReadEscaped(line, i + 1, ", ", value_);
      if (value_.empty()) return Bad("empty tag value");
      if (key_ == o_.device_tag) device_ = value_;
    }
    if (i >= line.size() || line[i] != ' ') return Bad("no fields");
    ++i;
    const std::size_t first = out.size();
    while (true) {
      i = ReadEscaped(line, i, "=, ", key_);
      if (i >= line.size() || line[i] != '=' || key_.empty()) return Bad("malformed field");
      ++i;
      Decoded& d = out.emplace_back();
      d.device = device_;
      d.series = o_.series_with_measurement ? measurement_ + "_" + key_ : key_;
      if (i < line.size() && line[i] == '"') {
        // String field: up to the closing unescaped quote; \" and \\ are its escapes.
        d.kind = ValueKind::kString;
        d.value = std::numeric_limits<double>::quiet_NaN();
        ++i;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size() &&
              (line[i + 1] == '"' || line[i + 1] == '\\')) {
            ++i;
          }
          d.text += line[i++];
        }
        if (i >= line.size()) return Bad("unterminated string field");
        ++i;
      } else {
        const std::size_t b = i;
        while (i < line.size() && line[i] != ',' && line[i] != ' ') ++i;
        std::string_view t = line.substr(b, i - b);
        if (t == "t" || t == "T" || t == "true" || t == "True" || t == "TRUE") {
          d.kind = ValueKind::kBoolean;
          d.value = 1.0;
        } else if (t == "f" || t == "F" || t == "false" || t == "False" || t == "FALSE") {
          d.kind = ValueKind::kBoolean;
          d.value = 0.0;
        } else {
          if (!t.empty() && (t.back() == 'i' || t.back() == 'u')) {
            t.remove_suffix(1);
            std::int64_t n = 0;
            auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
            if (ec != std::errc() || p != t.data() + t.size() || t.empty()) {
              return Bad("field " + key_ + ": bad integer");
            }
            d.kind = ValueKind::kInt64;
            d.integer = n;
            d.value = static_cast<double>(n);
          } else {
            auto n = serial::ParseNumber(t);
            if (!n || t.empty() || t.front() == ' ') return Bad("field " + key_ + ": bad number");
            d.value = *n;
          }
        }
      }
      if (i < line.size() && line[i] == ',') {
        ++i;
        continue;
      }
      break;
    }
    std::int64_t ts = 0;
    if (i < line.size()) {
      // line[i] == ' ': the timestamp.
      std::string_view t = line.substr(i + 1);
      std::int64_t n = 0;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
      if (t.empty() || ec != std::errc() || p != t.data() + t.size()) return Bad("bad timestamp");
      const std::int64_t scale = Scale(o_.precision);
      if (n > std::numeric_limits<std::int64_t>::max() / scale ||
          n < std::numeric_limits<std::int64_t>::min() / scale) {
        return Bad("timestamp out of range");
      }
      ts = n * scale;
    }
    for (std::size_t k = first; k < out.size(); ++k) out[k].ts_ns = ts;
    return Status::Ok();
  }

  LineProtocolOptions o_;
  std::string measurement_, key_, value_, device_;
};

}  // namespace

bool ParseTimeUnit(std::string_view text, TimeUnit& unit) {
  if (text == "s") {
    unit = TimeUnit::kSeconds;
  } else if (text == "ms") {
    unit = TimeUnit::kMilliseconds;
  } else if (text == "us") {
    unit = TimeUnit::kMicroseconds;
  } else if (text == "ns") {
    unit = TimeUnit::kNanoseconds;
  } else {
    return false;
  }
  return true;
}

std::unique_ptr<PayloadParser> MakePlainParser() { return std::make_unique<PlainParser>(); }

std::unique_ptr<PayloadParser> MakeLineProtocolParser(const LineProtocolOptions& options) {
  return std::make_unique<LineProtocolParser>(options);
}

std::pair<std::string, std::string> ParseFieldMapping(std::string_view entry) {
  const std::size_t eq = entry.find('=');
  if (eq == std::string_view::npos) return {std::string(entry), std::string(entry)};
  return {std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1))};
}

// Time scaling shared with json_payload.cpp.
std::int64_t TimeUnitNs(TimeUnit u) { return Scale(u); }

}  // namespace pn::mqtt
