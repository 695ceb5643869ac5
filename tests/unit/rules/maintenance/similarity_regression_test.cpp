// The regression option of the similarity model: boosted regression trees, the
// health-indicator and sensor history features they read, the blend with the similarity estimate,
// and their keys.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <vector>

#include "rules/maintenance/boosted_trees.h"
#include "rules/maintenance/similarity/similarity_model.h"
#include "similarity_test_util.h"
#include "synthetic.h"

namespace pn::rules {
namespace {

using testing::LibraryKey;
using testing::Prepared;

const std::vector<std::string> kSeries = {"s1", "s2", "s3"};

Prepared Prepare(const std::string& body) { return testing::PrepareSimilarity(body, kSeries); }

TEST_CASE("boosted trees: fit a step and a curve of two features, deterministically") {
  // y = 10 if x0 >= 0.5 else 0, plus (x1 - 0.5)^2 * 40; x on a grid of [0, 1)^2.
  std::vector<double> x, y;
  for (int i = 0; i < 40; ++i) {
    for (int j = 0; j < 40; ++j) {
      const double a = i / 40.0, b = j / 40.0;
      x.push_back(a);
      x.push_back(b);
      y.push_back((a >= 0.5 ? 10.0 : 0.0) + 40.0 * (b - 0.5) * (b - 0.5));
    }
  }
  const BoostedTrees m = BoostedTrees::Fit(x, 2, y, {.rounds = 200, .depth = 2, .rate = 0.1});
  CHECK(m.trees() == 200);
  CHECK(m.cols() == 2);
  double sq = 0.0;
  for (std::size_t r = 0; r < y.size(); ++r) {
    const double d = m.Predict(std::span<const double>(x).subspan(2 * r, 2)) - y[r];
    sq += d * d;
  }
  CHECK(std::sqrt(sq / static_cast<double>(y.size())) < 0.5);
  const std::array<double, 2> low{0.1, 0.5}, high{0.9, 0.5};
  CHECK(m.Predict(high) - m.Predict(low) == doctest::Approx(10.0).epsilon(0.05));
  const BoostedTrees again = BoostedTrees::Fit(x, 2, y, {.rounds = 200, .depth = 2, .rate = 0.1});
  CHECK(again.Predict(low) == m.Predict(low));
}

TEST_CASE("boosted trees: a constant feature cannot split, the prediction is the mean") {
  const std::vector<double> x(10, 3.0);
  const std::vector<double> y{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const BoostedTrees m = BoostedTrees::Fit(x, 1, y, {.rounds = 20, .depth = 3, .rate = 0.5});
  const std::array<double, 1> any{3.0};
  CHECK(m.Predict(any) == doctest::Approx(5.5));
}

TEST_CASE("health history: window means, slopes, whole mean and age") {
  HealthHistory h;
  std::array<double, HealthHistory::kFeatures> f{};
  h.Features(f);
  for (double v : f) CHECK(v == 0.0);  // no history yet
  h.Push(4.0);
  h.Features(f);
  CHECK(f[0] == 4.0);  // every window holds the one value
  CHECK(f[5] == 4.0);
  CHECK(f[6] == 0.0);  // a slope needs two values
  CHECK(f[10] == 4.0);
  CHECK(f[11] == 1.0);
  // Means over 5, 15, 30, 60, 120, 240; slopes over 30, 60, 120, 240; whole mean; age.
  REQUIRE(HealthHistory::kFeatures == 12);
  // 300 values 1, 2, ..., 300: the ring keeps the last 240.
  HealthHistory line;
  for (int i = 1; i <= 300; ++i) line.Push(i);
  line.Features(f);
  CHECK(f[0] == doctest::Approx(298.0));                                     // 296..300
  CHECK(f[1] == doctest::Approx(293.0));                                     // 286..300
  CHECK(f[2] == doctest::Approx(285.5));                                     // 271..300
  CHECK(f[3] == doctest::Approx(270.5));                                     // 241..300
  CHECK(f[4] == doctest::Approx(240.5));                                     // 181..300
  CHECK(f[5] == doctest::Approx(180.5));                                     // 61..300
  for (std::size_t k = 6; k < 10; ++k) CHECK(f[k] == doctest::Approx(1.0));  // per sample
  CHECK(f[10] == doctest::Approx(150.5));  // the whole history, beyond the ring
  CHECK(f[11] == 300.0);
  CHECK(line.size() == 300);
  // A falling line: negative slopes.
  HealthHistory down;
  for (int i = 0; i < 50; ++i) down.Push(1.0 - 0.01 * i);
  down.Features(f);
  CHECK(f[6] == doctest::Approx(-0.01));
  CHECK(f[9] == doctest::Approx(-0.01));  // all 50 values
}

TEST_CASE("sensor history: each sensor's window mean and slope, the ring bounded") {
  SensorHistory h(2, 4);
  CHECK(h.feature_count() == 4);
  std::array<double, 4> f{};
  h.Push(std::array<double, 2>{1.0, 5.0});
  h.Features(f);
  CHECK(f[0] == 1.0);  // means
  CHECK(f[1] == 5.0);
  CHECK(f[2] == 0.0);  // slopes need two samples
  CHECK(f[3] == 0.0);
  // Samples t = 1..10: sensor 0 = t, sensor 1 = 10 - 2t; the window keeps t = 7..10.
  SensorHistory line(2, 4);
  for (int t = 1; t <= 10; ++t) line.Push(std::array<double, 2>{1.0 * t, 10.0 - 2.0 * t});
  line.Features(f);
  CHECK(f[0] == doctest::Approx(8.5));
  CHECK(f[1] == doctest::Approx(-7.0));
  CHECK(f[2] == doctest::Approx(1.0));
  CHECK(f[3] == doctest::Approx(-2.0));
}

// RMSE of the estimates over the last 90 samples of a fresh unit, all estimates capped.
double TailRmse(HealthModel& model, int life, double cap) {
  testing::Noise noise(99);
  double sq = 0.0;
  int n = 0;
  for (int c = 1; c <= life; ++c) {
    const HealthEstimate est = model.Update(c, testing::SyntheticRow(c, life, 0.05, noise));
    if (std::isfinite(est.rul)) {
      CHECK(est.rul >= 0.0);
      CHECK(est.rul <= cap);
    }
    if (c >= life - 90) {
      REQUIRE(std::isfinite(est.rul));
      sq += (est.rul - (life - c)) * (est.rul - (life - c));
      ++n;
    }
  }
  return std::sqrt(sq / n);
}

TEST_CASE("similarity regression: alone it tracks the truth, with less state than matching") {
  const std::string lib = testing::WriteSyntheticLibrary("pn_sim_reg_lib.csv", 40);
  Prepared p = Prepare(LibraryKey(lib) + "rul_cap = 125.0\nregression_weight = 1.0\n");
  REQUIRE_MESSAGE(p.errors.empty(), p.errors.ToString());
  auto model = p.factory();
  CHECK(TailRmse(*model, 210, 125.0) < 15.0);
  Prepared matching = Prepare(LibraryKey(lib) + "rul_cap = 125.0\n");
  REQUIRE(matching.errors.empty());
  auto m1 = matching.factory();
  auto m2 = p.factory();
  const std::size_t matching_bytes = dynamic_cast<SimilarityModel&>(*m1).state_bytes();
  auto& reg = dynamic_cast<SimilarityModel&>(*m2);
  const std::size_t bytes = reg.state_bytes();
  CHECK(bytes < matching_bytes);  // no distance per library row
  for (int i = 1; i <= 3000; ++i) reg.Update(i, std::vector<double>{10, 50, 3});
  CHECK(reg.state_bytes() == bytes);
}

TEST_CASE("similarity regression: the weight blends the regression and matching estimates") {
  const std::string lib = testing::WriteSyntheticLibrary("pn_sim_reg_lib.csv", 40);
  const std::string common = LibraryKey(lib) + "rul_cap = 125.0\n";
  Prepared none = Prepare(common);
  Prepared zero = Prepare(common + "regression_weight = 0.0\n");
  Prepared half = Prepare(common + "regression_weight = 0.25\n");
  Prepared all = Prepare(common + "regression_weight = 1.0\n");
  for (const Prepared* p : {&none, &zero, &half, &all}) REQUIRE(p->errors.empty());
  auto a = none.factory(), b = zero.factory(), c = half.factory(), d = all.factory();
  testing::Noise noise(5);
  const int life = 200;
  for (int t = 1; t <= life; ++t) {
    const auto row = testing::SyntheticRow(t, life, 0.0, noise);
    const HealthEstimate ea = a->Update(t, row), eb = b->Update(t, row), ec = c->Update(t, row),
                         ed = d->Update(t, row);
    CHECK(ea.health == eb.health);
    CHECK(ec.health == ea.health);  // the health index does not depend on the regression
    if (!std::isfinite(ea.rul)) continue;
    CHECK(eb.rul == ea.rul);
    CHECK(ec.rul == doctest::Approx(0.25 * ed.rul + 0.75 * ea.rul));
  }
}

TEST_CASE("similarity regression: the health-indicator history alone also tracks the truth") {
  const std::string lib = testing::WriteSyntheticLibrary("pn_sim_reg_lib.csv", 40);
  Prepared p = Prepare(LibraryKey(lib) +
                       "rul_cap = 125.0\nregression_weight = 1.0\nregression_sensor_window = 0\n");
  REQUIRE_MESSAGE(p.errors.empty(), p.errors.ToString());
  auto model = p.factory();
  CHECK(TailRmse(*model, 210, 125.0) < 15.0);
}

TEST_CASE("similarity regression: keys are range-checked") {
  Prepared p = Prepare(
      "library = \"x.csv\"\nregression_weight = 1.5\nregression_depth = 0\n"
      "regression_trees = 0\nregression_rate = 0.0\nregression_sensor_window = -1\n");
  const std::string text = p.errors.ToString();
  CHECK(text.find("rule.health.regression_weight: value 1.5 is out of range") != std::string::npos);
  CHECK(text.find("rule.health.regression_depth: value 0 is out of range") != std::string::npos);
  CHECK(text.find("rule.health.regression_trees: value 0 is out of range") != std::string::npos);
  CHECK(text.find("rule.health.regression_rate: value 0 is out of range") != std::string::npos);
  CHECK(text.find("rule.health.regression_sensor_window: value -1 is out of range") !=
        std::string::npos);
  CHECK(p.errors.size() == 5);
}

}  // namespace
}  // namespace pn::rules
