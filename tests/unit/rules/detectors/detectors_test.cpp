// Detectors on synthetic series: warm-up, stationary noise, spikes, steps, drift, broken
// correlations, post-processing, state size, determinism and spec validation.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"
#include "rules/detectors/detector.h"
#include "tests/unit/rules/detectors/detector_test_util.h"

namespace pn::rules {
namespace {

const char* const kUnivariate[] = {"zscore", "ewma", "mad", "cusum", "knn"};

TEST_CASE("registry lists every detector once, each with a spec and a summary") {
  std::set<std::string> names;
  for (const auto& t : DetectorTypes()) {
    CHECK(t.spec != nullptr);
    CHECK(!t.summary.empty());
    CHECK(static_cast<bool>(t.create));
    CHECK(names.insert(t.name).second);
    CHECK(FindDetectorType(t.name) == &t);
  }
  for (const char* n : kUnivariate) CHECK(names.count(n) == 1);
  CHECK(names.count("hotelling") == 1);
  CHECK(FindDetectorType("hotelling")->multivariate);
  CHECK(FindDetectorType("nope") == nullptr);
}

TEST_CASE("every key of every detector spec has a description and a default or example") {
  for (const auto& t : DetectorTypes()) {
    for (const auto& k : t.spec->keys) {
      CAPTURE(t.name);
      CAPTURE(k.name);
      CHECK(!k.description.empty());
      CHECK((k.default_value.index() != 0 || !k.example.empty()));
    }
  }
}

TEST_CASE("spec validation reports unknown keys, wrong types and out-of-range values") {
  CHECK(Check("zscore", "window = 50\nmin_std = 0.1\n").empty());
  CHECK(Check("zscore", "windw = 50\n").size() == 1);
  CHECK(Check("zscore", "window = 1\n").size() == 1);
  CHECK(Check("zscore", "window = \"big\"\n").size() == 1);
  CHECK(Check("ewma", "alpha = 1.5\n").size() == 1);
  CHECK(Check("cusum", "h = 0\nk = -1\n").size() == 2);
  CHECK(Check("hotelling", "variance = 0\n").size() == 1);
  CHECK(Check("knn", "hold = 10\nhold_level = 0.99\nrange_tolerance = 0.05\n").empty());
  CHECK(Check("knn", "hold = -1\n").size() == 1);
  CHECK(Check("knn", "likelihood = 1\n").size() == 1);
}

TEST_CASE("the eval configs and every detector's example.toml validate against the specs") {
  std::vector<std::string> files = {"config/eval/nab.toml", "config/eval/skab.toml"};
  for (const auto& t : DetectorTypes())
    files.push_back("rules/detectors/" + t.name + "/example.toml");
  for (const auto& f : files) {
    CAPTURE(f);
    auto doc = config::ParseFile(std::string(PN_SOURCE_DIR) + "/" + f);
    REQUIRE(doc.has_value());
    const config::Node* rules = doc->root.Find("rule");
    REQUIRE(rules != nullptr);
    for (const auto& rule : rules->array) {
      const config::Node* det = rule.Find("detector");
      REQUIRE(det != nullptr);
      const config::Node* type = det->Find("type");  // none: the default detector
      const DetectorType* t = FindDetectorType(type != nullptr ? type->str : kDefaultDetector);
      REQUIRE(t != nullptr);
      config::ErrorList errors;
      config::Validate(*det, *t->spec, "rule.detector", f, errors, {"type", "min_score"});
      if (errors.empty() && t->check) {
        t->check(config::Section(det, t->spec, "rule.detector", f), errors);
      }
      CHECK_MESSAGE(errors.empty(), errors.ToString());
    }
  }
}

TEST_CASE("knn check rejects k not below history, naming the key") {
  const auto errors = Check("knn", "k = 50\nhistory = 50\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors.errors()[0].path == "d.k");
}

TEST_CASE("every univariate detector returns NaN during warm-up, then scores in 0..1") {
  for (const char* type : kUnivariate) {
    CAPTURE(type);
    auto d = Make(type);
    const auto s = Run(*d, Gaussian(1000, 1));
    CHECK(std::isnan(s[0]));
    CHECK(std::isnan(s[5]));
    for (std::size_t i = 400; i < s.size(); ++i) {
      REQUIRE(!std::isnan(s[i]));
      REQUIRE(s[i] >= 0.0);
      REQUIRE(s[i] <= 1.0);
    }
  }
}

TEST_CASE("z-score, EWMA and MAD stay low on stationary noise and score a spike high") {
  for (const char* type : {"zscore", "ewma", "mad"}) {
    CAPTURE(type);
    auto d = Make(type);
    auto xs = Gaussian(2000, 2);
    const auto s = Run(*d, xs);
    CHECK(FractionAbove(s, 0.9999, 200) < 0.002);
    xs[1500] += 8.0;
    auto d2 = Make(type);
    const auto s2 = Run(*d2, xs);
    CHECK(s2[1500] > 0.99999);
  }
}

TEST_CASE("z-score and MAD score a step high at the step") {
  for (const char* type : {"zscore", "mad"}) {
    CAPTURE(type);
    auto xs = Gaussian(1000, 3);
    for (std::size_t i = 600; i < xs.size(); ++i) xs[i] += 6.0;
    auto d = Make(type);
    const auto s = Run(*d, xs);
    CHECK(s[600] > 0.9999);
    CHECK(s[601] > 0.99);
  }
}

TEST_CASE("z-score and MAD scores equal the Gaussian probability of their exact z-values") {
  auto z = Make("zscore", "window = 4\n");
  for (double x : {1.0, 2.0, 3.0, 4.0}) CHECK(std::isnan(Feed(*z, x)));
  // mean 2.5, sample standard deviation sqrt(5/3): three of them above the mean.
  CHECK(Feed(*z, 2.5 + 3.0 * std::sqrt(5.0 / 3.0)) == doctest::Approx(0.9973002).epsilon(1e-6));

  auto odd = Make("mad", "window = 5\n");
  for (double x : {1.0, 2.0, 3.0, 4.0, 100.0}) CHECK(std::isnan(Feed(*odd, x)));
  // median 3, |deviations| 2 1 0 1 97 -> MAD 1; sigma = 1.4826.
  CHECK(Feed(*odd, 3.0 + 3.0 * 1.4826) == doctest::Approx(0.9973002).epsilon(1e-6));

  auto even = Make("mad", "window = 4\n");
  for (double x : {1.0, 2.0, 3.0, 10.0}) CHECK(std::isnan(Feed(*even, x)));
  // median 2.5, |deviations| 1.5 0.5 0.5 7.5 -> MAD (0.5 + 1.5) / 2 = 1.
  CHECK(Feed(*even, 2.5 - 2.0 * 1.4826) == doctest::Approx(0.9544997).epsilon(1e-6));
}

TEST_CASE("MAD is not blinded by earlier outliers in its window") {
  auto xs = Gaussian(600, 4);
  for (std::size_t i = 500; i < 510; ++i) xs[i] += 50.0;  // a burst of outliers
  xs[530] += 6.0;                                         // then a modest spike
  auto mad = Make("mad", "window = 61\n");
  const auto s = Run(*mad, xs);
  CHECK(s[530] > 0.999);
  auto z = Make("zscore", "window = 61\n");
  const auto sz = Run(*z, xs);
  CHECK(sz[530] < 0.9);  // the plain z-score's baseline is inflated by the burst
}

TEST_CASE("CUSUM detects a slow drift that a z-score misses") {
  auto xs = Gaussian(1500, 5);
  for (std::size_t i = 500; i < xs.size(); ++i) xs[i] += 1.0;  // a one-sigma shift
  auto cusum = Make("cusum", "baseline = 200\nk = 0.5\nh = 10.0\n");
  const auto s = Run(*cusum, xs);
  CHECK(FractionAbove(s, 1.0, 200) > 0.0);
  std::size_t first = 0;
  for (std::size_t i = 200; i < s.size(); ++i) {
    if (s[i] >= 1.0) {
      first = i;
      break;
    }
  }
  CHECK(first >= 500);
  CHECK(first < 560);  // about h / (d - k) = 20 samples, give or take the noise
  auto z = Make("zscore");
  CHECK(FractionAbove(Run(*z, xs), 0.9999, 500) < 0.01);
}

TEST_CASE("CUSUM stays below its alarm on stationary noise") {
  auto cusum = Make("cusum", "baseline = 200\nh = 8.0\n");
  const auto s = Run(*cusum, Gaussian(3000, 6));
  CHECK(FractionAbove(s, 1.0, 0) == 0.0);
}

TEST_CASE("knn scores a new shape high and a repeated shape low") {
  // A periodic signal with a period of 50; one period is replaced by a flat segment.
  std::vector<double> xs;
  Noise noise(7);
  for (int i = 0; i < 3000; ++i)
    xs.push_back(std::sin(i * 6.283185307179586 / 50.0) + 0.05 * noise());
  for (int i = 2500; i < 2550; ++i) xs[static_cast<std::size_t>(i)] = 0.0;
  auto d = Make("knn", "dim = 20\nk = 5\nhistory = 1000\ncalibration = 1000\n");
  const auto s = Run(*d, xs);
  CHECK(FractionAbove(s, 0.999, 1200) < 0.05);
  double peak = 0.0;
  for (std::size_t i = 2500; i < 2560; ++i) peak = std::max(peak, s[i]);
  CHECK(peak >= 0.999);
}

// Three correlated sensors: b follows a, c is independent.
std::vector<std::vector<double>> Correlated(std::size_t n, unsigned seed) {
  Noise noise(seed);
  std::vector<std::vector<double>> rows;
  for (std::size_t i = 0; i < n; ++i) {
    const double a = 50.0 + 2.0 * noise();
    const double b = 2.0 * a + 0.2 * noise();
    const double c = 5.0 + noise();
    rows.push_back({a, b, c});
  }
  return rows;
}

std::vector<double> RunRows(Detector& d, const std::vector<std::vector<double>>& rows) {
  std::vector<double> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out.push_back(d.Update(static_cast<std::int64_t>(i), rows[i]));
  }
  return out;
}

TEST_CASE("hotelling warms up on its baseline and stays low on healthy data") {
  auto d = Make("hotelling", "baseline = 300\n", 3);
  const auto s = RunRows(*d, Correlated(3000, 8));
  CHECK(std::isnan(s[0]));
  CHECK(std::isnan(s[299]));
  CHECK(!std::isnan(s[300]));
  CHECK(FractionAbove(s, 0.9999, 300) < 0.005);
}

TEST_CASE("hotelling scores a broken correlation high though each value is in range") {
  auto rows = Correlated(1000, 9);
  for (std::size_t i = 800; i < 820; ++i)
    rows[i][1] = 100.0 - 2.0 * (rows[i][0] - 50.0);  // b now falls as a rises
  auto d = Make("hotelling", "baseline = 300\n", 3);
  const auto s = RunRows(*d, rows);
  CHECK(FractionAbove(std::vector<double>(s.begin() + 800, s.begin() + 820), 0.9999, 0) > 0.5);
}

TEST_CASE("hotelling with smoothing finds a small sustained shift of one sensor") {
  auto rows = Correlated(1500, 10);
  for (std::size_t i = 1000; i < rows.size(); ++i) rows[i][2] += 1.0;  // one sigma
  auto plain = Make("hotelling", "baseline = 300\n", 3);
  auto smooth = Make("hotelling", "baseline = 300\nsmoothing = 10\n", 3);
  const auto sp = RunRows(*plain, rows);
  const auto ss = RunRows(*smooth, rows);
  CHECK(FractionAbove(ss, 0.9999, 1050) > 0.8);
  CHECK(FractionAbove(sp, 0.9999, 1050) < 0.2);
  CHECK(FractionAbove(ss, 0.9999, 400) < 0.4);  // mostly the shifted part
}

TEST_CASE("hold reports one anomaly once and range_tolerance flags a new extreme") {
  auto xs = Gaussian(1000, 11);
  xs[700] += 10.0;
  xs[705] += 10.0;
  auto held = Make("zscore", "hold = 50\nhold_level = 0.999\n");
  const auto s = Run(*held, xs);
  CHECK(s[700] > 0.999);
  for (std::size_t i = 701; i <= 750; ++i) CHECK(s[i] == 0.0);
  auto ranged = Make("ewma", "alpha = 0.5\nwarmup = 10\nrange_tolerance = 0.1\n");
  auto ys = Gaussian(500, 12);
  ys[400] = 100.0;
  const auto r = Run(*ranged, ys);
  CHECK(r[400] == 1.0);
}

TEST_CASE("hold_level defaults to the rule's min_score") {
  auto xs = Gaussian(600, 13);
  xs[500] += 10.0;
  auto d = Make("zscore", "min_score = 0.999\nhold = 20\n");
  const auto s = Run(*d, xs);
  CHECK(s[500] > 0.999);
  CHECK(s[501] == 0.0);
}

TEST_CASE("likelihood adds its learning period to the warm-up and flags a sustained change") {
  auto xs = Gaussian(3000, 14);
  for (std::size_t i = 2000; i < 2100; ++i) xs[i] += 3.0 * ((i % 2) ? 1.0 : -1.0);  // noisier
  auto d = Make("zscore", "likelihood = true\nlikelihood_learning = 200\n");
  const auto s = Run(*d, xs);
  CHECK(std::isnan(s[250]));
  CHECK(!std::isnan(s[400]));
  CHECK(FractionAbove(s, 0.999, 400) < 0.01);
  double peak = 0.0;
  for (std::size_t i = 2000; i < 2100; ++i) peak = std::max(peak, s[i]);
  CHECK(peak > 0.999);
}

TEST_CASE("O(1) detectors keep at most 1 KB of state per series") {
  for (const char* type : {"zscore", "ewma", "cusum"}) {
    CAPTURE(type);
    auto d = Make(type);
    Run(*d, Gaussian(500, 15));
    CHECK(d->state_bytes() <= 1024);
  }
  auto post = Make("ewma", "hold = 10\nrange_tolerance = 0.1\n");
  Run(*post, Gaussian(500, 15));
  CHECK(post->state_bytes() <= 1024);
}

TEST_CASE("bounded detectors do not grow with the stream") {
  for (const char* type : {"mad", "knn", "hotelling"}) {
    CAPTURE(type);
    auto d = Make(type, "", std::string(type) == "hotelling" ? 3 : 1);
    auto feed = [&](std::size_t n) {
      if (std::string(type) == "hotelling") {
        RunRows(*d, Correlated(n, 16));
      } else {
        Run(*d, Gaussian(n, 16));
      }
    };
    feed(2000);
    const std::size_t after_warmup = d->state_bytes();
    feed(5000);
    CHECK(d->state_bytes() <= after_warmup);
  }
}

TEST_CASE("detectors are deterministic: the same input gives bit-identical scores") {
  const auto xs = Gaussian(1500, 17);
  for (const auto& t : DetectorTypes()) {
    CAPTURE(t.name);
    const std::size_t arity = t.multivariate ? 3 : 1;
    auto a = Make(t.name, "likelihood = true\nhold = 5\nrange_tolerance = 0.1\n", arity);
    auto b = Make(t.name, "likelihood = true\nhold = 5\nrange_tolerance = 0.1\n", arity);
    const auto rows = Correlated(1500, 18);
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const double va = t.multivariate ? a->Update(0, rows[i]) : Feed(*a, xs[i]);
      const double vb = t.multivariate ? b->Update(0, rows[i]) : Feed(*b, xs[i]);
      REQUIRE(((std::isnan(va) && std::isnan(vb)) || va == vb));
    }
  }
}

}  // namespace
}  // namespace pn::rules
