// Grouped rules: several series of one device fed together to a multivariate detector and to a
// health model (fakes plugged in through TypeCatalog, so the engine is tested on its own).
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "rules/engine.h"
#include "rules/rule_set.h"

namespace pn::rules {
namespace {

// "sum": score 1 when the sum of the sample exceeds `limit`; records what it was fed.
std::vector<std::vector<double>>* g_fed = nullptr;

class SumDetector final : public Detector {
 public:
  explicit SumDetector(double limit) : limit_(limit) {}
  double Update(std::int64_t, std::span<const double> v) override {
    if (g_fed != nullptr) g_fed->emplace_back(v.begin(), v.end());
    return std::accumulate(v.begin(), v.end(), 0.0) > limit_ ? 1.0 : 0.0;
  }
  std::size_t state_bytes() const override { return sizeof(*this); }

 private:
  double limit_;
};

const config::TableSpec kSumSpec{"fake",
                                 {{.name = "limit",
                                   .type = config::ValueType::kFloat,
                                   .default_value = 10.0,
                                   .description = "limit"}}};
const DetectorType kSum{
    .name = "sum",
    .summary = "fake",
    .multivariate = true,
    .spec = &kSumSpec,
    .check = {},
    .create = [](const config::Section& s, std::size_t) -> std::unique_ptr<Detector> {
      return std::make_unique<SumDetector>(s.GetFloat("limit"));
    },
};

// "linear": health falls linearly to 0 at t = life; rul = life - t.
class LinearModel final : public HealthModel {
 public:
  explicit LinearModel(double life) : life_(life) {}
  HealthEstimate Update(double t, std::span<const double>) override {
    if (t < 1) return {};  // "learning" during the first time unit
    return {std::max(0.0, 1.0 - t / life_), life_ - t};
  }

 private:
  double life_;
};

const config::TableSpec kLinearSpec{"fake",
                                    {{.name = "life",
                                      .type = config::ValueType::kFloat,
                                      .default_value = 100.0,
                                      .description = "life"}}};
const HealthModelType kLinear{
    .name = "linear",
    .summary = "fake",
    .spec = &kLinearSpec,
    .check = {},
    .prepare = [](const config::Section& s, std::size_t, const std::string&,
                  config::ErrorList&) -> std::function<std::unique_ptr<HealthModel>()> {
      double life = s.GetFloat("life");
      return [life] { return std::make_unique<LinearModel>(life); };
    },
    .prepare_named = {},
};

const TypeCatalog kFakes{{&kSum}, {&kLinear}};

std::unique_ptr<Engine> Load(const std::string& text, std::string* errors_out = nullptr) {
  config::ErrorList errors;
  auto set = LoadRuleText(text, "r.toml", errors, &kFakes);
  if (errors_out != nullptr) *errors_out = errors.ToString();
  if (!errors.empty()) return nullptr;
  return NewEngine(std::move(set));
}

std::vector<Event> Feed(Engine& e, const std::string& device, const std::string& series, double t,
                        double v) {
  Reading r{device, series, v, "", Quality::kGood, static_cast<std::int64_t>(t * 1e9)};
  std::vector<Event> out;
  e.Process(r, out);
  return out;
}

TEST_CASE("multivariate detector gets one sample per device once every series arrived") {
  std::vector<std::vector<double>> fed;
  g_fed = &fed;
  auto engine = Load(R"(
[[rule]]
name = "mv"
devices = ["m*"]
series = ["b", "a"]
[rule.detector]
type = "sum"
limit = 10.0
)");
  REQUIRE(engine != nullptr);
  CHECK(Feed(*engine, "m1", "a", 1, 1).empty());
  CHECK(Feed(*engine, "m2", "a", 1, 100).empty());  // another device: its own group
  CHECK(Feed(*engine, "m1", "c", 1, 100).empty());  // not in the rule
  auto ev = Feed(*engine, "m1", "b", 1, 2);         // completes m1's sample
  CHECK(ev.empty());
  REQUIRE(fed.size() == 1);
  CHECK(fed[0] == std::vector<double>{2, 1});  // in rule order: b, a
  ev = Feed(*engine, "m2", "b", 1, 5);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == EventKind::kAnomaly);
  CHECK(ev[0].device == "m2");
  CHECK(ev[0].series == "b+a");
  CHECK(ev[0].rule == "mv");
  CHECK(std::isnan(ev[0].value));
  g_fed = nullptr;
}

TEST_CASE("a bad reading does not complete a multivariate sample") {
  std::vector<std::vector<double>> fed;
  g_fed = &fed;
  auto engine = Load(R"(
[[rule]]
name = "mv"
series = ["a", "b"]
[rule.validate]
max = 50.0
[rule.detector]
type = "sum"
)");
  REQUIRE(engine != nullptr);
  Feed(*engine, "d", "a", 1, 1);
  Feed(*engine, "d", "b", 1, 99);  // bad: above max
  CHECK(fed.empty());
  Feed(*engine, "d", "b", 2, 3);
  REQUIRE(fed.size() == 1);
  CHECK(fed[0] == std::vector<double>{1, 3});
  g_fed = nullptr;
}

TEST_CASE("health model emits health and rul events per asset") {
  auto engine = Load(R"(
[[rule]]
name = "hm"
series = ["s1", "s2"]
[rule.health]
method = "linear"
life = 10.0
)");
  REQUIRE(engine != nullptr);
  Feed(*engine, "7", "s1", 0, 1);
  CHECK(Feed(*engine, "7", "s2", 0, 1).empty());  // learning
  Feed(*engine, "7", "s1", 4, 1);
  auto ev = Feed(*engine, "7", "s2", 4, 1);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == EventKind::kHealth);
  CHECK(ev[0].health == doctest::Approx(0.6));
  CHECK(ev[1].kind == EventKind::kRul);
  CHECK(ev[1].rul == doctest::Approx(6.0));
  CHECK(ev[1].device == "7");
  CHECK(ev[1].series == "s1+s2");
}

