// The JSON payload parser: the only file that includes simdjson (a heavy header).
#include <simdjson.h>

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

enum class NumberResult { kMissing, kOk, kBad };

NumberResult Number(dom::element obj, const std::string& location, double& v) {
  dom::element e;
  bool bad_type = false;
  if (!Lookup(obj, location, e, bad_type)) return NumberResult::kMissing;
  if (e.is_bool()) {
    v = e.get_bool().value_unsafe() ? 1.0 : 0.0;
    return NumberResult::kOk;
  }
  if (e.get_double().get(v) != simdjson::SUCCESS || !std::isfinite(v)) return NumberResult::kBad;
  return NumberResult::kOk;
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
      double v = 0.0;
      switch (Number(obj, o_.value, v)) {
        case NumberResult::kMissing:
          return Bad("no field " + o_.value);
        case NumberResult::kBad:
          return Bad("field " + o_.value + ": not a number");
        case NumberResult::kOk:
          out.push_back(Decoded{std::string(device), std::string(series), v, ts});
      }
      return Status::Ok();
    }
    for (const auto& [series, location] : o_.fields) {
      double v = 0.0;
      switch (Number(obj, location, v)) {
        case NumberResult::kMissing:
          break;
        case NumberResult::kBad:
          out.resize(start);
          return Bad("field " + location + ": not a number");
        case NumberResult::kOk:
          out.push_back(Decoded{std::string(device), series, v, ts});
      }
    }
    if (out.size() == start) return Bad("none of the mapped fields is present");
    return Status::Ok();
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
