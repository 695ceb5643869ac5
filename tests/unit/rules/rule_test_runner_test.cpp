// test-rules: passing and failing rule tests, and errors in test files.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "rules/testing/rule_test.h"

namespace pn::rules {
namespace {

// This process's scratch folder (ctest -j runs cases at once), removed when the process exits.
const std::filesystem::path& ScratchDir() {
  struct Dir {
    std::filesystem::path path =
        std::filesystem::path(PN_BINARY_DIR) / ("rules_test_runner-" + std::to_string(::getpid()));
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

std::string Write(const std::string& name, const std::string& text) {
  const std::filesystem::path& dir = ScratchDir();
  std::filesystem::create_directories(dir);
  std::string path = (dir / name).string();
  std::ofstream(path) << text;
  return path;
}

constexpr const char* kRules = R"(
[[rule]]
name = "hot"
[rule.detector]
type = "threshold"
above = 10.0
[rule.alarm]
raise_after = 2
)";

TEST_CASE("test-rules: the shipped example tests pass") {
  std::ostringstream out, err;
  CHECK(RunRuleTests({std::string(PN_SOURCE_DIR) + "/rules/example_test.toml"}, out, err) == 0);
  CHECK(err.str() == "");
  CHECK(out.str().find("FAILED") == std::string::npos);
}

TEST_CASE("test-rules: a failing expectation prints what differed and returns 1") {
  Write("hot.toml", kRules);
  std::string t = Write("hot_test.toml", R"(
rule_files = ["hot.toml"]
[[test]]
name = "passes"
kinds = ["alarm"]
[[test.input]]
device = "d"
series = "s"
values = [1, 20, "_", 30]
[[test.expect]]
kind = "alarm"
at_ms = 3000
value = 30

[[test]]
name = "fails"
[[test.input]]
device = "d"
series = "s"
values = [20, 5]
[[test.expect]]
kind = "anomaly"
at_ms = 1000
[[test.expect]]
kind = "alarm"
)");
  std::ostringstream out, err;
  CHECK(RunRuleTests({t}, out, err) == 1);
  CHECK(out.str() ==
        t + ": test \"passes\": ok\n" + t +
            ": test \"fails\": FAILED (expected 2 events, got 1)\n"
            "    event [0] differs in at_ms:\n"
            "      expected: kind=anomaly at_ms=1000\n"
            "      got:      kind=anomaly rule=hot device=d series=s at_ms=0 value=20 score=1\n"
            "    missing event [1]: kind=alarm\n");
}

TEST_CASE("test-rules: errors in the test file exit 78 with positions") {
  std::string t = Write("bad_test.toml", R"(rule_files = ["nope.toml"]
[[test]]
name = "x"
[[test.input]]
device = "d"
values = [1, "x"]
)");
  std::ostringstream out, err;
  CHECK(RunRuleTests({t}, out, err) == 78);
  CHECK(err.str() == t + ":4:1: test[0].input[0].series: required key is missing\n" + t +
                         ":6:14: test[0].input[0].values[1]: expected a number, \"_\", \"nan\", "
                         "\"inf\" or \"-inf\"\n");
}

}  // namespace
}  // namespace pn::rules
