#include "rules/maintenance/similarity/similarity_model.h"

#include <doctest/doctest.h>

#include <cmath>

#include "gateway/config/toml_tree.h"
#include "similarity_test_util.h"
#include "synthetic.h"

namespace pn::rules {
namespace {

using testing::Factory;

const std::vector<std::string> kSeries = {"s1", "s2", "s3"};

using testing::LibraryKey;
using testing::Prepared;

Prepared Prepare(const std::string& body, const std::vector<std::string>& series = kSeries) {
  return testing::PrepareSimilarity(body, series);
}

// Runs a fresh synthetic unit (not in the library) of the given life through a model and
// returns the estimate after every sample.
std::vector<HealthEstimate> RunUnit(HealthModel& model, int life, int samples) {
  testing::Noise noise(99);
  std::vector<HealthEstimate> out;
  for (int c = 1; c <= samples; ++c) {
    const auto row = testing::SyntheticRow(c, life, 0.05, noise);
    out.push_back(model.Update(c, row));
  }
  return out;
}

TEST_CASE("similarity: health decreases as a synthetic asset degrades") {
  const std::string lib = testing::WriteSyntheticLibrary("pn_sim_lib.csv", 40);
  Prepared p = Prepare(LibraryKey(lib));
  REQUIRE_MESSAGE(p.errors.empty(), p.errors.ToString());
  auto model = p.factory();
  const auto est = RunUnit(*model, 200, 200);
  CHECK(est[20].health > 0.8);
  CHECK(est[100].health < est[20].health);
  CHECK(est[180].health < est[100].health);
  CHECK(est[199].health < 0.3);
  for (const auto& e : est) {
    CHECK(e.health >= 0.0);
    CHECK(e.health <= 1.0);
  }
  CHECK(est[150].trend < 0.0);  // degrading
}

TEST_CASE("similarity: RUL decreases roughly linearly towards failure and tracks the truth") {
  const std::string lib = testing::WriteSyntheticLibrary("pn_sim_lib.csv", 40);
  Prepared p = Prepare(LibraryKey(lib) + "rul_cap = 125.0\nmemory = 30\n");
  REQUIRE_MESSAGE(p.errors.empty(), p.errors.ToString());
  auto model = p.factory();
  const int life = 210;
  const auto est = RunUnit(*model, life, life);
  CHECK(std::isnan(est[0].rul));  // fewer than min_samples
  double sq = 0.0;
  int n = 0;
  for (int c = 120; c <= life; c += 10) {  // the last 90 cycles, where degradation shows
    const double truth = life - c;
    const double rul = est[static_cast<std::size_t>(c - 1)].rul;
    REQUIRE(std::isfinite(rul));
    sq += (rul - truth) * (rul - truth);
    ++n;
  }
  CHECK(std::sqrt(sq / n) < 15.0);
  CHECK(est[life - 1].rul < est[150].rul);
  CHECK(est[150].rul < est[110].rul);
  for (const auto& e : est) {
    if (std::isfinite(e.rul)) CHECK(e.rul <= 125.0);
  }
}

TEST_CASE("similarity: per-asset state does not grow with the stream") {
  const std::string lib = testing::WriteSyntheticLibrary("pn_sim_lib.csv", 40);
  Prepared p = Prepare(LibraryKey(lib));
  REQUIRE(p.errors.empty());
  auto base = p.factory();
  auto* model = dynamic_cast<SimilarityModel*>(base.get());
  REQUIRE(model != nullptr);
  model->Update(1, std::vector<double>{10, 50, 3});
  const std::size_t bytes = model->state_bytes();
  for (int i = 2; i <= 5000; ++i) model->Update(i, std::vector<double>{10, 50, 3});
  CHECK(model->state_bytes() == bytes);
  CHECK(std::isfinite(model->Update(5001, std::vector<double>{10, 50, 3}).rul));
}

TEST_CASE("similarity: non-finite values leave the state unchanged") {
  const std::string lib = testing::WriteSyntheticLibrary("pn_sim_lib.csv", 40);
  Prepared p = Prepare(LibraryKey(lib));
  REQUIRE(p.errors.empty());
  auto model = p.factory();
  const auto first = model->Update(1, std::vector<double>{10, 50, 3});
  const auto again = model->Update(2, std::vector<double>{NAN, 50, 3});
  CHECK(again.health == first.health);
  CHECK(dynamic_cast<SimilarityModel&>(*model).samples() == 1);
}

TEST_CASE("similarity: library errors name the CSV's file:line") {
  const std::string bad =
      testing::WriteFile("pn_sim_bad.csv", "unit,cycle,s1,s2,s3\n1,1,1,2,3\n1,2,1,oops,3\n");
  Prepared p = Prepare(LibraryKey(bad));
  CHECK(p.factory == nullptr);
  CHECK(p.errors.ToString().find(bad + ":3:") != std::string::npos);
}

TEST_CASE("similarity: an unreadable library is reported at the rule's library key") {
  Prepared p = Prepare("\n" + LibraryKey("no/such/library.csv"));
  CHECK(p.factory == nullptr);
  INFO(p.errors.ToString());
  CHECK(
      p.errors.ToString().find("rules.toml:2:1: rule.health.library: cannot read reference library "
                               "'no/such/library.csv'") != std::string::npos);
}

TEST_CASE("similarity spec: unknown keys, bad types and out-of-range values are errors") {
  Prepared p = Prepare(
      "library = \"x.csv\"\nneighbors = 3\nmemory = \"long\"\nhealthy_fraction = 0.9\n"
      "combine = \"mode\"\n");
  const std::string text = p.errors.ToString();
  CHECK(text.find("rule.health.neighbors: unknown key (did you mean 'neighbours'?)") !=
        std::string::npos);
  CHECK(text.find("rule.health.memory: expected an integer") != std::string::npos);
  CHECK(text.find("rule.health.healthy_fraction: value 0.9 is out of range") != std::string::npos);
  CHECK(text.find("rule.health.combine: \"mode\" is not one of the allowed values") !=
        std::string::npos);
  CHECK(p.errors.size() == 4);
}

TEST_CASE("similarity spec: library is required and the labelled fractions must leave a gap") {
  Prepared missing = Prepare("memory = 10\n");
  CHECK(missing.errors.ToString().find("rule.health.library: required key is missing") !=
        std::string::npos);
  Prepared overlap =
      Prepare("library = \"x.csv\"\nhealthy_fraction = 0.5\nfailed_fraction = 0.45\n");
  CHECK(overlap.errors.ToString().find(
            "rule.health.failed_fraction: healthy_fraction + failed_fraction must be at most "
            "0.9") != std::string::npos);
}

TEST_CASE("similarity: columns map the rule's series to library columns, and must match") {
  const std::string lib = testing::WriteSyntheticLibrary("pn_sim_lib.csv", 40);
  Prepared renamed = Prepare(LibraryKey(lib) + "columns = [\"s1\", \"s2\", \"s3\"]\n",
                             {"temp", "pressure", "flow"});
  CHECK(renamed.errors.empty());
  CHECK(renamed.factory != nullptr);
  Prepared wrong = Prepare(LibraryKey(lib) + "columns = [\"s1\", \"s2\"]\n");
  CHECK(wrong.errors.ToString().find(
            "rule.health.columns: names 2 columns but the rule has 3 series") != std::string::npos);
  Prepared absent = Prepare(LibraryKey(lib), {"s1", "s2", "s9"});
  CHECK(absent.errors.ToString().find("reference library has no column 's9'") != std::string::npos);
}

TEST_CASE("similarity: prepare without series names needs columns") {
  const std::string lib = testing::WriteSyntheticLibrary("pn_sim_lib.csv", 40);
  const HealthModelType* type = FindHealthModelType("similarity");
  REQUIRE(type != nullptr);
  auto doc = config::ParseString(LibraryKey(lib), "rules.toml");
  REQUIRE(doc.has_value());
  config::Section section(&doc->root, type->spec, "rule.health", "rules.toml");
  config::ErrorList errors;
  CHECK(type->prepare(section, 3, "", errors) == nullptr);
  CHECK(errors.ToString().find("set `columns`") != std::string::npos);
  auto doc2 =
      config::ParseString(LibraryKey(lib) + "columns = [\"s1\", \"s2\", \"s3\"]\n", "rules.toml");
  REQUIRE(doc2.has_value());
  config::Section section2(&doc2->root, type->spec, "rule.health", "rules.toml");
  config::ErrorList errors2;
  CHECK(type->prepare(section2, 3, "", errors2) != nullptr);
  CHECK(errors2.empty());
}

TEST_CASE("registry: lists the similarity and trend methods") {
  CHECK(FindHealthModelType("similarity") != nullptr);
  CHECK(FindHealthModelType("trend") != nullptr);
  CHECK(FindHealthModelType("nope") == nullptr);
  for (const auto& t : HealthModelTypes()) {
    CHECK(t.spec != nullptr);
    CHECK(t.prepare != nullptr);
    CHECK(t.prepare_named != nullptr);
  }
}

}  // namespace
}  // namespace pn::rules

namespace pn::rules {
namespace {

TEST_CASE("examples: each method's example.toml passes its spec and checks") {
  for (const char* name : {"similarity", "trend"}) {
    const std::string file =
        std::string(PN_SOURCE_DIR) + "/rules/maintenance/" + name + "/example.toml";
    auto doc = config::ParseFile(file);
    REQUIRE_MESSAGE(doc.has_value(), file);
    const config::Node* rules = doc->root.Find("rule");
    REQUIRE(rules != nullptr);
    REQUIRE(rules->array.size() == 1);
    const config::Node* health = rules->array[0].Find("health");
    REQUIRE(health != nullptr);
    const config::Node* method = health->Find("method");
    REQUIRE(method != nullptr);
    CHECK(method->str == name);
    const HealthModelType* type = FindHealthModelType(name);
    REQUIRE(type != nullptr);
    config::ErrorList errors;
    config::Validate(*health, *type->spec, "rule.health", file, errors, {"method"});
    config::Section section(health, type->spec, "rule.health", file);
    if (errors.empty()) type->check(section, errors);
    CHECK_MESSAGE(errors.empty(), errors.ToString());
  }
}

}  // namespace
}  // namespace pn::rules
