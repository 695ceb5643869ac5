// The JSON payload parser: the only file that includes simdjson (a heavy header).
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "drivers/mqtt/payload_parsers.h"

namespace pn::mqtt {

std::int64_t TimeUnitNs(TimeUnit u);  // payload_parsers.cpp

namespace {

namespace dom = simdjson::dom;

Status Bad(std::string m) { return Status::InvalidArgument(std::move(m)); }

// Looks up a top-level key or a JSON pointer. Missing (or null) gives false with no error.
bool Lookup(dom::element obj, const std::string& location, dom::element& out, bool& bad_type) {
  simdjson::error_code err;
  if (!location.empty() && location.front() == '/') {
    err = obj.at_pointer(location).get(out);
  } else {
    err = obj[location].get(out);
  }
  if (err == simdjson::INCORRECT_TYPE) bad_type = true;
  return err == simdjson::SUCCESS && !out.is_null();
}

enum class ValueResult { kMissing, kOk, kBad, kText };  // kText: a string, not a number

// The value at `location` into d: a number (double), a boolean (boolean) or, for a text
// series, a string (a number or boolean there becomes its JSON text).
ValueResult Value(dom::element obj, const std::string& location, bool text, Decoded& d) {
  dom::element e;
  bool bad_type = false;
  if (!Lookup(obj, location, e, bad_type)) return ValueResult::kMissing;
  if (text) {
    std::string_view s;
    if (e.get_string().get(s) == simdjson::SUCCESS) {
      d.text.assign(s);
    } else if (e.is_number() || e.is_bool()) {
      d.text = simdjson::minify(e);
    } else {
      return ValueResult::kBad;
    }
    d.kind = ValueKind::kString;
    d.value = std::numeric_limits<double>::quiet_NaN();
    return ValueResult::kOk;
  }
  if (e.is_bool()) {
    d.kind = ValueKind::kBoolean;
    d.value = e.get_bool().value_unsafe() ? 1.0 : 0.0;
    return ValueResult::kOk;
  }
  if (e.is_string()) return ValueResult::kText;
  if (e.get_double().get(d.value) != simdjson::SUCCESS || !std::isfinite(d.value)) {
    return ValueResult::kBad;
  }
  return ValueResult::kOk;
}

class JsonParser final : public PayloadParser {
 public:
  explicit JsonParser(JsonOptions o) : o_(std::move(o)) {}

  Status Parse(std::string_view payload, const TopicFields& topic,
               std::vector<Decoded>& out) override {
    dom::element doc;
    auto err = parser_.parse(payload.data(), payload.size(), true).get(doc);
    if (err != simdjson::SUCCESS) {
      return Bad(std::string("invalid JSON: ") + simdjson::error_message(err));
    }
    const std::size_t start = out.size();
    Status st;
    if (doc.is_array()) {
      dom::array items;
      if (doc.get_array().get(items) != simdjson::SUCCESS) return Bad("not a JSON array");
      for (dom::element item : items) {
        st = One(item, topic, out);
        if (!st.ok()) break;
      }
      if (st.ok() && out.size() == start) st = Bad("no reading in the array");
    } else {
      st = One(doc, topic, out);
    }
    if (!st.ok()) out.resize(start);
    return st;
  }

 private:
  Status One(dom::element obj, const TopicFields& topic, std::vector<Decoded>& out) {
    if (!obj.is_object()) return Bad("not a JSON object");
    std::int64_t ts = 0;
    if (!o_.time.empty()) {
      Status st = Time(obj, ts);
      if (!st.ok()) return st;
    }
    std::string_view device = topic.device;
    if (!o_.device.empty()) {
      dom::element e;
      bool bad_type = false;
      if (Lookup(obj, o_.device, e, bad_type)) {
        if (e.get_string().get(device) != simdjson::SUCCESS || device.empty()) {
          return Bad("field " + o_.device + ": the device is not a non-empty string");
        }
      }
    }
    const std::size_t start = out.size();
    if (o_.fields.empty()) {
      std::string_view series = topic.series;
      if (!o_.series.empty()) {
        dom::element e;
        bool bad_type = false;
        if (Lookup(obj, o_.series, e, bad_type) &&
            (e.get_string().get(series) != simdjson::SUCCESS || series.empty())) {
          return Bad("field " + o_.series + ": the series is not a non-empty string");
        }
      }
      if (series.empty()) return Bad("no series: neither the topic nor the payload names one");
      Decoded d{std::string(device), std::string(series), 0.0, ts};
      const ValueResult r = Value(obj, o_.value, IsText(d.series), d);
      switch (r) {
        case ValueResult::kMissing:
          return Bad("no field " + o_.value);
        case ValueResult::kBad:
        case ValueResult::kText:
          return Bad(NotAValue(o_.value, d.series, r));
        case ValueResult::kOk:
          out.push_back(std::move(d));
      }
      return Status::Ok();
    }
    for (const auto& [series, location] : o_.fields) {
      Decoded d{std::string(device), series, 0.0, ts};
      const ValueResult r = Value(obj, location, IsText(series), d);
      switch (r) {
        case ValueResult::kMissing:
          break;
        case ValueResult::kBad:
        case ValueResult::kText:
          out.resize(start);
          return Bad(NotAValue(location, series, r));
        case ValueResult::kOk:
          out.push_back(std::move(d));
      }
    }
    if (out.size() == start) return Bad("none of the mapped fields is present");
    return Status::Ok();
  }

  bool IsText(std::string_view series) const {
    return std::find(o_.text_series.begin(), o_.text_series.end(), series) != o_.text_series.end();
  }

  std::string NotAValue(const std::string& location, std::string_view series, ValueResult r) const {
    if (IsText(series)) return "field " + location + ": not a string, number or boolean";
    if (r == ValueResult::kText) {
      return "field " + location + ": not a number (list the series in json_text_series to " +
             "take it as text)";
    }
    return "field " + location + ": not a number";
  }

  // The time field, scaled to ns. Integers are scaled exactly; a fraction is rounded to 1 ns.
  Status Time(dom::element obj, std::int64_t& ts) const {
    dom::element e;
    bool bad_type = false;
    if (!Lookup(obj, o_.time, e, bad_type)) return Status::Ok();
    const std::int64_t scale = TimeUnitNs(o_.time_unit);
    const std::int64_t max_units = std::numeric_limits<std::int64_t>::max() / scale;
    std::int64_t n = 0;
    double d = 0.0;
    if (e.get_int64().get(n) == simdjson::SUCCESS) {
      if (n < 0 || n > max_units) return Bad("field " + o_.time + ": time out of range");
      ts = n * scale;
      return Status::Ok();
    }
    if (e.get_double().get(d) != simdjson::SUCCESS) {
      return Bad("field " + o_.time + ": the time is not a number");
    }
    if (!(d >= 0.0 && d < static_cast<double>(max_units))) {
      return Bad("field " + o_.time + ": time out of range");
    }
    const double whole = std::floor(d);
    ts = static_cast<std::int64_t>(whole) * scale +
         std::llround((d - whole) * static_cast<double>(scale));
    return Status::Ok();
  }

  JsonOptions o_;
  dom::parser parser_;
};

}  // namespace

std::unique_ptr<PayloadParser> MakeJsonParser(const JsonOptions& options) {
  return std::make_unique<JsonParser>(options);
}

}  // namespace pn::mqtt
