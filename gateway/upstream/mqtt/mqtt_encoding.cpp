#include "gateway/upstream/mqtt/mqtt_encoding.h"

#include <fmt/format.h>
#include <simdjson.h>  // heavy header: included by this file only

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <optional>
#include <unordered_map>

namespace pn::mqtt_upstream {

namespace {

struct PlaceholderName {
  std::string_view name;
  Placeholder placeholder;
};

constexpr std::array<PlaceholderName, 6> kPlaceholders = {{
    {"gateway", Placeholder::kGateway},
    {"upstream", Placeholder::kUpstream},
    {"device", Placeholder::kDevice},
    {"series", Placeholder::kSeries},
    {"type", Placeholder::kType},
    {"kind", Placeholder::kKind},
}};

constexpr std::array<Placeholder, 6> kAll = {Placeholder::kGateway, Placeholder::kUpstream,
                                             Placeholder::kDevice,  Placeholder::kSeries,
                                             Placeholder::kType,    Placeholder::kKind};

std::string_view ValueOf(const TopicValues& v, Placeholder p) {
  switch (p) {
    case Placeholder::kGateway:
      return v.gateway;
    case Placeholder::kUpstream:
      return v.upstream;
    case Placeholder::kDevice:
      return v.device;
    case Placeholder::kSeries:
      return v.series;
    case Placeholder::kType:
      return v.type;
    case Placeholder::kKind:
      return v.kind;
  }
  return {};
}

// The body of a record, as far as the influx encoder needs it.
struct BodyFields {
  std::string unit, quality, rule, kind, severity, message, value_type, clock;
  std::optional<double> value, score, health, rul;
  // A reading's value in its kind ("value_type"): an exact integer, a boolean or a text.
  std::optional<std::int64_t> integer;
  std::optional<bool> boolean;
  std::optional<std::string> text;
};

// Reads the flat JSON object the store keeps as a record's body. False when it is not one.
bool ParseBody(std::string_view body, BodyFields& f) {
  thread_local simdjson::ondemand::parser parser;
  thread_local std::string scratch;
  scratch.assign(body);
  scratch.append(simdjson::SIMDJSON_PADDING, ' ');
  simdjson::ondemand::document doc;
  if (parser.iterate(scratch.data(), body.size(), scratch.size()).get(doc)) return false;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    simdjson::ondemand::value val;
    if (field.value().get(val)) return false;
    simdjson::ondemand::json_type type;
    if (val.type().get(type)) return false;
    std::optional<double>* num = nullptr;
    std::string* str = nullptr;
    if (key == "value")
      num = &f.value;
    else if (key == "score")
      num = &f.score;
    else if (key == "health")
      num = &f.health;
    else if (key == "rul")
      num = &f.rul;
    else if (key == "unit")
      str = &f.unit;
    else if (key == "quality")
      str = &f.quality;
    else if (key == "clock")
      str = &f.clock;
    else if (key == "rule")
      str = &f.rule;
    else if (key == "kind")
      str = &f.kind;
    else if (key == "severity")
      str = &f.severity;
    else if (key == "message")
      str = &f.message;
    else if (key == "value_type")
      str = &f.value_type;
    if (num == &f.value && type == simdjson::ondemand::json_type::number) {
      simdjson::ondemand::number n;
      if (val.get_number().get(n)) return false;
      if (n.is_int64()) f.integer = n.get_int64();
      *num = n.as_double();
    } else if (num == &f.value && type == simdjson::ondemand::json_type::boolean) {
      bool b = false;
      if (val.get_bool().get(b)) return false;
      f.boolean = b;
    } else if (num == &f.value && type == simdjson::ondemand::json_type::string) {
      std::string_view t;
      if (val.get_string().get(t)) return false;
      f.text.emplace(t);
    } else if (num != nullptr && type == simdjson::ondemand::json_type::number) {
      double d = 0;
      if (val.get_double().get(d)) return false;
      *num = d;
    } else if (str != nullptr && type == simdjson::ondemand::json_type::string) {
      std::string_view s;
      if (val.get_string().get(s)) return false;
      str->assign(s);
    }
    // Anything else is skipped by the iteration.
  }
  return true;
}

// Measurement names escape commas and spaces; tag keys/values and field keys also '='.
// Line protocol has no escape for newlines: control characters become spaces (then escaped).
void AppendInfluxName(std::string& out, std::string_view s, bool escape_equals) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    if (c == ',' || c == ' ' || (escape_equals && c == '=') || c == '\\') out += '\\';
    out += c;
  }
}

