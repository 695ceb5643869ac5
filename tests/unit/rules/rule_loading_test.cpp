// Rule files: loading, and every kind of error message (golden strings).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "rules/engine.h"

namespace pn::rules {
namespace {

// Loads `text` as "r.toml" and returns the error listing ("" when it loaded).
std::string Errors(const std::string& text) {
  config::ErrorList errors;
  auto engine = Engine::LoadString(text, "r.toml", errors);
  CHECK((engine == nullptr) == !errors.empty());
  return errors.ToString();
}

TEST_CASE("a valid rule file loads with every section") {
  config::ErrorList errors;
  auto engine = Engine::LoadString(R"(
[[rule]]
name = "a"
devices = ["pump-*"]
series = ["temperature"]
[rule.validate]
min = 0.0
max = 100
max_rate_per_s = 2.5
stale_after_ms = 1000
stuck_count = 10
[rule.detector]
type = "threshold"
above = 80.0
below = 1.0
min_score = 0.9
[rule.alarm]
raise_after = 2
raise_after_ms = 100
clear_after = 3
clear_after_ms = 200
clear_below = 0.5
severity = "critical"
[rule.report]
deadband = 0.5
max_silence_ms = 60000

[[rule]]
name = "b"
)",
                                   "r.toml", errors);
  REQUIRE(errors.ToString() == "");
  REQUIRE(engine != nullptr);
  CHECK(engine->rule_count() == 2);
}

TEST_CASE("an empty rule file loads with no rules") {
  config::ErrorList errors;
  auto engine = Engine::LoadString("", "r.toml", errors);
  REQUIRE(engine != nullptr);
  CHECK(engine->rule_count() == 0);
}

TEST_CASE("TOML syntax error names file, line and column") {
  CHECK(Errors("[[rule]]\nname = \n").rfind("r.toml:2:", 0) == 0);
}

TEST_CASE("unreadable rule file is reported") {
  config::ErrorList errors;
  auto engine = Engine::LoadFiles({"/nonexistent/rules.toml"}, errors);
  CHECK(engine == nullptr);
  REQUIRE(errors.size() == 1);
  CHECK(errors.ToString().find("/nonexistent/rules.toml") == 0);
}

TEST_CASE("missing name, unknown key and wrong type") {
  CHECK(Errors("[[rule]]\nseries = \"x\"\nnmae = \"a\"\n") ==
        "r.toml:1:1: rule[0].name: required key is missing\n"
        "r.toml:2:1: rule[0].series: expected an array of strings, found a string\n"
        "r.toml:3:1: rule[0].nmae: unknown key (did you mean 'name'?)\n");
}

TEST_CASE("duplicate rule names are reported with the first definition") {
  CHECK(Errors("[[rule]]\nname = \"a\"\n[[rule]]\nname = \"a\"\n") ==
        "r.toml:4:1: rule[1].name: duplicate rule name \"a\" (first defined at r.toml:2:1)\n");
}

TEST_CASE("duplicate rule names across files are reported") {
  config::ErrorList errors;
  // LoadFiles on two copies of one file: the second one's rule is a duplicate.
  std::string path =
      std::string(PN_BINARY_DIR) + "/rules_test_dup-" + std::to_string(::getpid()) + ".toml";
  {
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs("[[rule]]\nname = \"a\"\n", f);
    std::fclose(f);
  }
  auto engine = Engine::LoadFiles({path, path}, errors);
  std::remove(path.c_str());
  CHECK(engine == nullptr);
  CHECK(errors.ToString() ==
        path + ":2:1: rule[0].name: duplicate rule name \"a\" (first defined at " + path +
            ":2:1)\n");
}

TEST_CASE("bad globs are reported per element") {
  CHECK(Errors("[[rule]]\nname = \"a\"\ndevices = [\"pump-[12\"]\nseries = []\n") ==
        "r.toml:3:12: rule[0].devices[0]: unterminated '[' in glob \"pump-[12\"\n"
        "r.toml:4:1: rule[0].series: must list at least one glob\n");
}

TEST_CASE("unknown detector lists the known ones") {
  std::string e = Errors("[[rule]]\nname = \"a\"\n[rule.detector]\ntype = \"zscor\"\n");
  CHECK(e.rfind("r.toml:4:1: rule[0].detector.type: unknown detector \"zscor\" (known: ", 0) == 0);
  CHECK(e.find("threshold") != std::string::npos);
}

TEST_CASE("detector with an out-of-range min_score") {
  CHECK(Errors("[[rule]]\nname = \"a\"\n[rule.detector]\nmin_score = 1.5\n") ==
        "r.toml:4:1: rule[0].detector.min_score: value 1.5 is out of range: must be between 0 "
        "and 1\n");
}

TEST_CASE("threshold parameters are checked against its spec") {
  CHECK(Errors("[[rule]]\nname = \"a\"\n[rule.detector]\ntype = \"threshold\"\nabove = \"80\"\n"
               "abov = 1\n") ==
        "r.toml:5:1: rule[0].detector.above: expected a number, found a string\n"
        "r.toml:6:1: rule[0].detector.abov: unknown key (did you mean 'above'?)\n");
  CHECK(Errors("[[rule]]\nname = \"a\"\n[rule.detector]\ntype = \"threshold\"\n") ==
        "r.toml:3:7: rule[0].detector: threshold detector needs \"above\", \"below\" or both\n");
  CHECK(Errors("[[rule]]\nname = \"a\"\n[rule.detector]\ntype = \"threshold\"\nabove = 1\n"
               "below = 2\n") ==
        "r.toml:6:1: rule[0].detector.below: must be less than \"above\" (every value would be "
        "anomalous)\n");
}

TEST_CASE("alarm errors: no detector, bad severity, clear_below above min_score") {
  CHECK(Errors("[[rule]]\nname = \"a\"\n[rule.alarm]\nraise_after = 2\n") ==
        "r.toml:3:7: rule[0].alarm: an alarm needs a [rule.detector]\n");
  CHECK(Errors("[[rule]]\nname = \"a\"\n[rule.detector]\ntype = \"threshold\"\nabove = 1\n"
               "[rule.alarm]\nseverity = \"loud\"\nraise_after = 0\n") ==
        "r.toml:7:1: rule[0].alarm.severity: \"loud\" is not one of the allowed values: "
        "\"info\", \"warning\", \"critical\"\n"
        "r.toml:8:1: rule[0].alarm.raise_after: value 0 is out of range: must be at least 1\n");
  CHECK(Errors("[[rule]]\nname = \"a\"\n[rule.detector]\ntype = \"threshold\"\nabove = 1\n"
               "min_score = 0.5\n[rule.alarm]\nclear_below = 0.7\n") ==
        "r.toml:8:1: rule[0].alarm.clear_below: must be at most the detector's min_score "
        "(0.5)\n");
}

TEST_CASE("validate errors: max below min, bad stuck_count") {
  CHECK(Errors("[[rule]]\nname = \"a\"\n[rule.validate]\nmin = 5\nmax = 1\n") ==
        "r.toml:5:1: rule[0].validate.max: must be at least min (5)\n");
  CHECK(Errors("[[rule]]\nname = \"a\"\n[rule.validate]\nstuck_count = 1\n") ==
        "r.toml:4:1: rule[0].validate.stuck_count: value 1 is out of range: must be at least 2\n");
}

TEST_CASE("unknown health model is reported") {
  CHECK(Errors("[[rule]]\nname = \"a\"\nseries = [\"s1\"]\n[rule.health]\nmethod = \"nope\"\n")
            .rfind("r.toml:5:1: rule[0].health.method: unknown health model \"nope\" (known: ",
                   0) == 0);
}

TEST_CASE("a detector type or health method that is not a string, a missing method") {
  CHECK(Errors("[[rule]]\nname = \"a\"\n[rule.detector]\ntype = 3\n") ==
        "r.toml:4:1: rule[0].detector.type: expected a string, found an integer\n");
  CHECK(Errors("[[rule]]\nname = \"a\"\nseries = [\"s1\"]\n[rule.health]\nmethod = [\"x\"]\n") ==
        "r.toml:5:1: rule[0].health.method: expected a string, found an array of strings\n");
  CHECK(Errors("[[rule]]\nname = \"a\"\nseries = [\"s1\"]\n[rule.health]\n") ==
        "r.toml:4:7: rule[0].health.method: required key is missing\n");
}

TEST_CASE("every error of every rule is reported at once") {
  std::string e = Errors(
      "[[rule]]\nname = \"a\"\n[rule.detector]\ntype = \"x\"\n"
      "[[rule]]\nname = \"b\"\nfoo = 1\n");
  CHECK(e.find("rule[0].detector.type") != std::string::npos);
  CHECK(e.find("rule[1].foo: unknown key") != std::string::npos);
}

}  // namespace
}  // namespace pn::rules
