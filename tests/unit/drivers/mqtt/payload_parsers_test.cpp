// MQTT topic templates and payload parsers (plain, JSON, line protocol) as pure functions.
#include "drivers/mqtt/payload_parsers.h"

#include <doctest/doctest.h>

#include <cstdio>

#include "drivers/mqtt/message_decoder.h"
#include "drivers/mqtt/topic_template.h"

namespace pn::mqtt {
namespace {

TopicTemplate T(std::string_view s) {
  auto t = TopicTemplate::Parse(s);
  REQUIRE_MESSAGE(t.has_value(), (t ? "" : t.error().message()));
  return *t;
}

// A value in its kind: 21.5, 40i, true, "text".
std::string ValueText(const Decoded& d) {
  switch (d.kind) {
    case ValueKind::kInt64:
      return std::to_string(d.integer) + "i";
    case ValueKind::kBoolean:
      return d.value != 0 ? "true" : "false";
    case ValueKind::kString:
      return "\"" + d.text + "\"";
    case ValueKind::kDouble:
      break;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", d.value);
  return buf;
}

// "device series=value@ts" per reading, or "error: reason".
std::string Run(PayloadParser& p, std::string_view payload, std::string_view device = "dev",
                std::string_view series = "s") {
  std::vector<Decoded> out;
  Status st = p.Parse(payload, TopicFields{device, series}, out);
  if (!st.ok()) {
    CHECK(out.empty());
    return "error: " + st.message();
  }
  std::string s;
  for (const auto& d : out) {
    if (!s.empty()) s += "; ";
    s += d.device + " " + d.series + "=" + ValueText(d);
    if (d.ts_ns != 0) s += "@" + std::to_string(d.ts_ns);
  }
  return s;
}

std::string Match(const TopicTemplate& t, std::string_view topic) {
  std::string_view d = "-";
  std::string_view s = "-";
  if (!t.Match(topic, d, s)) return "no";
  return std::string(d) + "|" + std::string(s);
}

}  // namespace

TEST_CASE("topic template: filter and captures") {
  auto t = T("plant/{device}/{series}");
  CHECK(t.filter() == "plant/+/+");
  CHECK(Match(t, "plant/pump-1/temperature") == "pump-1|temperature");
  CHECK(Match(t, "plant/pump-1") == "no");
  CHECK(Match(t, "plant/pump-1/temperature/x") == "no");
  CHECK(Match(t, "other/pump-1/temperature") == "no");
  CHECK(Match(t, "plant//temperature") == "no");  // an empty device level
}

TEST_CASE("topic template: + and # wildcards, defaults kept when a placeholder is absent") {
  auto t = T("site/+/{device}/#");
  CHECK(t.filter() == "site/+/+/#");
  CHECK(Match(t, "site/a/pump/x/y") == "pump|-");
  CHECK(Match(t, "site/a/pump") == "pump|-");  // "#" also matches the parent level
  CHECK(Match(t, "site/a") == "no");
  CHECK(T("#").filter() == "#");
  CHECK(Match(T("#"), "any/thing") == "-|-");
  CHECK(Match(T("a/b"), "a/b") == "-|-");
}

TEST_CASE("topic template: malformed templates are rejected") {
  for (const char* bad :
       {"", "a/#/b", "a/b+", "a/{device}x", "a/{name}", "{device}/{device}", "a/#x"}) {
    INFO(bad);
    CHECK_FALSE(TopicTemplate::Parse(bad).has_value());
  }
}

TEST_CASE("plain payload: a number, series must come from the topic") {
  auto p = MakePlainParser();
  CHECK(Run(*p, "21.5") == "dev s=21.5");
  CHECK(Run(*p, " -3\n") == "dev s=-3");
  CHECK(Run(*p, "hot") == "error: not a number");
  CHECK(Run(*p, "") == "error: not a number");
  CHECK(Run(*p, "1", "dev", "") == "error: no series: the topic names none");
}

TEST_CASE("json payload: one value, series from the topic, time in ms") {
  JsonOptions o;
  o.time = "ts";
  auto p = MakeJsonParser(o);
  CHECK(Run(*p, R"({"value": 21.5, "ts": 1767225600000})") == "dev s=21.5@1767225600000000000");
  CHECK(Run(*p, R"({"value": true})") == "dev s=true");
  CHECK(Run(*p, R"({"value": "21.5"})") ==
        "error: field value: not a number (list the series in json_text_series to take it as "
        "text)");
  CHECK(Run(*p, R"({"value": [1]})") == "error: field value: not a number");
  CHECK(Run(*p, R"({"other": 1})") == "error: no field value");
  CHECK(Run(*p, R"({"value": 1, "ts": "yesterday"})") ==
        "error: field ts: the time is not a number");
  CHECK(Run(*p, R"({"value": 1, "ts": -5})") == "error: field ts: time out of range");
  CHECK(Run(*p, "{\"value\": 1").rfind("error: invalid JSON", 0) == 0);
  CHECK(Run(*p, "[1, 2]") == "error: not a JSON object");
}

TEST_CASE("json payload: several series from one object, pointers, device from the payload") {
  JsonOptions o;
  o.fields = {{"temperature", "temp"}, {"humidity", "/env/rh"}, {"missing", "nope"}};
  o.time = "t";
  o.time_unit = TimeUnit::kSeconds;
  o.device = "id";
  auto p = MakeJsonParser(o);
  CHECK(Run(*p, R"({"id": "room-4", "temp": 21, "env": {"rh": 40.5}, "t": 1.5})") ==
        "room-4 temperature=21@1500000000; room-4 humidity=40.5@1500000000");
  CHECK(Run(*p, R"({"temp": null, "env": {"rh": 1}})") == "dev humidity=1");
  CHECK(Run(*p, R"({"x": 1})") == "error: none of the mapped fields is present");
  CHECK(Run(*p, R"({"id": 7, "temp": 1})") ==
        "error: field id: the device is not a non-empty string");
  // An array of objects: each is one message's worth.
  CHECK(Run(*p, R"([{"temp": 1}, {"temp": 2}])") == "dev temperature=1; dev temperature=2");
  CHECK(Run(*p, R"([{"temp": 1}, {"temp": "x"}])") ==
        "error: field temp: not a number (list the series in json_text_series to take it as "
        "text)");
}

TEST_CASE("json payload: text series give string readings, others numbers and booleans") {
  JsonOptions o;
  o.fields = {{"state", "state"}, {"temp", "temp"}, {"running", "on"}};
  o.text_series = {"state"};
  auto p = MakeJsonParser(o);
  CHECK(Run(*p, R"({"state": "RUNNING", "temp": 21.5, "on": false})") ==
        "dev state=\"RUNNING\"; dev temp=21.5; dev running=false");
  // A number or boolean in a text series is its JSON text: the series' kind never changes.
  CHECK(Run(*p, R"({"state": 2})") == "dev state=\"2\"");
  CHECK(Run(*p, R"({"state": true})") == "dev state=\"true\"");
  CHECK(Run(*p, R"({"state": ""})") == "dev state=\"\"");
  CHECK(Run(*p, R"({"state": {"a": 1}})") == "error: field state: not a string, number or boolean");
  CHECK(Run(*p, R"({"state": null, "temp": 1})") == "dev temp=1");
}

TEST_CASE("json payload: series named by a payload field") {
  JsonOptions o;
  o.series = "name";
  o.value = "v";
  auto p = MakeJsonParser(o);
  CHECK(Run(*p, R"({"name": "flow", "v": 3})") == "dev flow=3");
  CHECK(Run(*p, R"({"v": 3})", "dev", "") ==
        "error: no series: neither the topic nor the payload names one");
}

TEST_CASE("line protocol: fields, tags, escapes, timestamps, several lines") {
  LineProtocolOptions o;
  auto p = MakeLineProtocolParser(o);
  CHECK(Run(*p, "env,device=room-1 temp=21.5,hum=40i 1767225600000000000") ==
        "room-1 temp=21.5@1767225600000000000; room-1 hum=40i@1767225600000000000");
  CHECK(Run(*p, "env temp=21.5") == "dev temp=21.5");
  CHECK(Run(*p, "env,site=a\\ b,device=r\\,1 on=t,off=F,count=7u,label=\"a, b=c\"") ==
        "r,1 on=true; r,1 off=false; r,1 count=7i; r,1 label=\"a, b=c\"");
  CHECK(Run(*p, R"(env say="\"hi\" \\ ok",n=-3i)") == "dev say=\"\"hi\" \\ ok\"; dev n=-3i");
  CHECK(Run(*p, "# comment\n\nenv a=1 10\r\nenv b=2 20\n") == "dev a=1@10; dev b=2@20");
  LineProtocolOptions ms;
  ms.series_with_measurement = true;
  ms.precision = TimeUnit::kMilliseconds;
  auto q = MakeLineProtocolParser(ms);
  CHECK(Run(*q, "env a=1 5") == "dev env_a=1@5000000");
}

TEST_CASE("line protocol: malformed lines are errors and give nothing") {
  auto p = MakeLineProtocolParser({});
  CHECK(Run(*p, "env") == "error: line 1: no fields");
  CHECK(Run(*p, "env a=1\nenv b=") == "error: line 2: field b: bad number");
  CHECK(Run(*p, "env a=1x") == "error: line 1: field a: bad number");
  CHECK(Run(*p, "env a=12xi") == "error: line 1: field a: bad integer");
  CHECK(Run(*p, "env,t a=1") == "error: line 1: malformed tag");
  CHECK(Run(*p, "env a=\"open") == "error: line 1: unterminated string field");
  CHECK(Run(*p, "env a=1 soon") == "error: line 1: bad timestamp");
  CHECK(Run(*p, ",t=1 a=1") == "error: line 1: no measurement");
  LineProtocolOptions s;
  s.precision = TimeUnit::kSeconds;
  CHECK(Run(*MakeLineProtocolParser(s), "env a=1 99999999999999") ==
        "error: line 1: timestamp out of range");
}

TEST_CASE("message decoder: first matching template wins, unmatched topics are errors") {
  std::vector<TopicTemplate> topics = {T("plant/{device}/{series}"), T("lab/{device}")};
  MessageDecoder d(std::move(topics), "gw", "level", MakePlainParser());
  std::vector<Reading> out;
  CHECK(d.Decode("plant/p1/temp", "1.5", 42, out).ok());
  CHECK(d.Decode("lab/l7", "2", 43, out).ok());
  CHECK_FALSE(d.Decode("elsewhere/x", "3", 44, out).ok());
  REQUIRE(out.size() == 2);
  CHECK(out[0].device == "p1");
  CHECK(out[0].series == "temp");
  CHECK(out[0].ts_ns == 42);
  CHECK(out[1].device == "l7");
  CHECK(out[1].series == "level");
}

}  // namespace pn::mqtt
