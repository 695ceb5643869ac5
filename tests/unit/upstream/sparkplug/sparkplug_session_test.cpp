// The Sparkplug B session: encode with protobuf-c, decode with protobuf-c's unpack, check the
// fields and the session rules. Test names carry the Sparkplug 3.0 tck-id they cover.
#include "gateway/upstream/sparkplug/sparkplug_session.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sparkplug_b.pb-c.h"

using namespace pn;
using namespace pn::sparkplug;

namespace {

using PbPayload = Org__Eclipse__Tahu__Protobuf__Payload;
using PbMetric = Org__Eclipse__Tahu__Protobuf__Payload__Metric;

struct Decoded {
  std::unique_ptr<PbPayload, void (*)(PbPayload*)> p{nullptr, nullptr};
  const PbMetric* Find(const char* name) const {
    for (std::size_t i = 0; i < p->n_metrics; ++i) {
      if (p->metrics[i]->name != nullptr && std::string(p->metrics[i]->name) == name) {
        return p->metrics[i];
      }
    }
    return nullptr;
  }
};

Decoded Decode(const std::string& bytes) {
  PbPayload* p = org__eclipse__tahu__protobuf__payload__unpack(
      nullptr, bytes.size(), reinterpret_cast<const std::uint8_t*>(bytes.data()));
  REQUIRE(p != nullptr);
  return Decoded{
      {p, [](PbPayload* x) { org__eclipse__tahu__protobuf__payload__free_unpacked(x, nullptr); }}};
}

constexpr std::int64_t kNs = 1'000'000;  // ns per ms

Record ReadingRecord(std::uint64_t seq, std::string device, std::string series, double v,
                     std::int64_t ts_ms, std::string unit = "degC",
                     Quality quality = Quality::kGood) {
  Reading r{std::move(device), std::move(series), v, std::move(unit), quality, ts_ms * kNs};
  NewRecord nr = ToRecord(r);
  return Record{seq, nr.kind, nr.ts_ns, nr.device, nr.series, nr.body};
}

Record EventRecord(std::uint64_t seq, std::string device, EventKind kind, double score,
                   std::int64_t ts_ms) {
  Event e;
  e.ts_ns = ts_ms * kNs;
  e.device = std::move(device);
  e.series = "temperature";
  e.rule = "hot";
  e.kind = kind;
  e.score = score;
  e.health = score;
  e.rul = score;
  NewRecord nr = ToRecord(e);
  return Record{seq, nr.kind, nr.ts_ns, nr.device, nr.series, nr.body};
}

Session MakeSession() { return Session(SessionOptions{.group_id = "g", .edge_node_id = "n"}); }

constexpr std::int64_t kStartMs = 1'800'000'000'000;

}  // namespace

TEST_CASE("tck-id-topics-ndeath-payload: NDEATH holds only bdSeq and no seq") {
  Session s = MakeSession();
  Decoded d = Decode(s.DeathPayload(7, kStartMs));
  CHECK(!d.p->has_seq);  // tck-id-topics-ndeath-seq
  REQUIRE(d.p->n_metrics == 1);
  CHECK(std::string(d.p->metrics[0]->name) == "bdSeq");
  CHECK(d.p->metrics[0]->datatype == 8);  // UInt64
  CHECK(d.p->metrics[0]->long_value == 7);
  CHECK(s.NodeTopic("NDEATH") == "spBv1.0/g/NDEATH/n");
}

TEST_CASE(
    "tck-id-topics-nbirth-seq-num, tck-id-topics-nbirth-bdseq-matching, "
    "tck-id-topics-nbirth-rebirth-metric: NBIRTH seq 0, bdSeq, Rebirth false") {
  Session s = MakeSession();
  s.Begin(3, kStartMs * kNs, 0);
  std::vector<Outgoing> out;
  s.Births(kStartMs, out);
  REQUIRE(out.size() == 1);  // no device known yet
  CHECK(out[0].topic == "spBv1.0/g/NBIRTH/n");
  Decoded d = Decode(out[0].payload);
  CHECK(d.p->seq == 0);
  CHECK(d.p->has_timestamp);  // tck-id-topics-nbirth-timestamp
  REQUIRE(d.Find("bdSeq") != nullptr);
  CHECK(d.Find("bdSeq")->long_value == 3);
  const PbMetric* rb = d.Find("Node Control/Rebirth");
  REQUIRE(rb != nullptr);
  CHECK(rb->datatype == 11);
  CHECK(rb->value_case == ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE);
  CHECK(!rb->boolean_value);
}

