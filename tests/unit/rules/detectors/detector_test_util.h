// Helpers shared by the detector tests: a detector made from a [rule.detector] body, its
// validation errors, deterministic Gaussian noise, and feeding a series.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"
#include "rules/detectors/detector.h"

namespace pn::rules {

// Parses `body` as the [rule.detector] table of `type` (type and min_score are engine-owned)
// and returns the validation errors.
inline config::ErrorList Check(const std::string& type, const std::string& body) {
  config::ErrorList errors;
  const DetectorType* t = FindDetectorType(type);
  REQUIRE(t != nullptr);
  auto doc = config::ParseString("[d]\n" + body, "test.toml");
  REQUIRE(doc.has_value());
  const config::Node* node = doc->root.Find("d");
  config::Validate(*node, *t->spec, "d", "test.toml", errors, {"type", "min_score"});
  if (errors.empty() && t->check)
    t->check(config::Section(node, t->spec, "d", "test.toml"), errors);
  return errors;
}

// A detector of `type` configured by `body` (must be valid).
inline std::unique_ptr<Detector> Make(const std::string& type, const std::string& body = "",
                                      std::size_t arity = 1) {
  const DetectorType* t = FindDetectorType(type);
  REQUIRE(t != nullptr);
  auto doc = config::ParseString("[d]\n" + body, "test.toml");
  REQUIRE(doc.has_value());
  const config::Node* node = doc->root.Find("d");
  config::ErrorList errors;
  config::Validate(*node, *t->spec, "d", "test.toml", errors, {"type", "min_score"});
  REQUIRE_MESSAGE(errors.empty(), errors.ToString());
  auto d = t->create(config::Section(node, t->spec, "d", "test.toml"), arity);
  REQUIRE(d != nullptr);
  return d;
}

// Deterministic Gaussian noise.
class Noise {
 public:
  explicit Noise(unsigned seed) : rng_(seed) {}
  double operator()() {
    const double u1 = (static_cast<double>(rng_()) + 1.0) / 4294967297.0;
    const double u2 = static_cast<double>(rng_()) / 4294967296.0;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::mt19937 rng_;
};

inline double Feed(Detector& d, double x, std::int64_t i = 0) {
  const double v[1] = {x};
  return d.Update(i * 1'000'000'000, v);
}

// Scores of a series; index i is sample i.
inline std::vector<double> Run(Detector& d, const std::vector<double>& xs) {
  std::vector<double> out;
  for (std::size_t i = 0; i < xs.size(); ++i)
    out.push_back(Feed(d, xs[i], static_cast<std::int64_t>(i)));
  return out;
}

inline std::vector<double> Gaussian(std::size_t n, unsigned seed, double mean = 10.0,
                                    double sd = 1.0) {
  Noise noise(seed);
  std::vector<double> xs(n);
  for (auto& x : xs) x = mean + sd * noise();
  return xs;
}

// Fraction of finite scores at or above `level`, from index `from`.
inline double FractionAbove(const std::vector<double>& s, double level, std::size_t from) {
  std::size_t n = 0;
  std::size_t above = 0;
  for (std::size_t i = from; i < s.size(); ++i) {
    if (std::isnan(s[i])) continue;
    ++n;
    above += s[i] >= level ? 1 : 0;
  }
  return n == 0 ? 0.0 : static_cast<double>(above) / static_cast<double>(n);
}

}  // namespace pn::rules