TEST_CASE("grouped rules need exact, distinct series names and no univariate detector") {
  std::string errors;
  CHECK(Load("[[rule]]\nname = \"a\"\nseries = [\"s*\", \"t\", \"t\"]\n[rule.detector]\n"
             "type = \"sum\"\n",
             &errors) == nullptr);
  CHECK(errors ==
        "r.toml:3:11: rule[0].series[0]: \"s*\" is a glob; a multivariate detector needs exact "
        "series names\n"
        "r.toml:3:22: rule[0].series[2]: series \"t\" is listed twice\n");
  CHECK(Load("[[rule]]\nname = \"a\"\nseries = [\"s\"]\n[rule.detector]\ntype = \"threshold\"\n"
             "above = 1\n[rule.health]\nmethod = \"linear\"\n",
             &errors) == nullptr);
  CHECK(errors ==
        "r.toml:5:1: rule[0].detector.type: detector \"threshold\" is univariate; a rule with "
        "[rule.health] takes only a multivariate detector (put this one in a rule of its own)\n");
}

TEST_CASE("a [rule.detector] without type beside [rule.health] is an error, not a crash") {
  // Found by the rules fuzz target (tests/fuzz/regressions/rules/): the default detector is
  // univariate, and the error used to read the position of the missing `type` key.
  std::string errors;
  CHECK(Load("[[rule]]\nname = \"h\"\n[rule.detector]\n[rule.health]\n", &errors) == nullptr);
  CHECK(errors.find("is univariate; a rule with [rule.health] takes only a multivariate") !=
        std::string::npos);
}

TEST_CASE("AdoptState keeps health model state of an unchanged grouped rule") {
  std::vector<std::vector<double>> fed;
  const char* rule =
      "[[rule]]\nname = \"mv\"\nseries = [\"a\", \"b\"]\n[rule.detector]\n"
      "type = \"sum\"\n";
  auto old_engine = Load(rule);
  REQUIRE(old_engine != nullptr);
  Feed(*old_engine, "d", "a", 1, 20);  // half a sample
  auto new_engine = Load(rule);
  REQUIRE(new_engine != nullptr);
  new_engine->AdoptState(*old_engine);
  auto ev = Feed(*new_engine, "d", "b", 1, 0);  // completes the adopted half sample
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == EventKind::kAnomaly);
}

}  // namespace
}  // namespace pn::rules
