// Operating regimes in the similarity model: clustering of the settings, per-regime
// normalisation, sensor selection, the age prior beyond rul_cap, and their keys.
#include <doctest/doctest.h>

#include <cmath>

#include "gateway/config/toml_tree.h"
#include "rules/maintenance/similarity/similarity_model.h"
#include "similarity_test_util.h"
#include "synthetic.h"

namespace pn::rules {
namespace {

using testing::Factory;

const std::vector<std::string> kRegimeSeries = {"os1", "s1", "s2", "s3"};

using testing::LibraryKey;
using testing::Prepared;

Prepared Prepare(const std::string& body, const std::vector<std::string>& series) {
  return testing::PrepareSimilarity(body, series);
}

// RMSE of the RUL over the last 90 samples of a fresh unit that changes operating regime every
// 40 cycles (the library's units changed it at random every cycle); `with_setting` feeds os1
// too (the model's series are os1, s1, s2, s3), else only s1, s2, s3.
double RegimeUnitRmse(HealthModel& model, bool with_setting) {
  testing::Noise noise(123);
  const int life = 210;
  double sq = 0.0;
  int n = 0;
  for (int c = 1; c <= life; ++c) {
    const int regime = (c / 40) % 2;
    const auto row = testing::RegimeRow(c, life, 0.05, regime, noise);
    const std::vector<double> values =
        with_setting ? row : std::vector<double>(row.begin() + 1, row.end());
    const HealthEstimate est = model.Update(c, values);
    if (c >= 120) {
      REQUIRE(std::isfinite(est.rul));
      const double truth = life - c;
      sq += (est.rul - truth) * (est.rul - truth);
      ++n;
    }
  }
  return std::sqrt(sq / n);
}

std::shared_ptr<const SimilarityLibrary> BuildLibrary(const std::string& path,
                                                      const SimilarityParams& params,
                                                      const std::vector<std::string>& columns) {
  ReferenceLibraryOptions opts;
  opts.columns = columns;
  config::ErrorList errors;
  auto lib = LoadReferenceLibrary(path, opts, errors);
  REQUIRE_MESSAGE(lib.has_value(), errors.ToString());
  std::string error;
  auto built = SimilarityLibrary::Build(*lib, params, &error);
  REQUIRE_MESSAGE(built != nullptr, error);
  return built;
}

TEST_CASE("similarity regimes: per-regime normalisation recovers the degradation") {
  const std::string lib = testing::WriteRegimeLibrary("pn_regime_lib.csv", 40, true);
  const std::string common = LibraryKey(lib) + "rul_cap = 125.0\nmemory = 30\n";
  Prepared with = Prepare(common + "settings = [\"os1\"]\n", kRegimeSeries);
  REQUIRE_MESSAGE(with.errors.empty(), with.errors.ToString());
  // The sensors alone, as before regimes were known.
  Prepared sensors = Prepare(common + "columns = [\"s1\", \"s2\", \"s3\"]\n", {"s1", "s2", "s3"});
  REQUIRE_MESSAGE(sensors.errors.empty(), sensors.errors.ToString());
  // Without `settings`, os1 is just another input of the linear health indicator.
  Prepared linear = Prepare(common, kRegimeSeries);
  REQUIRE_MESSAGE(linear.errors.empty(), linear.errors.ToString());
  auto a = with.factory();
  auto b = sensors.factory();
  auto c = linear.factory();
  const double rmse_with = RegimeUnitRmse(*a, true);
  const double rmse_sensors = RegimeUnitRmse(*b, false);
  const double rmse_linear = RegimeUnitRmse(*c, true);
  INFO("RMSE with regimes " << rmse_with << ", sensors only " << rmse_sensors
                            << ", os1 as a linear input " << rmse_linear);
  CHECK(rmse_with < 7.0);
  CHECK(rmse_sensors > 1.5 * rmse_with);
  CHECK(rmse_linear > 1.5 * rmse_with);
}

TEST_CASE("similarity regimes: automatic k finds two clustered regimes, one for jitter") {
  SimilarityParams params;
  params.settings = {0};
  const std::vector<std::string> columns = {"os1", "s1", "s2", "s3"};
  auto two =
      BuildLibrary(testing::WriteRegimeLibrary("pn_regime_two.csv", 20, true), params, columns);
  CHECK(two->regimes() == 2);
  auto one =
      BuildLibrary(testing::WriteRegimeLibrary("pn_regime_one.csv", 20, false), params, columns);
  CHECK(one->regimes() == 1);  // os1 only jitters: no k <= 10 explains 99.9% of it
  params.regimes = 3;
  auto forced =
      BuildLibrary(testing::WriteRegimeLibrary("pn_regime_three.csv", 20, true), params, columns);
  CHECK(forced->regimes() == 3);
}

TEST_CASE("similarity regimes: a sample goes to the nearest regime, sensors scaled per regime") {
  SimilarityParams params;
  params.settings = {0};
  auto lib = BuildLibrary(testing::WriteRegimeLibrary("pn_regime_near.csv", 20, true), params,
                          {"os1", "s1", "s2", "s3"});
  REQUIRE(lib->regimes() == 2);
  const std::size_t r0 = lib->Regime(std::vector<double>{0.01, 10, 50, 3});
  const std::size_t r1 = lib->Regime(std::vector<double>{0.97, 10, 50, 3});
  CHECK(r0 != r1);
  CHECK(lib->Regime(std::vector<double>{-0.2, 0, 0, 0}) == r0);
  CHECK(lib->Regime(std::vector<double>{1.3, 0, 0, 0}) == r1);
  // A healthy sample in either regime maps to about the same health indicator, although the raw
  // sensors differ by far more than a whole life's degradation.
  testing::Noise noise(5);
  const auto healthy0 = testing::RegimeRow(1, 200, 0.0, 0, noise);
  const auto healthy1 = testing::RegimeRow(1, 200, 0.0, 1, noise);
  const auto failed0 = testing::RegimeRow(200, 200, 0.0, 0, noise);
  const double h0 = lib->HealthIndicator(healthy0);
  const double h1 = lib->HealthIndicator(healthy1);
  const double f0 = lib->HealthIndicator(failed0);
  CHECK(std::abs(h0 - h1) < 0.25 * std::abs(h0 - f0));
  CHECK(h0 > f0 + 0.5);
}

TEST_CASE("similarity regimes: with one regime the estimates equal the model without settings") {
  const std::string lib = testing::WriteRegimeLibrary("pn_regime_single.csv", 40, false);
  const std::string common = LibraryKey(lib) + "rul_cap = 125.0\nmemory = 30\nmin_samples = 1\n";
  Prepared with = Prepare(common + "settings = [\"os1\"]\n", kRegimeSeries);
  REQUIRE_MESSAGE(with.errors.empty(), with.errors.ToString());
  Prepared plain = Prepare(common + "columns = [\"s1\", \"s2\", \"s3\"]\n", {"s1", "s2", "s3"});
  REQUIRE_MESSAGE(plain.errors.empty(), plain.errors.ToString());
  auto a = with.factory();
  auto b = plain.factory();
  testing::Noise noise(77);
  int compared = 0;
  for (int c = 1; c <= 200; ++c) {
    const auto row = testing::RegimeRow(c, 200, 0.0, 0, noise);
    const HealthEstimate ea = a->Update(c, row);
    const HealthEstimate eb = b->Update(c, std::vector<double>(row.begin() + 1, row.end()));
    REQUIRE(std::isfinite(ea.rul));
    CHECK(ea.rul == doctest::Approx(eb.rul).epsilon(1e-9));
    CHECK(ea.health == doctest::Approx(eb.health).epsilon(1e-9));
    ++compared;
  }
  CHECK(compared == 200);
}

TEST_CASE("similarity regimes: constant and non-separating sensors are dropped") {
  // s1..s3 degrade; `flat` is constant; `noise` is unrelated to the degradation.
  const auto path = testing::TempPath("pn_regime_select.csv");
  {
    std::ofstream out(path);
    out << "unit,cycle,os1,s1,s2,s3,flat,noise\n";
    testing::Noise noise(3);
    for (int u = 1; u <= 30; ++u) {
      const int life = testing::SyntheticLife(u);
      for (int c = 1; c <= life; ++c) {
        const auto row = testing::RegimeRow(c, life, 0.0, testing::RegimeOf(noise, true), noise);
        out << u << ',' << c << ',' << row[0] << ',' << row[1] << ',' << row[2] << ',' << row[3]
            << ",7.5," << noise.Next() << '\n';
      }
    }
  }
  const std::vector<std::string> columns = {"os1", "s1", "s2", "s3", "flat", "noise"};
  SimilarityParams params;
  params.settings = {0};
  auto all = BuildLibrary(path.string(), params, columns);
  CHECK(all->sensors() == std::vector<std::size_t>{1, 2, 3, 5});  // flat (4) always dropped
  params.min_separation = 0.5;
  auto selected = BuildLibrary(path.string(), params, columns);
  CHECK(selected->sensors() == std::vector<std::size_t>{1, 2, 3});
  CHECK(selected->feature_count() == 3);
}

TEST_CASE("similarity regimes: regime history adds one feature per regime, state stays bounded") {
  const std::string lib = testing::WriteRegimeLibrary("pn_regime_hist.csv", 20, true);
  Prepared p =
      Prepare(LibraryKey(lib) + "settings = [\"os1\"]\nregime_history = 20\n", kRegimeSeries);
  REQUIRE_MESSAGE(p.errors.empty(), p.errors.ToString());
  auto base = p.factory();
  auto* model = dynamic_cast<SimilarityModel*>(base.get());
  REQUIRE(model != nullptr);
  testing::Noise noise(8);
  model->Update(1, testing::RegimeRow(1, 300, 0.0, 0, noise));
  const std::size_t bytes = model->state_bytes();
  for (int c = 2; c <= 3000; ++c) {
    model->Update(c,
                  testing::RegimeRow(c % 300 + 1, 300, 0.0, testing::RegimeOf(noise, true), noise));
  }
  CHECK(model->state_bytes() == bytes);
  SimilarityParams params;
  params.settings = {0};
  params.regime_history = 20;
  auto built = BuildLibrary(lib, params, {"os1", "s1", "s2", "s3"});
  CHECK(built->feature_count() == built->sensors().size() + 2);
}

TEST_CASE("similarity: beyond_cap = \"age\" replaces capped candidates by the age prior") {
  const std::string lib = testing::WriteSyntheticLibrary("pn_sim_age.csv", 40);
  const std::string common = LibraryKey(lib) + "rul_cap = 20.0\nmin_samples = 1\n";
  Prepared cap = Prepare(common, {"s1", "s2", "s3"});
  Prepared age = Prepare(common + "beyond_cap = \"age\"\n", {"s1", "s2", "s3"});
  REQUIRE_MESSAGE(age.errors.empty(), age.errors.ToString());
  auto a = cap.factory();
  auto b = age.factory();
  testing::Noise noise(4);
  HealthEstimate ea, eb;
  for (int c = 1; c <= 10; ++c) {  // young and healthy: every neighbour is beyond the cap
    const auto row = testing::SyntheticRow(c, 250, 0.0, noise);
    ea = a->Update(c, row);
    eb = b->Update(c, row);
  }
  CHECK(ea.rul == doctest::Approx(20.0));
  // Library lives are 150..269 samples: mean remaining life after 10 samples is about 200.
  CHECK(eb.rul > 150.0);
  CHECK(eb.rul < 260.0);
}

TEST_CASE(
    "similarity: rul_cap = 0 keeps a young asset's estimate at its neighbours' full "
    "remaining lives") {
  const std::string lib = testing::WriteSyntheticLibrary("pn_sim_nocap.csv", 40);
  const std::string common = LibraryKey(lib) + "min_samples = 1\nneighbours = 5\n";
  Prepared capped = Prepare(common + "rul_cap = 20.0\n", {"s1", "s2", "s3"});
  Prepared uncapped = Prepare(common + "rul_cap = 0.0\n", {"s1", "s2", "s3"});
  REQUIRE_MESSAGE(uncapped.errors.empty(), uncapped.errors.ToString());
  auto a = capped.factory();
  auto b = uncapped.factory();
  testing::Noise noise(4);
  HealthEstimate ea, eb;
  for (int c = 1; c <= 10; ++c) {
    const auto row = testing::SyntheticRow(c, 250, 0.0, noise);
    ea = a->Update(c, row);
    eb = b->Update(c, row);
  }
  CHECK(ea.rul == doctest::Approx(20.0));
  // Library lives are 150..269 samples; after 10 samples every neighbour has well over 100 left
  // (the match in the flat healthy part may sit anywhere in it, not only at its start).
  CHECK(eb.rul > 100.0);
  CHECK(eb.rul < 260.0);
  // Near failure no neighbour reaches either cap: the two agree.
  for (int c = 11; c <= 245; ++c) {
    const auto row = testing::SyntheticRow(c, 250, 0.0, noise);
    ea = a->Update(c, row);
    eb = b->Update(c, row);
  }
  CHECK(eb.rul < 20.0);
  CHECK(eb.rul == doctest::Approx(ea.rul));
}

TEST_CASE("similarity regimes: settings must name the rule's series, and leave a sensor") {
  const std::string lib = testing::WriteRegimeLibrary("pn_regime_keys.csv", 10, true);
  Prepared unknown = Prepare(LibraryKey(lib) + "settings = [\"alt\"]\n", kRegimeSeries);
  CHECK(unknown.factory == nullptr);
  CHECK(unknown.errors.ToString().find(
            "rule.health.settings: \"alt\" is not one of the rule's series") != std::string::npos);
  Prepared twice = Prepare(LibraryKey(lib) + "settings = [\"os1\", \"os1\"]\n", kRegimeSeries);
  CHECK(twice.errors.ToString().find("rule.health.settings: \"os1\" is named twice") !=
        std::string::npos);
  Prepared all = Prepare(LibraryKey(lib) + "settings = [\"os1\"]\n", {"os1"});
  CHECK(all.errors.ToString().find("every series is a setting") != std::string::npos);
  Prepared range = Prepare(LibraryKey(lib) + "regimes = -1\n", kRegimeSeries);
  CHECK(range.errors.ToString().find("rule.health.regimes: value -1 is out of range") !=
        std::string::npos);
}

}  // namespace
}  // namespace pn::rules
