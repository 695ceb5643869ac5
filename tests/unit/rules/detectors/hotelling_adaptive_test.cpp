// The hotelling detector's adaptive baseline (adapt_*), re-baselining after a confirmed regime
// change (rebaseline_*) and robust baseline fit (trim_level), on synthetic correlated series:
// each test compares the key turned on with the same data and the key off, so it cannot pass
// by a detector that is always quiet or always alarming.
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
#include "tests/unit/rules/detectors/detector_test_util.h"

namespace pn::rules {
namespace {

constexpr std::size_t kD = 3;
constexpr double kFlag = 0.9999;  // the adapt_level used by every test

std::unique_ptr<Detector> MakeHotelling(const std::string& body) {
  return Make("hotelling", body, kD);
}

// Three correlated sensors around means 10, 20, 30 with unit noise (x1 follows x0 at 0.8).
class Rig {
 public:
  explicit Rig(unsigned seed) : rng_(seed) {}
  std::vector<double> Sample() {
    const double a = noise_(rng_);
    const double b = noise_(rng_);
    const double c = noise_(rng_);
    return {10.0 + a, 20.0 + 0.8 * a + 0.6 * b, 30.0 + c};
  }

 private:
  std::mt19937 rng_;
  std::normal_distribution<double> noise_{0.0, 1.0};
};

double Feed(Detector& d, const std::vector<double>& x, std::int64_t i) {
  return d.Update(i * 1'000'000'000, x);
}

// Fraction of scores in [from, to) at or above kFlag (NaN counts as not flagged).
double FlaggedShare(const std::vector<double>& s, std::size_t from, std::size_t to) {
  std::size_t n = 0;
  for (std::size_t i = from; i < to; ++i) n += s[i] >= kFlag ? 1 : 0;
  return static_cast<double>(n) / static_cast<double>(to - from);
}

// Runs the detector over `n` samples of the rig, each shifted by offset(i) (added to x0).
template <typename Offset>
std::vector<double> Run(Detector& d, std::size_t n, unsigned seed, Offset offset) {
  Rig rig(seed);
  std::vector<double> scores;
  for (std::size_t i = 0; i < n; ++i) {
    auto x = rig.Sample();
    x[0] += offset(i);
    scores.push_back(Feed(d, x, static_cast<std::int64_t>(i)));
  }
  return scores;
}

const std::string kBase = "baseline = 300\nadapt_level = 0.9999\n";

TEST_CASE(
    "hotelling: a slow drift of the normal regime stays quiet with adaptation, alarms without") {
  // x0 drifts by 8 standard deviations over 4000 samples (0.002 per sample) after the baseline.
  const auto drift = [](std::size_t i) { return i < 300 ? 0.0 : 0.002 * double(i - 300); };
  auto fixed = MakeHotelling(kBase);
  auto adaptive = MakeHotelling(kBase + "adapt_memory = 200\n");
  const auto sf = Run(*fixed, 4300, 1, drift);
  const auto sa = Run(*adaptive, 4300, 1, drift);
  // Lag of the adapted mean: 0.002 x 200 = 0.4 standard deviations.
  CHECK(FlaggedShare(sa, 300, 4300) < 0.01);
  // The fixed baseline sees x0 off by 6..8 standard deviations at the end.
  CHECK(FlaggedShare(sf, 3300, 4300) > 0.95);
}

TEST_CASE("hotelling: a step stays flagged and the baseline does not absorb it while flagged") {
  // A step of 6 standard deviations for 2000 samples, then back to normal. With a memory of
  // 100 samples an ungated baseline would have absorbed it within a few hundred samples.
  const auto step = [](std::size_t i) { return i >= 1000 && i < 3000 ? 6.0 : 0.0; };
  auto adaptive = MakeHotelling(kBase + "adapt_memory = 100\n");
  const auto s = Run(*adaptive, 4000, 2, step);
  CHECK(FlaggedShare(s, 300, 1000) < 0.01);   // quiet before
  CHECK(FlaggedShare(s, 1000, 3000) > 0.98);  // flagged throughout, also at its end
  CHECK(FlaggedShare(s, 2900, 3000) == 1.0);
  // The baseline is where it was: quiet again at once. Had it absorbed part of the step, the
  // return to normal would itself be flagged.
  CHECK(FlaggedShare(s, 3000, 3100) < 0.02);
  CHECK(FlaggedShare(s, 3000, 4000) < 0.01);
}

TEST_CASE("hotelling: a confirmed stable new regime is re-baselined and then quiet") {
  // From sample 1000 on, x0 sits 8 standard deviations higher (a new operating point).
  const auto step = [](std::size_t i) { return i >= 1000 ? 8.0 : 0.0; };
  const std::string rebase =
      "rebaseline_after = 200\nrebaseline_window = 100\nrebaseline_spread = 3\n";
  auto with = MakeHotelling(kBase + rebase);
  auto without = MakeHotelling(kBase);
  const auto sw = Run(*with, 3000, 3, step);
  const auto so = Run(*without, 3000, 3, step);
  CHECK(FlaggedShare(sw, 1000, 1200) == 1.0);  // flagged until confirmed (200 samples)
  CHECK(FlaggedShare(sw, 1300, 3000) < 0.01);  // then the new regime is the baseline
  CHECK(FlaggedShare(so, 1300, 3000) > 0.99);  // without re-baselining it stays flagged
}

TEST_CASE("hotelling: a persistent but unstable (drifting) state is not re-baselined") {
  // From sample 1000 on, x0 runs away by 0.1 standard deviations per sample: flagged for
  // long, but the means of the two halves of the last 100 samples differ by 5 standard
  // deviations (more than rebaseline_spread), so they are not stable.
  const auto ramp = [](std::size_t i) { return i >= 1000 ? 6.0 + 0.1 * double(i - 1000) : 0.0; };
  auto d = MakeHotelling(kBase +
                         "rebaseline_after = 200\nrebaseline_window = 100\n"
                         "rebaseline_spread = 3\n");
  const auto s = Run(*d, 2500, 4, ramp);
  CHECK(FlaggedShare(s, 1000, 2500) == 1.0);
}

TEST_CASE("hotelling: a few gross outliers in the baseline window do not blind the detector") {
  // Five samples of the baseline have x0 off by 1000 standard deviations (a glitch); later
  // x0 steps by 5 standard deviations.
  const auto glitch = [](std::size_t i) {
    if (i == 20 || i == 90 || i == 150 || i == 151 || i == 260) return 1000.0;
    return i >= 1000 ? 5.0 : 0.0;
  };
  auto robust = MakeHotelling(kBase + "trim_level = 0.999\n");
  auto plain = MakeHotelling(kBase);
  const auto sr = Run(*robust, 2000, 5, glitch);
  const auto sp = Run(*plain, 2000, 5, glitch);
  CHECK(FlaggedShare(sp, 1000, 2000) < 0.05);  // the glitches inflate the plain spread of x0
  CHECK(FlaggedShare(sr, 1000, 2000) > 0.98);  // the robust fit leaves them out
  CHECK(FlaggedShare(sr, 300, 1000) < 0.01);   // and is not oversensitive on normal data
}

TEST_CASE("hotelling: robust fit keeps clean baselines (same quiet rate as the plain fit)") {
  const auto none = [](std::size_t) { return 0.0; };
  auto robust = MakeHotelling(kBase + "trim_level = 0.999\n");
  const auto s = Run(*robust, 5300, 6, none);
  CHECK(FlaggedShare(s, 300, 5300) < 0.005);
}

TEST_CASE("hotelling: adaptive detectors are deterministic, warm up with NaN, stay bounded") {
  const auto step = [](std::size_t i) { return i >= 800 ? 8.0 : 0.0; };
  const std::string body = kBase +
                           "smoothing = 5\ntrim_level = 0.999\nadapt_memory = 300\n"
                           "rebaseline_after = 100\nrebaseline_window = 50\n";
  auto a = MakeHotelling(body);
  auto b = MakeHotelling(body);
  const auto sa = Run(*a, 3000, 7, step);
  const auto sb = Run(*b, 3000, 7, step);
  for (std::size_t i = 0; i < 300; ++i) REQUIRE(std::isnan(sa[i]));
  for (std::size_t i = 300; i < sa.size(); ++i) {
    REQUIRE(sa[i] >= 0.0);
    REQUIRE(sa[i] <= 1.0);
    REQUIRE(sa[i] == sb[i]);
  }
  // After the fit: means, variances, the d x d moments and eigenvectors, a few d-vectors and
  // the 50-sample ring; the baseline buffer is freed.
  const std::size_t expected = (2 * kD * kD + 8 * kD + 50 * kD) * sizeof(double);
  CHECK(a->state_bytes() <= expected + 512);
  CHECK(a->state_bytes() >= 50 * kD * sizeof(double));
}

}  // namespace
}  // namespace pn::rules
