#include "gateway/upstream/mqtt/mqtt_encoding.h"

#include <doctest/doctest.h>

#include <vector>

#include "core/reading.h"
#include "core/record.h"

namespace pn::mqtt_upstream {
namespace {

Record MakeReading(std::uint64_t seq, std::string device, std::string series, double value,
                   std::string unit = "degC") {
  Reading r{.device = std::move(device),
            .series = std::move(series),
            .value = value,
            .unit = std::move(unit),
            .quality = Quality::kGood,
            .ts_ns = 1700000000000000000};
  NewRecord n = ToRecord(r);
  return Record{seq, n.kind, n.ts_ns, n.device, n.series, n.body};
}

Record MakeEvent(std::uint64_t seq, EventKind kind) {
  Event e;
  e.ts_ns = 1700000000000000001;
  e.device = "pump-2";
  e.series = "temperature";
  e.rule = "too hot";
  e.kind = kind;
  e.value = 131.5;
  e.score = 0.9;
  e.severity = "critical";
  e.message = "above \"90\"\nfor 3 readings";
  NewRecord n = ToRecord(e);
  return Record{seq, n.kind, n.ts_ns, n.device, n.series, n.body};
}

EncoderOptions Opts(PayloadFormat f, std::string topic = "{gateway}/{device}/{series}") {
  EncoderOptions o;
  o.gateway_id = "gw-1";
  o.upstream = "scada";
  o.topic = *TopicTemplate::Parse(topic);
  o.format = f;
  return o;
}

TEST_CASE("topic template expands every placeholder") {
  auto t = TopicTemplate::Parse("plants/{gateway}/{upstream}/{device}/{series}/{type}/{kind}");
  REQUIRE(t);
  TopicValues v{"gw", "up", "pump-1", "flow", "event", "alarm"};
  CHECK(t->Expand(v) == "plants/gw/up/pump-1/flow/event/alarm");
  CHECK(t->Uses(Placeholder::kKind));
  auto plain = TopicTemplate::Parse("fixed/topic");
  REQUIRE(plain);
  CHECK(plain->Expand(v) == "fixed/topic");
  CHECK_FALSE(plain->Uses(Placeholder::kDevice));
}

TEST_CASE("topic template: doubled braces are literal braces") {
  auto t = TopicTemplate::Parse("a{{b}}/{device}");
  REQUIRE(t);
  CHECK(t->Expand(TopicValues{.device = "d"}) == "a{b}/d");
}

TEST_CASE("topic template: wildcards in values become underscores, slashes stay") {
  auto t = TopicTemplate::Parse("{gateway}/{device}");
  REQUIRE(t);
  CHECK(t->Expand(TopicValues{.gateway = "g+1", .device = "line#1/pump"}) == "g_1/line_1/pump");
}

TEST_CASE("topic template errors name the problem") {
  auto unknown = TopicTemplate::Parse("{gateway}/{sensor}");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message().find("unknown placeholder {sensor}") != std::string::npos);
  auto unclosed = TopicTemplate::Parse("{gateway/x");
  REQUIRE_FALSE(unclosed);
  CHECK(unclosed.error().message().find("unclosed") != std::string::npos);
  CHECK_FALSE(TopicTemplate::Parse("a}b"));
  CHECK_FALSE(TopicTemplate::Parse(""));
  CHECK_FALSE(TopicTemplate::Parse("a/+/b"));
  CHECK_FALSE(TopicTemplate::Parse("a/#"));
  const std::array<Placeholder, 1> only_gateway = {Placeholder::kGateway};
  CHECK(TopicTemplate::Parse("{gateway}/status", only_gateway));
  auto not_allowed = TopicTemplate::Parse("{device}/status", only_gateway);
  REQUIRE_FALSE(not_allowed);
  CHECK(not_allowed.error().message().find("not allowed") != std::string::npos);
}

TEST_CASE("influx line of a reading: measurement = series, sorted tags, value, seq, ns") {
  std::string line;
  AppendInfluxLine(line, "gw-1", "events", MakeReading(42, "pump-1", "temperature", 47.5));
  CHECK(line ==
        "temperature,device=pump-1,gateway=gw-1,quality=good,unit=degC value=47.5,seq=42i "
        "1700000000000000000");
}

TEST_CASE("influx: a time taken while the clock was unsynchronised carries a clock tag") {
  Reading r{.device = "pump-1",
            .series = "temperature",
            .value = 47.5,
            .unit = "degC",
            .ts_ns = 1'000'000'000};
  r.clock = ClockMark::kUnsynced;
  NewRecord n = ToRecord(r);
  std::string line;
  AppendInfluxLine(line, "gw-1", "events", Record{7, n.kind, n.ts_ns, n.device, n.series, n.body});
  CHECK(line ==
        "temperature,clock=unsynced,device=pump-1,gateway=gw-1,quality=good,unit=degC "
        "value=47.5,seq=7i 1000000000");
}

TEST_CASE("influx escapes commas, spaces and equals signs and drops empty tags") {
  std::string line;
  AppendInfluxLine(line, "gw 1", "events", MakeReading(7, "pump=1,a", "flow rate", 2.0, ""));
  CHECK(line ==
        "flow\\ rate,device=pump\\=1\\,a,gateway=gw\\ 1,quality=good value=2,seq=7i "
        "1700000000000000000");
}

TEST_CASE("influx: a non-finite value leaves out the value field but keeps seq") {
  std::string line;
  AppendInfluxLine(line, "gw", "events", MakeReading(3, "d", "s", kNaN, ""));
  CHECK(line == "s,device=d,gateway=gw,quality=good seq=3i 1700000000000000000");
}

TEST_CASE("influx: a reading's kind gives the field type: integer, boolean, string") {
  auto line_of = [](Reading r) {
    NewRecord n = ToRecord(r);
    std::string line;
    AppendInfluxLine(line, "gw", "events", Record{1, n.kind, n.ts_ns, n.device, n.series, n.body});
    return line;
  };
  Reading r{"plc", "count", 0.0, "", Quality::kGood, 5};
  r.SetInteger(-9007199254740993);
  CHECK(line_of(r) == "count,device=plc,gateway=gw,quality=good value=-9007199254740993i,seq=1i 5");
  r.SetBoolean(false);
  CHECK(line_of(r) == "count,device=plc,gateway=gw,quality=good value=false,seq=1i 5");
  r.SetText("say \"hi\"\\");
  CHECK(line_of(r) ==
        "count,device=plc,gateway=gw,quality=good value=\"say \\\"hi\\\"\\\\\",seq=1i 5");
  r.SetText("");
  CHECK(line_of(r) == "count,device=plc,gateway=gw,quality=good value=\"\",seq=1i 5");
  r.quality = Quality::kBad;  // no value
  CHECK(line_of(r) == "count,device=plc,gateway=gw,quality=bad seq=1i 5");
}

TEST_CASE("influx line of an event: own measurement, kind/rule/series/severity tags") {
  std::string line;
  AppendInfluxLine(line, "gw-1", "alerts", MakeEvent(9, EventKind::kAlarm));
  CHECK(line ==
        "alerts,device=pump-2,gateway=gw-1,kind=alarm,rule=too\\ hot,series=temperature,"
        "severity=critical value=131.5,score=0.9,message=\"above \\\"90\\\" for 3 readings\","
        "seq=9i 1700000000000000001");
}

TEST_CASE("influx: a record with an unreadable body still gives a valid line") {
  Record r{5, RecordKind::kReading, 10, "d", "s", "{not json"};
  std::string line;
  AppendInfluxLine(line, "gw", "events", r);
  CHECK(line == "s,device=d,gateway=gw seq=5i 10");
}

TEST_CASE("json: one message per record, the wire JSON") {
  std::vector<Record> recs = {MakeReading(1, "pump-1", "temperature", 1.0),
                              MakeEvent(2, EventKind::kAlarm)};
  Encoded enc;
  Encode(recs, Opts(PayloadFormat::kJson), enc);
  REQUIRE(enc.messages.size() == 2);
  CHECK(enc.messages[0].topic == "gw-1/pump-1/temperature");
  CHECK(enc.messages[0].payload == WireJson("gw-1", recs[0]));
  CHECK(enc.messages[1].topic == "gw-1/pump-2/temperature");
  CHECK(enc.messages[1].payload == WireJson("gw-1", recs[1]));
  CHECK(enc.message_of == std::vector<std::uint32_t>{0, 1});
}

TEST_CASE("json_batch groups records per topic, in order, and caps each message") {
  std::vector<Record> recs;
  for (std::uint64_t i = 1; i <= 7; ++i) {
    recs.push_back(MakeReading(i, i % 2 == 0 ? "a" : "b", "s", static_cast<double>(i)));
  }
  EncoderOptions o = Opts(PayloadFormat::kJsonBatch, "{device}");
  o.batch_max_records = 3;
  Encoded enc;
  Encode(recs, o, enc);
  // b: 1,3,5 | a: 2,4,6 | b: 7
  REQUIRE(enc.messages.size() == 3);
  CHECK(enc.messages[0].topic == "b");
  CHECK(enc.messages[0].payload == "[" + WireJson("gw-1", recs[0]) + "," +
                                       WireJson("gw-1", recs[2]) + "," + WireJson("gw-1", recs[4]) +
                                       "]");
  CHECK(enc.messages[1].topic == "a");
  CHECK(enc.messages[1].records == 3);
  CHECK(enc.messages[2].topic == "b");
  CHECK(enc.messages[2].payload == "[" + WireJson("gw-1", recs[6]) + "]");
  CHECK(enc.message_of == std::vector<std::uint32_t>{0, 1, 0, 1, 0, 1, 2});
}

TEST_CASE("influx batches are newline-separated lines") {
  std::vector<Record> recs = {MakeReading(1, "p", "t", 1.0, ""), MakeReading(2, "p", "t", 2.0, "")};
  Encoded enc;
  Encode(recs, Opts(PayloadFormat::kInflux, "{gateway}/influx"), enc);
  REQUIRE(enc.messages.size() == 1);
  CHECK(enc.messages[0].topic == "gw-1/influx");
  CHECK(enc.messages[0].payload ==
        "t,device=p,gateway=gw-1,quality=good value=1,seq=1i 1700000000000000000\n"
        "t,device=p,gateway=gw-1,quality=good value=2,seq=2i 1700000000000000000");
}

TEST_CASE("events go to event_topic with their kind") {
  std::vector<Record> recs = {MakeReading(1, "pump-2", "temperature", 1.0),
                              MakeEvent(2, EventKind::kClear)};
  EncoderOptions o = Opts(PayloadFormat::kJson, "{gateway}/{type}/{kind}/{device}");
  Encoded enc;
  Encode(recs, o, enc);
  CHECK(enc.messages[0].topic == "gw-1/reading/reading/pump-2");
  CHECK(enc.messages[1].topic == "gw-1/event/clear/pump-2");
  o.event_topic = *TopicTemplate::Parse("{gateway}/events/{kind}");
  Encode(recs, o, enc);
  CHECK(enc.messages[0].topic == "gw-1/reading/reading/pump-2");
  CHECK(enc.messages[1].topic == "gw-1/events/clear");
}

TEST_CASE("delivered prefix stops at the first record whose message is not acknowledged") {
  Encoded enc;
  enc.messages.resize(3);
  enc.message_of = {0, 1, 0, 1, 2};
  CHECK(DeliveredPrefix(enc, {true, true, true}) == 5);
  CHECK(DeliveredPrefix(enc, {true, false, true}) == 1);
  CHECK(DeliveredPrefix(enc, {false, true, true}) == 0);
  CHECK(DeliveredPrefix(enc, {true, true, false}) == 4);
  CHECK(DeliveredPrefix(enc, {}) == 0);
}

}  // namespace
}  // namespace pn::mqtt_upstream
