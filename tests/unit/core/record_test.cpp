// Record encoding: the JSON a forwarder sends.
#include "gateway/core/record.h"

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