TEST_CASE("tck-id-payloads-dbirth-order: DBIRTH before DDATA, DDATA by alias only") {
  Session s = MakeSession();
  s.Begin(0, kStartMs * kNs, 0);
  std::vector<Record> recs = {ReadingRecord(1, "pump-1", "temperature", 40.5, kStartMs),
                              ReadingRecord(2, "pump-1", "flow", 3.0, kStartMs, "m3/h"),
                              ReadingRecord(3, "pump/2", "temperature", 41.0, kStartMs)};
  std::vector<Outgoing> out;
  std::vector<std::size_t> msg;
  s.Encode(recs, kStartMs, 0, out, msg);
  // NBIRTH, DBIRTH pump-1, DDATA pump-1, DBIRTH pump_2, DDATA pump_2
  REQUIRE(out.size() == 5);
  CHECK(out[0].topic == "spBv1.0/g/NBIRTH/n");
  CHECK(out[1].topic == "spBv1.0/g/DBIRTH/n/pump-1");
  CHECK(out[2].topic == "spBv1.0/g/DDATA/n/pump-1");
  CHECK(out[3].topic == "spBv1.0/g/DBIRTH/n/pump_2");
  CHECK(out[4].topic == "spBv1.0/g/DDATA/n/pump_2");
  CHECK(msg == std::vector<std::size_t>{2, 2, 4});
  for (std::size_t i = 0; i < out.size(); ++i) CHECK(Decode(out[i].payload).p->seq == i);

  Decoded birth = Decode(out[1].payload);
  REQUIRE(birth.p->n_metrics == 2);
  const PbMetric* t = birth.Find("temperature");
  REQUIRE(t != nullptr);
  CHECK(t->has_alias);
  CHECK(t->datatype == 10);
  CHECK(t->double_value == 40.5);
  REQUIRE(t->properties != nullptr);
  CHECK(std::string(t->properties->keys[0]) == "engUnit");
  CHECK(std::string(t->properties->values[0]->string_value) == "degC");
  CHECK(std::string(birth.Find("flow")->properties->values[0]->string_value) == "m3/h");

  Decoded data = Decode(out[2].payload);
  REQUIRE(data.p->n_metrics == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(data.p->metrics[i]->name == nullptr);
    CHECK(!data.p->metrics[i]->has_datatype);
    CHECK(data.p->metrics[i]->has_alias);
    CHECK(data.p->metrics[i]->timestamp == static_cast<std::uint64_t>(kStartMs));
    CHECK(!data.p->metrics[i]->has_is_historical);
  }
  CHECK(data.p->metrics[0]->alias == t->alias);
  CHECK(data.p->metrics[0]->double_value == 40.5);
  // Aliases are unique across the edge node (tck-id-payloads-alias-uniqueness).
  Decoded birth2 = Decode(out[3].payload);
  CHECK(birth2.Find("temperature")->alias != t->alias);
  CHECK(birth2.Find("temperature")->alias != birth.Find("flow")->alias);
}

TEST_CASE("seq goes up by one on every message and wraps 255 -> 0 (tck-id-topics-ddata-seq-num)") {
  Session s(SessionOptions{.group_id = "g", .edge_node_id = "n", .max_metrics_per_message = 1});
  s.Begin(0, kStartMs * kNs, 0);
  std::vector<Record> recs;
  for (int i = 0; i < 300; ++i) {
    recs.push_back(ReadingRecord(static_cast<std::uint64_t>(i + 1), "d", "x", i, kStartMs + i));
  }
  std::vector<Outgoing> out;
  std::vector<std::size_t> msg;
  s.Encode(recs, kStartMs, 0, out, msg);
  REQUIRE(out.size() == 302);  // NBIRTH, DBIRTH, 300 DDATA
  for (std::size_t i = 0; i < out.size(); ++i) CHECK(Decode(out[i].payload).p->seq == i % 256);
  out.clear();
  s.Encode({recs.data(), 1}, kStartMs, 0, out, msg);
  REQUIRE(out.size() == 1);  // already born: data only
  CHECK(Decode(out[0].payload).p->seq == 302 % 256);
}