void AppendTag(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty()) return;  // line protocol has no empty tag values
  out += ',';
  out += key;
  out += '=';
  AppendInfluxName(out, value, true);
}

void AppendFieldSep(std::string& out, bool& first) {
  out += first ? ' ' : ',';
  first = false;
}

void AppendFloatField(std::string& out, bool& first, std::string_view key,
                      const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return;
  AppendFieldSep(out, first);
  out += key;
  out += '=';
  fmt::format_to(std::back_inserter(out), "{}", *v);
}

void AppendStringField(std::string& out, bool& first, std::string_view key, std::string_view v,
                       bool even_empty = false) {
  if (v.empty() && !even_empty) return;
  AppendFieldSep(out, first);
  out += key;
  out += "=\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += (c == '\n' || c == '\r') ? ' ' : c;
  }
  out += '"';
}

// A reading's value as a field of its line-protocol type: 42i, true, "text" or a float. Nothing
// when it has none (null).
void AppendReadingValue(std::string& out, bool& first, const BodyFields& f) {
  if (f.value_type == "int64" && f.integer) {
    AppendFieldSep(out, first);
    fmt::format_to(std::back_inserter(out), "value={}i", *f.integer);
  } else if (f.value_type == "boolean" && f.boolean) {
    AppendFieldSep(out, first);
    out += *f.boolean ? "value=true" : "value=false";
  } else if (f.value_type == "string" && f.text) {
    AppendStringField(out, first, "value", *f.text, true);
  } else {
    AppendFloatField(out, first, "value", f.value);
  }
}

}  // namespace

Result<TopicTemplate> TopicTemplate::Parse(std::string_view text) { return Parse(text, kAll); }

Result<TopicTemplate> TopicTemplate::Parse(std::string_view text,
                                           std::span<const Placeholder> allowed) {
  TopicTemplate t;
  t.text_ = std::string(text);
  if (text.empty()) return Err(Status::InvalidArgument("empty topic template"));
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) t.parts_.push_back(Part{true, Placeholder::kGateway, literal});
    literal.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      literal += '{';
      ++i;
    } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
      literal += '}';
      ++i;
    } else if (c == '{') {
      std::size_t end = text.find('}', i + 1);
      if (end == std::string_view::npos) {
        return Err(Status::InvalidArgument(
            fmt::format("unclosed '{{' at offset {} in topic template \"{}\"", i, text)));
      }
      std::string_view name = text.substr(i + 1, end - i - 1);
      auto it = std::find_if(kPlaceholders.begin(), kPlaceholders.end(),
                             [&](const PlaceholderName& p) { return p.name == name; });
      if (it == kPlaceholders.end()) {
        return Err(Status::InvalidArgument(
            fmt::format("unknown placeholder {{{}}} in topic template \"{}\" (known: {{gateway}}, "
                        "{{upstream}}, {{device}}, {{series}}, {{type}}, {{kind}})",
                        name, text)));
      }
      if (std::find(allowed.begin(), allowed.end(), it->placeholder) == allowed.end()) {
        return Err(
            Status::InvalidArgument(fmt::format("placeholder {{{}}} is not allowed here", name)));
      }
      flush();
      t.parts_.push_back(Part{false, it->placeholder, {}});
      i = end;
    } else if (c == '}') {
      return Err(Status::InvalidArgument(
          fmt::format("unmatched '}}' at offset {} in topic template \"{}\"", i, text)));
    } else if (c == '+' || c == '#' || c == '\0') {
      return Err(Status::InvalidArgument(fmt::format(
          "topic template \"{}\" contains a wildcard or NUL; a publish topic cannot", text)));
    } else {
      literal += c;
    }
  }
  flush();
  return t;
}

void TopicTemplate::AppendTo(std::string& out, const TopicValues& v) const {
  for (const Part& p : parts_) {
    if (p.literal) {
      out += p.text;
      continue;
    }
    for (char c : ValueOf(v, p.placeholder)) {
      out += (c == '+' || c == '#' || c == '\0') ? '_' : c;
    }
  }
}

std::string TopicTemplate::Expand(const TopicValues& v) const {
  std::string s;
  AppendTo(s, v);
  return s;
}

bool TopicTemplate::Uses(Placeholder p) const {
  return std::any_of(parts_.begin(), parts_.end(),
                     [&](const Part& part) { return !part.literal && part.placeholder == p; });
}

