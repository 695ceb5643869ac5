// Record encoding: the JSON a forwarder sends.
#include "core/record.h"

#include <doctest/doctest.h>

using namespace pn;

TEST_CASE("a reading becomes a JSON object with gateway and seq in front") {
  Reading r{"pump-1", "temperature", 41.5, "degC", Quality::kGood, 1767225600000000000};
  NewRecord n = ToRecord(r);
  CHECK(n.kind == RecordKind::kReading);
  Record rec{7, n.kind, n.ts_ns, n.device, n.series, n.body};
  CHECK(WireJson("gw-1", rec) ==
        R"({"gateway":"gw-1","seq":7,"type":"reading","ts_ns":1767225600000000000,)"
        R"("device":"pump-1","series":"temperature","value":41.5,"unit":"degC","quality":"good"})");
}

TEST_CASE("an event carries only the fields that apply, strings are escaped") {
  Event e;
  e.ts_ns = 5;
  e.device = "d\"1";
  e.series = "s";
  e.rule = "r\n";
  e.kind = EventKind::kAlarm;
  e.value = 90;
  e.severity = "critical";
  NewRecord n = ToRecord(e);
  CHECK(n.body == R"({"type":"event","ts_ns":5,"device":"d\"1","series":"s","rule":"r\n",)"
                  R"("kind":"alarm","value":90,"severity":"critical"})");
}

TEST_CASE("non-finite values are written as null, never as invalid JSON") {
  Reading r{"d", "s", std::numeric_limits<double>::infinity(), "", Quality::kBad, 1};
  CHECK(ToRecord(r).body.find("\"value\":null") != std::string::npos);
}

TEST_CASE("a reading's kind: exact integers, booleans and strings, with value_type") {
  Reading r{"plc", "count", 0.0, "", Quality::kGood, 1};
  r.SetInteger(9007199254740993);  // 2^53 + 1: not representable as a double
  CHECK(ToRecord(r).body == R"({"type":"reading","ts_ns":1,"device":"plc","series":"count",)"
                            R"("value":9007199254740993,"value_type":"int64","quality":"good"})");
  r.SetBoolean(true);
  CHECK(ToRecord(r).body.find(R"("value":true,"value_type":"boolean")") != std::string::npos);
  r.SetText("RUN \"A\"");
  CHECK(ToRecord(r).body.find(R"("value":"RUN \"A\"","value_type":"string")") != std::string::npos);
  // No value when bad, but the series keeps its kind.
  r.quality = Quality::kBad;
  CHECK(ToRecord(r).body.find(R"("value":null,"value_type":"string")") != std::string::npos);
  Reading b{"plc", "count", kNaN, "", Quality::kBad, 1};
  b.kind = ValueKind::kInt64;
  CHECK(ToRecord(b).body.find(R"("value":null,"value_type":"int64")") != std::string::npos);
  // A double has no value_type: records of older builds read the same.
  Reading d{"plc", "t", 1.5, "", Quality::kGood, 1};
  CHECK(ToRecord(d).body.find("value_type") == std::string::npos);
}

TEST_CASE("a time from an unsynchronised clock is marked in the body, a synced one is not") {
  Reading r{"d", "s", 1.5, "", Quality::kGood, 1};
  CHECK(ToRecord(r).body.find("clock") == std::string::npos);
  r.clock = ClockMark::kUnsynced;
  CHECK(ToRecord(r).body ==
        R"({"type":"reading","ts_ns":1,"device":"d","series":"s","value":1.5,"quality":"good",)"
        R"("clock":"unsynced"})");
  Event e;
  e.ts_ns = 2;
  e.device = "d";
  e.series = "s";
  e.rule = "r";
  e.kind = EventKind::kAlarm;
  e.clock = ClockMark::kCorrected;
  CHECK(ToRecord(e).body ==
        R"({"type":"event","ts_ns":2,"device":"d","series":"s","rule":"r","kind":"alarm",)"
        R"("clock":"corrected"})");
}
