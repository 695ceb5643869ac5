// Synthetic run-to-failure data for the maintenance tests: deterministic, no files needed
// unless a test writes them.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace pn::rules::testing {

// A deterministic uniform noise source in [-1, 1).
class Noise {
 public:
  explicit Noise(std::uint32_t seed) : state_(seed) {}
  double Next() {
    state_ = state_ * 1664525u + 1013904223u;
    return static_cast<double>(state_ >> 8) / static_cast<double>(1u << 23) - 1.0;
  }

 private:
  std::uint32_t state_;
};

// Three series of a unit that fails after `life` samples: each drifts exponentially towards
// failure (s1 up, s2 down, s3 up) from a unit-specific start, plus noise.
inline std::vector<double> SyntheticRow(int cycle, int life, double offset, Noise& noise) {
  const double wear = std::exp(4.0 * (static_cast<double>(cycle) / life)) / std::exp(4.0);
  return {10.0 + offset + 5.0 * wear + 0.3 * noise.Next(),
          50.0 - 2.0 * offset - 8.0 * wear + 0.5 * noise.Next(),
          3.0 + 2.0 * wear + 0.1 * noise.Next()};
}

inline int SyntheticLife(int unit) { return 150 + (unit * 37) % 120; }

// Writes a library CSV of `units` run-to-failure units; returns its path.
// A path in the temp folder unique to this process: ctest runs test cases as parallel processes.
inline std::filesystem::path TempPath(const std::string& name) {
  return std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "-" + name);
}

inline std::string WriteSyntheticLibrary(const std::string& name, int units) {
  const auto path = TempPath(name);
  std::ofstream out(path);
  out << "unit,cycle,s1,s2,s3\n";
  Noise noise(7);
  for (int u = 1; u <= units; ++u) {
    const int life = SyntheticLife(u);
    const double offset = 0.2 * noise.Next();
    for (int c = 1; c <= life; ++c) {
      const auto row = SyntheticRow(c, life, offset, noise);
      out << u << ',' << c << ',' << row[0] << ',' << row[1] << ',' << row[2] << '\n';
    }
  }
  return path.string();
}

// A row of a unit running in operating regime `regime` (0 or 1), as {os1, s1, s2, s3}: the
// setting os1 is the regime plus a little jitter; regime 1 shifts every sensor along the
// degradation's own direction by 1.5 times a whole life's degradation (so no combination of
// the raw sensors tells regime from wear) and doubles the sensors' sensitivity (so not even a
// regression with os1 as an input can undo it).
inline std::vector<double> RegimeRow(int cycle, int life, double offset, int regime, Noise& noise) {
  auto row = SyntheticRow(cycle, life, offset, noise);
  const double gain = regime == 1 ? 2.0 : 1.0;
  const std::vector<double> shift = {7.5, -12.0, 3.0};
  std::vector<double> out = {regime + 0.002 * noise.Next()};
  for (std::size_t i = 0; i < 3; ++i) out.push_back(gain * row[i] + regime * shift[i]);
  return out;
}

// The regime of a cycle: drawn at random every cycle (as in C-MAPSS FD002); always 0 when
// `two_regimes` is false.
inline int RegimeOf(Noise& noise, bool two_regimes) {
  return two_regimes && noise.Next() > 0.0 ? 1 : 0;
}

// Writes a library CSV (unit,cycle,os1,s1,s2,s3) of `units` run-to-failure units.
inline std::string WriteRegimeLibrary(const std::string& name, int units, bool two_regimes) {
  const auto path = TempPath(name);
  std::ofstream out(path);
  out << "unit,cycle,os1,s1,s2,s3\n";
  Noise noise(11);
  for (int u = 1; u <= units; ++u) {
    const int life = SyntheticLife(u);
    const double offset = 0.2 * noise.Next();
    for (int c = 1; c <= life; ++c) {
      const auto row = RegimeRow(c, life, offset, RegimeOf(noise, two_regimes), noise);
      out << u << ',' << c << ',' << row[0] << ',' << row[1] << ',' << row[2] << ',' << row[3]
          << '\n';
    }
  }
  return path.string();
}

inline std::string WriteFile(const std::string& name, const std::string& text) {
  const auto path = TempPath(name);
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace pn::rules::testing