TEST_CASE("a new metric of a born device triggers its DBIRTH with every metric before data") {
  Session s = MakeSession();
  s.Begin(0, kStartMs * kNs, 0);
  std::vector<Outgoing> out;
  std::vector<std::size_t> msg;
  std::vector<Record> a = {ReadingRecord(1, "d", "x", 1, kStartMs)};
  s.Encode(a, kStartMs, 0, out, msg);
  out.clear();
  std::vector<Record> b = {ReadingRecord(2, "d", "x", 2, kStartMs),
                           EventRecord(3, "d", EventKind::kAlarm, NAN, kStartMs),
                           EventRecord(4, "d", EventKind::kAnomaly, 0.9, kStartMs),
                           EventRecord(5, "d", EventKind::kHealth, 0.5, kStartMs),
                           EventRecord(6, "d", EventKind::kRul, 12, kStartMs),
                           EventRecord(7, "d", EventKind::kClear, NAN, kStartMs)};
  s.Encode(b, kStartMs, 0, out, msg);
  REQUIRE(out.size() == 2);
  CHECK(out[0].topic == "spBv1.0/g/DBIRTH/n/d");
  Decoded birth = Decode(out[0].payload);
  CHECK(birth.p->n_metrics == 5);
  CHECK(birth.Find("x") != nullptr);
  REQUIRE(birth.Find("alarms/hot/active") != nullptr);
  CHECK(birth.Find("alarms/hot/active")->datatype == 11);
  CHECK(birth.Find("anomaly/hot/score")->double_value == doctest::Approx(0.9));
  CHECK(birth.Find("health/hot")->double_value == doctest::Approx(0.5));
  CHECK(birth.Find("rul/hot")->double_value == doctest::Approx(12));
  Decoded data = Decode(out[1].payload);
  REQUIRE(data.p->n_metrics == 6);
  CHECK(data.p->metrics[1]->boolean_value);   // alarm
  CHECK(!data.p->metrics[5]->boolean_value);  // clear
  CHECK(data.p->metrics[1]->alias == data.p->metrics[5]->alias);
}

