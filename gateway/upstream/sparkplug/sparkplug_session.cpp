#include "gateway/upstream/sparkplug/sparkplug_session.h"

#include <fcntl.h>
#include <simdjson.h>  // heavy header: included by this file only
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>

#include "sparkplug_b.pb-c.h"

namespace pn::sparkplug {

namespace {

using PbPayload = Org__Eclipse__Tahu__Protobuf__Payload;
using PbMetric = Org__Eclipse__Tahu__Protobuf__Payload__Metric;
using PbPropertySet = Org__Eclipse__Tahu__Protobuf__Payload__PropertySet;
using PbPropertyValue = Org__Eclipse__Tahu__Protobuf__Payload__PropertyValue;

// One payload being built: protobuf-c structs point into storage owned here.
class PayloadBuilder {
 public:
  PbMetric& Add(const std::string* name) {
    PbMetric& m = metrics_.emplace_back();
    org__eclipse__tahu__protobuf__payload__metric__init(&m);
    if (name != nullptr) m.name = const_cast<char*>(strings_.emplace_back(*name).c_str());
    return m;
  }
  void SetUnit(PbMetric& m, const std::string& unit) {
    PbPropertySet& ps = sets_.emplace_back();
    org__eclipse__tahu__protobuf__payload__property_set__init(&ps);
    PbPropertyValue& v = values_.emplace_back();
    org__eclipse__tahu__protobuf__payload__property_value__init(&v);
    v.has_type = 1;
    v.type = static_cast<std::uint32_t>(DataType::kString);
    v.value_case = ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__PROPERTY_VALUE__VALUE_STRING_VALUE;
    v.string_value = const_cast<char*>(strings_.emplace_back(unit).c_str());
    key_ptrs_.emplace_back(const_cast<char*>(kEngUnit));
    value_ptrs_.emplace_back(&v);
    ps.n_keys = 1;
    ps.keys = &key_ptrs_.back();
    ps.n_values = 1;
    ps.values = &value_ptrs_.back();
    m.properties = &ps;
  }
  std::size_t size() const { return metrics_.size(); }
  std::string Pack(std::int64_t now_ms, std::optional<std::uint64_t> seq) {
    std::vector<PbMetric*> ptrs;
    ptrs.reserve(metrics_.size());
    for (PbMetric& m : metrics_) ptrs.push_back(&m);
    PbPayload p;
    org__eclipse__tahu__protobuf__payload__init(&p);
    p.has_timestamp = 1;
    p.timestamp = static_cast<std::uint64_t>(now_ms);
    p.n_metrics = ptrs.size();
    p.metrics = ptrs.data();
    if (seq) {
      p.has_seq = 1;
      p.seq = *seq;
    }
    std::string out(org__eclipse__tahu__protobuf__payload__get_packed_size(&p), '\0');
    org__eclipse__tahu__protobuf__payload__pack(&p, reinterpret_cast<std::uint8_t*>(out.data()));
    return out;
  }