std::string EventKindOf(const Record& r) {
  if (r.kind == RecordKind::kReading) return "reading";
  BodyFields f;
  if (!ParseBody(r.body, f) || f.kind.empty()) return "event";
  return f.kind;
}

void AppendInfluxLine(std::string& out, std::string_view gateway_id,
                      std::string_view events_measurement, const Record& r) {
  BodyFields f;
  (void)ParseBody(r.body, f);  // on failure: the envelope's fields only
  bool first = true;
  if (r.kind == RecordKind::kReading) {
    AppendInfluxName(out, r.series.empty() ? std::string_view("_") : r.series, false);
    AppendTag(out, "clock", f.clock);  // tags sorted by key, as InfluxDB prefers
    AppendTag(out, "device", r.device);
    AppendTag(out, "gateway", gateway_id);
    AppendTag(out, "quality", f.quality);
    AppendTag(out, "unit", f.unit);
    AppendReadingValue(out, first, f);
  } else {
    AppendInfluxName(out, events_measurement, false);
    AppendTag(out, "clock", f.clock);
    AppendTag(out, "device", r.device);
    AppendTag(out, "gateway", gateway_id);
    AppendTag(out, "kind", f.kind);
    AppendTag(out, "rule", f.rule);
    AppendTag(out, "series", r.series);
    AppendTag(out, "severity", f.severity);
    AppendFloatField(out, first, "value", f.value);
    AppendFloatField(out, first, "score", f.score);
    AppendFloatField(out, first, "health", f.health);
    AppendFloatField(out, first, "rul", f.rul);
    AppendStringField(out, first, "message", f.message);
  }
  AppendFieldSep(out, first);
  fmt::format_to(std::back_inserter(out), "seq={}i {}", r.seq, r.ts_ns);
}

void Encode(std::span<const Record> records, const EncoderOptions& o, Encoded& out) {
  out.messages.clear();
  out.message_of.clear();
  out.message_of.reserve(records.size());
  const bool need_kind = o.topic.Uses(Placeholder::kKind) ||
                         (!o.event_topic.text().empty() && o.event_topic.Uses(Placeholder::kKind));
  std::unordered_map<std::string, std::uint32_t> open;  // topic -> its message being filled
  std::string topic;
  std::string kind;
  for (const Record& r : records) {
    const bool event = r.kind == RecordKind::kEvent;
    kind = need_kind ? EventKindOf(r) : std::string(event ? "event" : "reading");
    TopicValues v{o.gateway_id, o.upstream, r.device, r.series, event ? "event" : "reading", kind};
    const TopicTemplate& t = (event && !o.event_topic.text().empty()) ? o.event_topic : o.topic;
    topic.clear();
    t.AppendTo(topic, v);
    if (o.format == PayloadFormat::kJson) {
      Message m;
      m.topic = topic;
      AppendWireJson(m.payload, o.gateway_id, r);
      m.records = 1;
      out.message_of.push_back(static_cast<std::uint32_t>(out.messages.size()));
      out.messages.push_back(std::move(m));
      continue;
    }
    auto it = open.find(topic);
    if (it == open.end() || out.messages[it->second].records >= o.batch_max_records) {
      auto idx = static_cast<std::uint32_t>(out.messages.size());
      Message m;
      m.topic = topic;
      out.messages.push_back(std::move(m));
      if (it == open.end()) {
        open.emplace(topic, idx);
      } else {
        it->second = idx;
      }
    }
    std::uint32_t idx = open[topic];
    Message& m = out.messages[idx];
    if (o.format == PayloadFormat::kJsonBatch) {
      m.payload += m.records == 0 ? '[' : ',';
      AppendWireJson(m.payload, o.gateway_id, r);
    } else {
      if (m.records > 0) m.payload += '\n';
      AppendInfluxLine(m.payload, o.gateway_id, o.events_measurement, r);
    }
    ++m.records;
    out.message_of.push_back(idx);
  }
  if (o.format == PayloadFormat::kJsonBatch) {
    for (Message& m : out.messages) m.payload += ']';
  }
}

std::size_t DeliveredPrefix(const Encoded& encoded, const std::vector<bool>& acked) {
  std::size_t n = 0;
  while (n < encoded.message_of.size()) {
    std::uint32_t m = encoded.message_of[n];
    if (m >= acked.size() || !acked[m]) break;
    ++n;
  }
  return n;
}

}  // namespace pn::mqtt_upstream