TEST_CASE(
    "a reconnect (Begin) restarts seq at 0 and re-births every device with the same "
    "aliases, records older than the session start are historical") {
  Session s = MakeSession();
  s.Begin(0, kStartMs * kNs, 0);
  std::vector<Outgoing> out;
  std::vector<std::size_t> msg;
  std::vector<Record> a = {ReadingRecord(1, "d", "x", 1, kStartMs)};
  s.Encode(a, kStartMs, 0, out, msg);
  std::uint64_t alias = Decode(out[1].payload).Find("x")->alias;
  out.clear();
  s.Begin(1, (kStartMs + 60'000) * kNs, 0);
  std::vector<Record> b = {ReadingRecord(2, "d", "x", 2, kStartMs),           // old
                           ReadingRecord(3, "d", "x", 3, kStartMs + 59'000),  // within grace
                           ReadingRecord(4, "d", "x", 4, kStartMs + 61'000)};
  s.Encode(b, kStartMs + 61'000, 0, out, msg);
  REQUIRE(out.size() == 3);
  CHECK(Decode(out[0].payload).p->seq == 0);
  CHECK(Decode(out[0].payload).Find("bdSeq")->long_value == 1);
  CHECK(Decode(out[1].payload).Find("x")->alias == alias);
  Decoded data = Decode(out[2].payload);
  CHECK(data.p->metrics[0]->is_historical);
  CHECK(!data.p->metrics[1]->has_is_historical);
  CHECK(!data.p->metrics[2]->has_is_historical);
}

TEST_CASE(
    "tck-id-operational-behavior-data-commands-rebirth-action-1: a rebirth keeps bdSeq "
    "and continues seq") {
  Session s = MakeSession();
  s.Begin(5, kStartMs * kNs, 0);
  std::vector<Outgoing> out;
  std::vector<std::size_t> msg;
  std::vector<Record> a = {ReadingRecord(1, "d1", "x", 1, kStartMs),
                           ReadingRecord(2, "d2", "x", 1, kStartMs)};
  s.Encode(a, kStartMs, 0, out, msg);
  REQUIRE(out.size() == 5);
  out.clear();
  s.Births(kStartMs, out);
  REQUIRE(out.size() == 3);
  CHECK(Decode(out[0].payload).p->seq == 5);
  CHECK(Decode(out[0].payload).Find("bdSeq")->long_value == 5);
  CHECK(out[1].topic == "spBv1.0/g/DBIRTH/n/d1");
  CHECK(out[2].topic == "spBv1.0/g/DBIRTH/n/d2");
}

TEST_CASE("IsRebirthCommand reads Node Control/Rebirth = true by name or alias") {
  auto pack = [](const char* name, bool has_alias, bool value) {
    PbMetric m;
    org__eclipse__tahu__protobuf__payload__metric__init(&m);
    m.name = const_cast<char*>(name);
    m.has_alias = has_alias;
    m.alias = 0;
    m.value_case = ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE;
    m.boolean_value = value;
    PbMetric* ms[] = {&m};
    PbPayload p;
    org__eclipse__tahu__protobuf__payload__init(&p);
    p.n_metrics = 1;
    p.metrics = ms;
    std::string out(org__eclipse__tahu__protobuf__payload__get_packed_size(&p), '\0');
    org__eclipse__tahu__protobuf__payload__pack(&p, reinterpret_cast<std::uint8_t*>(out.data()));
    return out;
  };
  std::string yes = pack("Node Control/Rebirth", false, true);
  std::string no = pack("Node Control/Rebirth", false, false);
  std::string by_alias = pack(nullptr, true, true);
  std::string other = pack("Node Control/Reboot", false, true);
  CHECK(IsRebirthCommand(yes.data(), yes.size()));
  CHECK(!IsRebirthCommand(no.data(), no.size()));
  CHECK(IsRebirthCommand(by_alias.data(), by_alias.size()));
  CHECK(!IsRebirthCommand(other.data(), other.size()));
  CHECK(!IsRebirthCommand("\xff\xff\xff", 3));
}

TEST_CASE("tck-id-topics-nbirth-bdseq-increment: bdSeq starts at 0, persists, wraps at 256") {
  auto dir = std::filesystem::temp_directory_path() / ("pn-spb-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "bdseq").string();
  CHECK(ReadBdSeq(path) == 0);
  std::string err;
  CHECK(WriteBdSeq(path, 1, &err));
  CHECK(ReadBdSeq(path) == 1);
  CHECK(WriteBdSeq(path, 256, &err));
  CHECK(ReadBdSeq(path) == 0);
  CHECK(!WriteBdSeq((dir / "missing" / "bdseq").string(), 1, &err));
  CHECK(!err.empty());
  std::filesystem::remove_all(dir);
}

TEST_CASE(
    "tck-id-operational-behavior-device-ddeath, tck-id-topics-ddeath-seq-num: a silent device "
    "gets a DDEATH with the next seq, it is born again before its next data") {
  constexpr std::int64_t kSilence = 5'000 * kNs;
  Session s = MakeSession();
  s.Begin(0, kStartMs * kNs, 0);
  std::vector<Outgoing> out;
  std::vector<std::size_t> msg;
  std::vector<Record> a = {ReadingRecord(1, "d1", "x", 1, kStartMs),
                           ReadingRecord(2, "d2", "x", 1, kStartMs)};
  s.Encode(a, kStartMs, 0, out, msg);  // NBIRTH, DBIRTH d1, DDATA, DBIRTH d2, DDATA: seq 0..4
  CHECK(s.NextSilenceNs(kSilence) == kSilence);
  out.clear();
  std::vector<Record> b = {ReadingRecord(3, "d1", "x", 2, kStartMs + 3'000)};
  s.Encode(b, kStartMs + 3'000, 3'000 * kNs, out, msg);  // d1 seen at 3 s: seq 5
  out.clear();
  s.Deaths(4'999 * kNs, kSilence, kStartMs + 4'999, out);
  CHECK(out.empty());  // d2's 5 s are not over yet
  s.Deaths(5'000 * kNs, kSilence, kStartMs + 5'000, out);
  REQUIRE(out.size() == 1);  // only d2: d1 was seen at 3 s
  CHECK(out[0].topic == "spBv1.0/g/DDEATH/n/d2");
  Decoded death = Decode(out[0].payload);
  CHECK(death.p->seq == 6);
  CHECK(death.p->n_metrics == 0);
  CHECK(death.p->timestamp == static_cast<std::uint64_t>(kStartMs + 5'000));
  CHECK(s.device_dead("d2"));
  CHECK(s.NextSilenceNs(kSilence) == 8'000 * kNs);  // d1's deadline only
  out.clear();
  s.Deaths(6'000 * kNs, kSilence, kStartMs + 6'000, out);
  CHECK(out.empty());  // one DDEATH only

  // A rebirth request does not resurrect it; its next record does, with a DBIRTH first.
  s.Births(kStartMs + 6'000, out);
  REQUIRE(out.size() == 2);
  CHECK(out[1].topic == "spBv1.0/g/DBIRTH/n/d1");
  out.clear();
  std::vector<Record> c = {ReadingRecord(4, "d2", "x", 3, kStartMs + 7'000)};
  s.Encode(c, kStartMs + 7'000, 7'000 * kNs, out, msg);
  REQUIRE(out.size() == 2);
  CHECK(out[0].topic == "spBv1.0/g/DBIRTH/n/d2");
  CHECK(out[1].topic == "spBv1.0/g/DDATA/n/d2");
  CHECK(!s.device_dead("d2"));
}

TEST_CASE(
    "tck-id-operational-behavior-device-ddeath: a device whose every series turns bad gets a "
    "DDEATH, its bad readings are then acknowledged without being sent") {
  Session s = MakeSession();
  s.Begin(0, kStartMs * kNs, 0);
  std::vector<Outgoing> out;
  std::vector<std::size_t> msg;
  std::vector<Record> a = {ReadingRecord(1, "unit-7", "x", 1, kStartMs),
                           ReadingRecord(2, "unit-7", "y", 1, kStartMs),
                           EventRecord(3, "unit-7", EventKind::kAlarm, NAN, kStartMs)};
  s.Encode(a, kStartMs, 0, out, msg);
  out.clear();
  // One series bad: still alive (its metric is sent as null).
  std::vector<Record> b = {ReadingRecord(4, "unit-7", "x", NAN, kStartMs + 1, "", Quality::kBad)};
  s.Encode(b, kStartMs + 1, 0, out, msg);
  REQUIRE(out.size() == 1);
  CHECK(Decode(out[0].payload).p->metrics[0]->is_null);
  out.clear();
  // Both bad (the unit stopped answering): the data, then its DDEATH.
  std::vector<Record> c = {ReadingRecord(5, "unit-7", "y", NAN, kStartMs + 2, "", Quality::kBad)};
  s.Encode(c, kStartMs + 2, 0, out, msg);
  REQUIRE(out.size() == 2);
  CHECK(out[0].topic == "spBv1.0/g/DDATA/n/unit-7");
  CHECK(out[1].topic == "spBv1.0/g/DDEATH/n/unit-7");
  CHECK(s.device_dead("unit-7"));
  out.clear();
  // Dead: more bad readings are delivered as nothing to send.
  std::vector<Record> d = {ReadingRecord(6, "unit-7", "x", NAN, kStartMs + 3, "", Quality::kBad),
                           ReadingRecord(7, "unit-7", "y", NAN, kStartMs + 3, "", Quality::kBad)};
  s.Encode(d, kStartMs + 3, 0, out, msg);
  CHECK(out.empty());
  CHECK(msg == std::vector<std::size_t>{Session::kNoMessage, Session::kNoMessage});
  // A good reading: DBIRTH (every metric) and data.
  std::vector<Record> e = {ReadingRecord(8, "unit-7", "x", 5, kStartMs + 4)};
  s.Encode(e, kStartMs + 4, 0, out, msg);
  REQUIRE(out.size() == 2);
  CHECK(out[0].topic == "spBv1.0/g/DBIRTH/n/unit-7");
  CHECK(Decode(out[0].payload).p->n_metrics == 3);
  CHECK(out[1].topic == "spBv1.0/g/DDATA/n/unit-7");
  CHECK(!s.device_dead("unit-7"));
}

TEST_CASE(
    "tck-id-message-flow-edge-node-birth-publish-phid-wait-online, "
    "tck-id-message-flow-edge-node-birth-publish-phid-wait-timestamp: STATE is JSON with online "
    "and timestamp, an older STATE does not count") {
  std::optional<HostState> on = ParseHostState(R"({"online":true,"timestamp":1700000000000})");
  REQUIRE(on);
  CHECK(on->online);
  CHECK(on->timestamp == 1700000000000u);
  // The 2.2-era bdSeq key is ignored.
  CHECK(ParseHostState(R"({"online":false,"bdSeq":3,"timestamp":5})").has_value());
  CHECK(!ParseHostState(R"({"online":"true","timestamp":5})"));  // not a bool
  CHECK(!ParseHostState(R"({"online":true})"));                  // no timestamp
  CHECK(!ParseHostState(R"({"online":true,"timestamp":-1})"));
  CHECK(!ParseHostState("ONLINE"));  // Sparkplug 2.2's plain-text STATE
  CHECK(!ParseHostState(""));

  HostTracker t;
  CHECK(!t.online());
  CHECK(t.Observe({true, 100}));
  CHECK(t.online());
  CHECK(!t.Observe({false, 99}));  // older: a stale retained message
  CHECK(t.online());
  CHECK(t.Observe({true, 100}));  // the same one again (retained, delivered on resubscribe)
  CHECK(t.Observe({false, 101}));
  CHECK(!t.online());
}

namespace {

Record TypedRecord(std::uint64_t seq, const std::string& series, const Reading& value) {
  Reading r = value;
  r.device = "plc";
  r.series = series;
  r.ts_ns = kStartMs * kNs;
  NewRecord nr = ToRecord(r);
  return Record{seq, nr.kind, nr.ts_ns, nr.device, nr.series, nr.body};
}

Reading Int(std::int64_t v) {
  Reading r;
  r.SetInteger(v);
  return r;
}

Reading Bool(bool v) {
  Reading r;
  r.SetBoolean(v);
  return r;
}

Reading Text(std::string v) {
  Reading r;
  r.SetText(std::move(v));
  return r;
}

}  // namespace

TEST_CASE(
    "tck-id-payloads-metric-datatype-value-type: readings keep their kind as Int64, Boolean "
    "and String metrics") {
  Session s = MakeSession();
  s.Begin(0, kStartMs * kNs, 0);
  Reading bad;
  bad.kind = ValueKind::kInt64;
  bad.quality = Quality::kBad;
  bad.value = kNaN;
  std::vector<Record> recs = {
      TypedRecord(1, "count", Int(-5)), TypedRecord(2, "running", Bool(true)),
      TypedRecord(3, "state", Text("RUNNING")), TypedRecord(4, "big", Int(9007199254740993)),
      TypedRecord(5, "count", bad)};
  std::vector<Outgoing> out;
  std::vector<std::size_t> msg;
  s.Encode(recs, kStartMs, 0, out, msg);
  REQUIRE(out.size() == 3);  // NBIRTH, DBIRTH, DDATA
  Decoded birth = Decode(out[1].payload);
  const PbMetric* count = birth.Find("count");
  REQUIRE(count != nullptr);
  CHECK(count->datatype == 4);  // Int64
  CHECK(count->value_case == ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_LONG_VALUE);
  // The specification carries an Int64 in the uint64 long_value, two's complement.
  CHECK(static_cast<std::int64_t>(count->long_value) == -5);
  CHECK(birth.Find("big")->long_value == 9007199254740993u);  // exact beyond 2^53
  CHECK(birth.Find("running")->datatype == 11);
  CHECK(birth.Find("running")->boolean_value);
  const PbMetric* state = birth.Find("state");
  REQUIRE(state != nullptr);
  CHECK(state->datatype == 12);
  REQUIRE(state->value_case == ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_STRING_VALUE);
  CHECK(std::string(state->string_value) == "RUNNING");

  Decoded data = Decode(out[2].payload);
  REQUIRE(data.p->n_metrics == 5);
  CHECK(static_cast<std::int64_t>(data.p->metrics[0]->long_value) == -5);
  CHECK(data.p->metrics[1]->boolean_value);
  CHECK(std::string(data.p->metrics[2]->string_value) == "RUNNING");
  // The bad reading: a null of the series' own type, no new birth.
  CHECK(data.p->metrics[4]->alias == count->alias);
  CHECK(data.p->metrics[4]->is_null);
}

TEST_CASE("a series whose kind changes gets a new DBIRTH with the new datatype, same alias") {
  Session s = MakeSession();
  s.Begin(0, kStartMs * kNs, 0);
  std::vector<Outgoing> out;
  std::vector<std::size_t> msg;
  std::vector<Record> a = {TypedRecord(1, "level", Int(3))};
  s.Encode(a, kStartMs, 0, out, msg);
  const std::uint64_t alias = Decode(out[1].payload).Find("level")->alias;
  out.clear();
  std::vector<Record> same = {TypedRecord(2, "level", Int(4))};
  s.Encode(same, kStartMs, 0, out, msg);
  REQUIRE(out.size() == 1);  // data only
  out.clear();
  // The tag was reconfigured with a scale: now a double.
  Reading d;
  d.value = 0.4;
  std::vector<Record> b = {TypedRecord(3, "level", d)};
  s.Encode(b, kStartMs, 0, out, msg);
  REQUIRE(out.size() == 2);
  CHECK(out[0].topic == "spBv1.0/g/DBIRTH/n/plc");
  Decoded birth = Decode(out[0].payload);  // owns what `level` points into
  const PbMetric* level = birth.Find("level");
  REQUIRE(level != nullptr);
  CHECK(level->datatype == 10);
  CHECK(level->alias == alias);
  CHECK(Decode(out[1].payload).p->metrics[0]->double_value == doctest::Approx(0.4));
}