 private:
  static constexpr const char* kEngUnit = "engUnit";
  std::deque<PbMetric> metrics_;  // deques: stable addresses
  std::deque<std::string> strings_;
  std::deque<PbPropertySet> sets_;
  std::deque<PbPropertyValue> values_;
  std::deque<char*> key_ptrs_;
  std::deque<PbPropertyValue*> value_ptrs_;
};

Value NullValue() {
  Value v;
  v.is_null = true;
  return v;
}

// `text` must outlive the packing of `m` (the payload points at it).
void SetValue(PbMetric& m, DataType type, const Value& v) {
  if (v.is_null) {
    m.has_is_null = 1;
    m.is_null = 1;
    return;
  }
  switch (type) {
    case DataType::kBoolean:
      m.value_case = ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE;
      m.boolean_value = v.boolean ? 1 : 0;
      return;
    case DataType::kInt64:
      // The specification carries every integer in the uint64 long_value; a negative Int64 is
      // its two's complement there.
      m.value_case = ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_LONG_VALUE;
      m.long_value = static_cast<std::uint64_t>(v.integer);
      return;
    case DataType::kString:
      m.value_case = ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_STRING_VALUE;
      m.string_value = const_cast<char*>(v.text.c_str());
      return;
    case DataType::kUInt64:
    case DataType::kDouble:
      m.value_case = ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_DOUBLE_VALUE;
      m.double_value = v.number;
      return;
  }
}

// One record as a metric value.
struct Sample {
  std::string name;
  DataType type = DataType::kDouble;
  std::string unit;
  Value value;
  bool reading = false;
  bool bad = false;  // a reading with quality "bad"
};

std::optional<double> NumberField(simdjson::dom::element& obj, const char* key) {
  double d = 0;
  auto f = obj[key];
  if (f.error()) return std::nullopt;
  if (f.get_double().get(d) == simdjson::SUCCESS) return d;
  std::int64_t i = 0;
  if (f.get_int64().get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  std::uint64_t u = 0;
  if (f.get_uint64().get(u) == simdjson::SUCCESS) return static_cast<double>(u);
  return std::nullopt;  // null or not a number
}

std::string StringField(simdjson::dom::element& obj, const char* key) {
  std::string_view s;
  if (obj[key].get_string().get(s) != simdjson::SUCCESS) return {};
  return std::string(s);
}

std::optional<Sample> ToSample(const Record& r, simdjson::dom::parser& parser) {
  simdjson::dom::element obj;
  if (parser.parse(r.body).get(obj) != simdjson::SUCCESS || !obj.is_object()) return std::nullopt;
  Sample s;
  auto number = [&](const char* key) {
    auto v = NumberField(obj, key);
    s.value.is_null = !v || !std::isfinite(*v);
    s.value.number = v.value_or(0);
  };
  if (r.kind == RecordKind::kReading) {
    s.name = r.series;
    s.unit = StringField(obj, "unit");
    s.reading = true;
    s.bad = StringField(obj, "quality") == "bad";
    // The source's kind (core/reading.h); no "value_type" is a double.
    const std::string kind = StringField(obj, "value_type");
    auto value = obj["value"];
    if (kind == "int64") {
      s.type = DataType::kInt64;
      s.value.is_null = value.get_int64().get(s.value.integer) != simdjson::SUCCESS;
    } else if (kind == "boolean") {
      s.type = DataType::kBoolean;
      s.value.is_null = value.get_bool().get(s.value.boolean) != simdjson::SUCCESS;
    } else if (kind == "string") {
      s.type = DataType::kString;
      std::string_view text;
      s.value.is_null = value.get_string().get(text) != simdjson::SUCCESS;
      s.value.text.assign(text);
    } else {
      number("value");
    }
    return s;
  }
  const std::string rule = StringField(obj, "rule");
  const std::string kind = StringField(obj, "kind");
  if (kind == "alarm" || kind == "clear") {
    s.name = "alarms/" + rule + "/active";
    s.type = DataType::kBoolean;
    s.value.boolean = kind == "alarm";
  } else if (kind == "anomaly") {
    s.name = "anomaly/" + rule + "/score";
    number("score");
  } else if (kind == "health") {
    s.name = "health/" + rule;
    number("health");
  } else if (kind == "rul") {
    s.name = "rul/" + rule;
    number("rul");
  } else {
    return std::nullopt;
  }
  return s;
}

}  // namespace

std::string SanitizeId(std::string_view id) {
  std::string out(id);
  for (char& c : out) {
    if (c == '/' || c == '+' || c == '#') c = '_';
  }
  return out;
}

Session::Session(SessionOptions options) : options_(std::move(options)) {
  if (options_.max_metrics_per_message == 0) options_.max_metrics_per_message = 1;
}

void Session::Begin(std::uint64_t bd_seq, std::int64_t start_ns, std::int64_t mono_ns) {
  bd_seq_ = bd_seq;
  start_ns_ = start_ns;
  seq_ = 0;
  births_due_ = true;
  for (auto& [name, d] : devices_) {
    d.born = false;
    d.last_seen_ns = mono_ns;
  }
}

std::uint64_t Session::NextSeq() { return seq_++; }  // uint8_t: 255 wraps to 0

std::string Session::NodeTopic(const char* type) const {
  return std::string(kNamespace) + "/" + options_.group_id + "/" + type + "/" +
         options_.edge_node_id;
}

std::string Session::DeviceTopic(const char* type, const std::string& device) const {
  return NodeTopic(type) + "/" + SanitizeId(device);
}

std::string Session::DeathPayload(std::uint64_t bd_seq, std::int64_t now_ms) const {
  PayloadBuilder b;
  static const std::string kBdSeq = "bdSeq";
  PbMetric& m = b.Add(&kBdSeq);
  m.has_datatype = 1;
  m.datatype = static_cast<std::uint32_t>(DataType::kUInt64);
  m.value_case = ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_LONG_VALUE;
  m.long_value = bd_seq;
  return b.Pack(now_ms, std::nullopt);
}

void Session::Births(std::int64_t now_ms, std::vector<Outgoing>& out) {
  PayloadBuilder b;
  static const std::string kBdSeq = "bdSeq";
  static const std::string kRebirth = kRebirthMetric;
  PbMetric& bd = b.Add(&kBdSeq);
  bd.has_datatype = 1;
  bd.datatype = static_cast<std::uint32_t>(DataType::kUInt64);
  bd.has_timestamp = 1;
  bd.timestamp = static_cast<std::uint64_t>(now_ms);
  bd.value_case = ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_LONG_VALUE;
  bd.long_value = bd_seq_;
  PbMetric& rb = b.Add(&kRebirth);
  rb.has_alias = 1;
  rb.alias = kRebirthAlias;
  rb.has_datatype = 1;
  rb.datatype = static_cast<std::uint32_t>(DataType::kBoolean);
  rb.has_timestamp = 1;
  rb.timestamp = static_cast<std::uint64_t>(now_ms);
  SetValue(rb, DataType::kBoolean, Value{});
  std::uint64_t seq = NextSeq();
  out.push_back({NodeTopic("NBIRTH"), b.Pack(now_ms, seq), true});
  // Live data starts with the session's first births (later than the CONNECT when a primary
  // host kept the node waiting): what was buffered before them is historical.
  if (births_due_) start_ns_ = std::max(start_ns_, now_ms * 1'000'000);
  births_due_ = false;
  for (auto& [name, d] : devices_) {
    if (!d.dead) DeviceBirth(name, d, now_ms, out);
  }
}

void Session::DeviceDeath(const std::string& device, DeviceState& d, std::int64_t now_ms,
                          std::vector<Outgoing>& out) {
  PayloadBuilder b;  // no metrics: the timestamp says when, seq keeps the order
  std::uint64_t seq = NextSeq();
  out.push_back({DeviceTopic("DDEATH", device), b.Pack(now_ms, seq), false});
  d.born = false;
  d.dead = true;
}

void Session::Deaths(std::int64_t mono_ns, std::int64_t silence_ns, std::int64_t now_ms,
                     std::vector<Outgoing>& out) {
  if (births_due_) return;
  for (auto& [name, d] : devices_) {
    if (d.born && !d.dead && mono_ns - d.last_seen_ns >= silence_ns) {
      DeviceDeath(name, d, now_ms, out);
    }
  }
}

std::int64_t Session::NextSilenceNs(std::int64_t silence_ns) const {
  std::int64_t next = INT64_MAX;
  if (births_due_) return next;
  for (const auto& [name, d] : devices_) {
    if (d.born && !d.dead) next = std::min(next, d.last_seen_ns + silence_ns);
  }
  return next;
}

bool Session::device_dead(const std::string& device) const {
  auto it = devices_.find(device);
  return it != devices_.end() && it->second.dead;
}

void Session::DeviceBirth(const std::string& device, DeviceState& d, std::int64_t now_ms,
                          std::vector<Outgoing>& out) {
  PayloadBuilder b;
  for (const auto& [name, m] : d.metrics) {
    PbMetric& pm = b.Add(&name);
    pm.has_alias = 1;
    pm.alias = m.alias;
    pm.has_datatype = 1;
    pm.datatype = static_cast<std::uint32_t>(m.type);
    pm.has_timestamp = 1;
    pm.timestamp = static_cast<std::uint64_t>(m.has_value ? m.ts_ms : now_ms);
    if (m.has_value) {
      SetValue(pm, m.type, m.value);
    } else {
      SetValue(pm, m.type, NullValue());
    }
    if (!m.unit.empty()) b.SetUnit(pm, m.unit);
  }
  std::uint64_t seq = NextSeq();
  out.push_back({DeviceTopic("DBIRTH", device), b.Pack(now_ms, seq), true});
  d.born = true;
}

void Session::Encode(std::span<const Record> records, std::int64_t now_ms, std::int64_t mono_ns,
                     std::vector<Outgoing>& out, std::vector<std::size_t>& record_msg) {
  record_msg.assign(records.size(), kNoMessage);
  if (births_due_) Births(now_ms, out);
  thread_local simdjson::dom::parser parser;
  // Samples grouped by device, in order of first appearance; each keeps its record index.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::pair<std::size_t, Sample>>> by_device;
  for (std::size_t i = 0; i < records.size(); ++i) {
    std::optional<Sample> s = ToSample(records[i], parser);
    if (!s) continue;
    auto [it, inserted] = by_device.try_emplace(records[i].device);
    if (inserted) order.push_back(records[i].device);
    it->second.emplace_back(i, std::move(*s));
  }
  for (const std::string& device : order) {
    auto& samples = by_device[device];
    DeviceState& d = devices_[device];
    d.last_seen_ns = mono_ns;
    if (d.dead) {
      // Still dead while it reports nothing but "bad" readings: those were announced stale by
      // the DDEATH. Anything else makes it live again, with a new DBIRTH.
      const bool all_bad =
          std::all_of(samples.begin(), samples.end(), [](const auto& is) { return is.second.bad; });
      if (all_bad) continue;
      d.dead = false;
      d.born = false;
    }
    // New metrics, with their first value in this batch: the birth describes them.
    for (auto& [i, s] : samples) {
      auto [it, inserted] = d.metrics.try_emplace(s.name);
      MetricState& m = it->second;
      if (inserted) {
        m.alias = next_alias_++;
        m.type = s.type;
        m.unit = s.unit;
        m.reading = s.reading;
        d.born = false;
      } else if (m.type != s.type && !s.value.is_null) {
        // The source changed its kind (a reconfigured tag): a value must match the datatype of
        // the metric's birth (tck-id-payloads-metric-datatype-value), so the device is born
        // again with the new type; the alias stays.
        m.type = s.type;
        m.has_value = false;
        d.born = false;
      }
      if (!m.has_value || inserted) {
        m.has_value = true;
        m.value = s.value;
        m.ts_ms = records[i].ts_ns / 1'000'000;
      }
    }
    if (!d.born) DeviceBirth(device, d, now_ms, out);
    const std::string topic = DeviceTopic("DDATA", device);
    for (std::size_t from = 0; from < samples.size(); from += options_.max_metrics_per_message) {
      const std::size_t to = std::min(samples.size(), from + options_.max_metrics_per_message);
      PayloadBuilder b;
      for (std::size_t k = from; k < to; ++k) {
        auto& [i, s] = samples[k];
        MetricState& m = d.metrics[s.name];
        PbMetric& pm = b.Add(nullptr);
        pm.has_alias = 1;
        pm.alias = m.alias;
        pm.has_timestamp = 1;
        pm.timestamp = static_cast<std::uint64_t>(records[i].ts_ns / 1'000'000);
        if (records[i].ts_ns < start_ns_ - options_.historical_grace_ns) {
          pm.has_is_historical = 1;
          pm.is_historical = 1;
        }
        // A null keeps the birth's type; so does a value of another kind in the same batch as
        // a type change (it is sent as null rather than under the wrong type).
        if (s.type != m.type) s.value = NullValue();
        SetValue(pm, m.type, s.value);
        m.value = s.value;
        m.ts_ms = records[i].ts_ns / 1'000'000;
        if (s.reading) m.bad = s.bad;
        record_msg[i] = out.size();
      }
      std::uint64_t seq = NextSeq();
      out.push_back({topic, b.Pack(now_ms, seq), false});
    }
    // Every series of the device is "bad" now: the device is gone (a dead unit).
    bool any_reading = false, all_bad = true;
    for (const auto& [name, m] : d.metrics) {
      if (!m.reading) continue;
      any_reading = true;
      all_bad = all_bad && m.bad;
    }
    if (any_reading && all_bad) DeviceDeath(device, d, now_ms, out);
  }
}

bool IsRebirthCommand(const void* payload, std::size_t size) {
  PbPayload* p = org__eclipse__tahu__protobuf__payload__unpack(
      nullptr, size, static_cast<const std::uint8_t*>(payload));
  if (p == nullptr) return false;
  bool rebirth = false;
  for (std::size_t i = 0; i < p->n_metrics; ++i) {
    const PbMetric* m = p->metrics[i];
    const bool named = m->name != nullptr && std::strcmp(m->name, kRebirthMetric) == 0;
    const bool aliased = m->name == nullptr && m->has_alias && m->alias == kRebirthAlias;
    if ((named || aliased) &&
        m->value_case == ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE &&
        m->boolean_value) {
      rebirth = true;
    }
  }
  org__eclipse__tahu__protobuf__payload__free_unpacked(p, nullptr);
  return rebirth;
}

std::optional<HostState> ParseHostState(std::string_view payload) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element obj;
  if (parser.parse(payload.data(), payload.size()).get(obj) != simdjson::SUCCESS ||
      !obj.is_object()) {
    return std::nullopt;
  }
  HostState s;
  if (obj["online"].get_bool().get(s.online) != simdjson::SUCCESS) return std::nullopt;
  std::uint64_t ts = 0;
  if (obj["timestamp"].get_uint64().get(ts) != simdjson::SUCCESS) return std::nullopt;
  s.timestamp = ts;
  return s;
}

std::uint64_t ReadBdSeq(const std::string& path) {
  std::ifstream in(path);
  std::uint64_t v = 0;
  if (in >> v) return v % 256;
  return 0;
}

bool WriteBdSeq(const std::string& path, std::uint64_t next, std::string* error) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (error != nullptr) *error = "cannot write " + tmp + ": " + std::strerror(errno);
    return false;
  }
  const std::string text = std::to_string(next % 256) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) ok = false;
  if (!ok && error != nullptr) *error = "cannot write " + path + ": " + std::strerror(errno);
  return ok;
}

}  // namespace pn::sparkplug
