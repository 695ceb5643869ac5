// Derived series: the expression language and derives in the engine.
#include "rules/expressions/expression.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "rules/engine.h"

namespace pn::rules {
namespace {

double Eval(const std::string& text, std::vector<double> vars = {}) {
  auto e = Expression::Compile(text);
  INFO(text);
  REQUIRE(e.has_value());
  REQUIRE(e->variables().size() == vars.size());
  return e->Eval(vars);
}

std::string CompileError(const std::string& text) {
  auto e = Expression::Compile(text);
  return e ? "" : e.error().message();
}

TEST_CASE("expressions: arithmetic, precedence and associativity") {
  CHECK(Eval("1 + 2 * 3") == 7);
  CHECK(Eval("(1 + 2) * 3") == 9);
  CHECK(Eval("2 ^ 3 ^ 2") == 512);
  CHECK(Eval("-2 ^ 2") == -4);
  CHECK(Eval("10 - 4 - 3") == 3);
  CHECK(Eval("7 % 4") == 3);
  CHECK(Eval("1.5e3 / 3") == 500);
  CHECK(std::isinf(Eval("1 / 0")));
}

TEST_CASE("expressions: comparisons, logic and if()") {
  CHECK(Eval("1 < 2 && 3 >= 3") == 1);
  CHECK(Eval("1 == 2 or not 0") == 1);
  CHECK(Eval("!(2 != 2)") == 1);
  CHECK(Eval("if(x > 10, 1, -1)", {11}) == 1);
  CHECK(Eval("if(x > 10, 1, -1)", {9}) == -1);
}

TEST_CASE("expressions: functions, constants and variables") {
  CHECK(Eval("sqrt(16) + abs(-2) + max(1, 5) + min(1, 5)") == 12);
  CHECK(Eval("clamp(x, 0, 10)", {15}) == 10);
  CHECK(Eval("round(pi * 100)") == 314);
  CHECK(Eval("hypot(a, b)", {3, 4}) == 5);
  auto e = Expression::Compile("voltage * current / 1000 + `Volume Flow RateRMS` * 0 + voltage");
  REQUIRE(e);
  CHECK(e->variables() == std::vector<std::string>{"voltage", "current", "Volume Flow RateRMS"});
  CHECK(e->Eval(std::vector<double>{230, 10, 5}) == doctest::Approx(232.3));
}

TEST_CASE("expressions: syntax errors name the column") {
  CHECK(CompileError("") == "at column 1: empty expression");
  CHECK(CompileError("1 +") == "at column 4: unexpected end of expression");
  CHECK(CompileError("(1 + 2") == "at column 7: expected ')'");
  CHECK(CompileError("1 + 2)") == "at column 6: unexpected ')'");
  CHECK(CompileError("sqr(2)") == "at column 1: unknown function 'sqr'");
  CHECK(CompileError("max(1)") == "at column 1: max() takes 2 arguments, found 1");
  CHECK(CompileError("a $ b") == "at column 3: unexpected '$'");
  CHECK(
      CompileError(std::string(100, '(') + "1" + std::string(100, ')')).find("too deeply nested") !=
      std::string::npos);
}

TEST_CASE("derived series are computed per device and selected by rules") {
  config::ErrorList errors;
  auto engine = Engine::LoadString(R"(
[[derive]]
name = "power_kw"
devices = ["pump-*"]
expr = "voltage * current / 1000"
unit = "kW"

[[derive]]
name = "power_w"
expr = "power_kw * 1000"

[[rule]]
name = "overload"
series = ["power_*"]
[rule.detector]
type = "threshold"
above = 2.0
)",
                                   "r.toml", errors);
  INFO(errors.ToString());
  REQUIRE(engine != nullptr);
  std::vector<Event> ev;
  auto feed = [&](const std::string& dev, const std::string& s, double v, std::int64_t t) {
    Reading r{dev, s, v, "", Quality::kGood, t};
    engine->Process(r, ev);
  };
  feed("pump-1", "voltage", 230, 1);
  CHECK(ev.empty());
  feed("pump-1", "current", 10, 1);  // 2.3 kW and 2300 W
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].series == "power_kw");
  CHECK(ev[0].value == doctest::Approx(2.3));
  CHECK(ev[0].ts_ns == 1);
  CHECK(ev[1].series == "power_w");
  CHECK(ev[1].value == doctest::Approx(2300));
  ev.clear();
  feed("fan-1", "voltage", 230, 2);  // not a pump
  feed("fan-1", "current", 10, 2);
  CHECK(ev.empty());
  feed("pump-1", "current", 1, 3);  // needs a fresh voltage too
  CHECK(ev.empty());
  feed("pump-1", "voltage", std::nan(""), 3);  // bad: not used
  CHECK(ev.empty());
  feed("pump-1", "voltage", 100, 4);  // 0.1 kW (no anomaly), 100 W (anomaly)
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].series == "power_w");
}

TEST_CASE("derive errors: bad expression, self reference, later derive, duplicate") {
  config::ErrorList errors;
  auto engine = Engine::LoadString(R"([[derive]]
name = "a"
expr = "b + (1"
[[derive]]
name = "c"
expr = "c + d"
[[derive]]
name = "d"
expr = "x"
[[derive]]
name = "d"
expr = "x"
)",
                                   "r.toml", errors);
  CHECK(engine == nullptr);
  CHECK(errors.ToString() ==
        "r.toml:3:1: derive[0].expr: at column 7: expected ')'\n"
        "r.toml:6:1: derive[1].expr: refers to itself (\"c\")\n"
        "r.toml:6:1: derive[1].expr: refers to derived series \"d\", which is defined later (a "
        "derive reads raw series and earlier derived series only)\n"
        "r.toml:11:1: derive[3].name: duplicate derived series \"d\" (first defined in r.toml "
        "derive[2])\n");
}

TEST_CASE("derived readings are handed out by TakeDerived for forwarding, once each") {
  config::ErrorList errors;
  auto engine = Engine::LoadString(R"(
[[derive]]
name = "power_kw"
expr = "voltage * current / 1000"
unit = "kW"
)",
                                   "r.toml", errors);
  REQUIRE(engine != nullptr);
  std::vector<Event> ev;
  std::vector<Reading> derived;
  Reading v{"pump-1", "voltage", 230, "V", Quality::kGood, 5};
  engine->Process(v, ev);
  engine->TakeDerived(derived);
  CHECK(derived.empty());
  Reading c{"pump-1", "current", 10, "A", Quality::kGood, 6};
  engine->Process(c, ev);
  engine->TakeDerived(derived);
  REQUIRE(derived.size() == 1);
  CHECK(derived[0].device == "pump-1");
  CHECK(derived[0].series == "power_kw");
  CHECK(derived[0].unit == "kW");
  CHECK(derived[0].value == doctest::Approx(2.3));
  CHECK(derived[0].ts_ns == 6);
  derived.clear();
  engine->TakeDerived(derived);  // taken once only
  CHECK(derived.empty());
}

}  // namespace
}  // namespace pn::rules
