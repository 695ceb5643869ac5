// `test-rules`: unit tests for rule files, written in TOML (like `promtool test rules`).
//
//   rule_files = ["../example.toml"]      # relative to the test file
//
//   [[test]]
//   name = "three hot readings raise the alarm"
//   kinds = ["alarm", "clear"]             # compare only these event kinds (default: all)
//   [[test.input]]
//   device = "pump-1"
//   series = "temperature"
//   start_ms = 0                           # time of the first value (default 0)
//   interval_ms = 5000                     # between values (default 1000)
//   values = [70, 81, 82, 83, "_", "nan"]  # "_": no reading at that step; "nan", "inf"
//   [[test.expect]]                        # in order; only the fields given are compared
//   kind = "alarm"
//   rule = "pump_temperature"
//   device = "pump-1"
//   series = "temperature"
//   at_ms = 15000
//   value = 83.0                           # also score, health, rul (within `tolerance`)
//   severity = "warning"
//
// Each test runs a fresh engine on the merged inputs in time order (inputs in file order at
// equal times), calling Engine::Tick with each reading's time first, exactly like replay.
// Prints one line per test ("ok" or "FAILED" with what differed). Returns 0 when every test
// passed, 1 when one failed, 78 on errors in a test or rule file (printed like `check`).
//
// Thread-safety: reentrant; no globals.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace pn::rules {

int RunRuleTests(const std::vector<std::string>& test_files, std::ostream& out, std::ostream& err);

}  // namespace pn::rules
