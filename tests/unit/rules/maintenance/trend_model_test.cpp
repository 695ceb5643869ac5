#include "rules/maintenance/trend/trend_model.h"

#include <doctest/doctest.h>

#include <cmath>

#include "synthetic.h"

namespace pn::rules {
namespace {

TEST_CASE("trend: no health while learning the baseline, then about 1") {
  TrendModel model(TrendParams{}, 3);
  testing::Noise noise(3);
  for (int c = 1; c <= 30; ++c) {
    CHECK(std::isnan(model.Update(c, testing::SyntheticRow(c, 1000, 0.0, noise)).health));
  }
  const auto est = model.Update(31, testing::SyntheticRow(31, 1000, 0.0, noise));
  CHECK(est.health > 0.8);
}

TEST_CASE("trend: health falls and the RUL shrinks on a degrading asset") {
  TrendParams params;
  params.rul_cap = 500.0;
  params.failure_deviation = 40.0;  // the synthetic drift ends about 31 baseline sds out
  TrendModel model(params, 3);
  testing::Noise noise(5);
  const int life = 200;
  std::vector<HealthEstimate> est;
  for (int c = 1; c <= life; ++c) {
    est.push_back(model.Update(c, testing::SyntheticRow(c, life, 0.0, noise)));
  }
  CHECK(est[100].health > est[199].health);
  CHECK(est[199].health < 0.5);
  CHECK(est[199].trend < 0.0);
  REQUIRE(std::isfinite(est[170].rul));
  REQUIRE(std::isfinite(est[199].rul));
  CHECK(est[199].rul < est[170].rul);
  CHECK(est[199].rul < 50.0);
}

TEST_CASE("trend: RUL is 0 once the health index reaches 0") {
  TrendModel model(TrendParams{}, 1);
  testing::Noise noise(11);
  HealthEstimate est;
  for (int c = 1; c <= 100; ++c) {
    const double v[] = {(c > 40 ? 10.0 : 0.0) + noise.Next()};
    est = model.Update(c, v);
  }
  CHECK(est.health == 0.0);
  CHECK(est.rul == 0.0);
}

TEST_CASE("trend: a steady asset's RUL is the cap, or unknown without one") {
  TrendParams capped;
  capped.rul_cap = 125.0;
  TrendModel with_cap(capped, 1);
  TrendModel without_cap(TrendParams{}, 1);
  HealthEstimate a, b;
  for (int c = 1; c <= 200; ++c) {
    const double v[] = {1.0 + 0.01 * (c % 2)};
    a = with_cap.Update(c, v);
    b = without_cap.Update(c, v);
  }
  CHECK(a.rul <= 125.0);
  CHECK((std::isnan(b.rul) || b.rul > 1000.0));
}

TEST_CASE("trend: per-asset state does not grow with the stream") {
  TrendModel model(TrendParams{}, 3);
  const std::vector<double> v{1, 2, 3};
  model.Update(0, v);
  const std::size_t bytes = model.state_bytes();
  for (int i = 1; i < 10000; ++i) model.Update(i, v);
  CHECK(model.state_bytes() == bytes);
}

}  // namespace
}  // namespace pn::rules
