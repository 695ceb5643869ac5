// Runs drivers/sim/testcases/<case>/: config.toml holds a [drivers.plant] table; the case expects
// either expected.txt (every reading of a run, one per line, "TS_NS DEVICE SERIES=VALUE UNIT" with
// four decimals; the config must set realtime = false and max_samples) or expected_error.txt
// (the config errors, exactly as `processnow check` prints them, with the file named
// "config.toml"). On a mismatch the actual output is written next to the build tree.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "sim_test_util.h"
#include "tests/unit/drivers/testcases_util.h"

namespace pn::sim {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string FormatReadings(const std::vector<Reading>& readings) {
  std::string out;
  char buf[64];
  for (const auto& r : readings) {
    std::snprintf(buf, sizeof buf, "%.4f", r.value);
    out +=
        std::to_string(r.ts_ns) + " " + r.device + " " + r.series + "=" + buf + " " + r.unit + "\n";
  }
  return out;
}

// The output of one case: readings or errors.
std::string RunCase(const fs::path& dir) {
  auto l = testing::Load(ReadFile(dir / "config.toml"), "config.toml");
  if (!l.errors.empty()) return l.errors.ToString();
  SimSettings s = SettingsFromSection(*l.section);
  if (s.realtime || s.max_samples == 0)
    return "test case error: needs realtime = false and max_samples\n";
  SimDriver driver("plant", s, &SystemClock::Instance());
  testing::FakeSink sink;
  driver.Run(std::stop_token{}, sink);
  return FormatReadings(sink.readings());
}

}  // namespace

TEST_CASE("sim testcases: every case in drivers/sim/testcases gives its expected output") {
  pn::testing::RunTestcases("sim", 2,
                            [](const pn::testing::Testcase& tc) { return RunCase(tc.dir); });
}

}  // namespace pn::sim

namespace pn::sim {

TEST_CASE("sim testcases: drivers/sim/example.toml is a valid configuration with two faults") {
  const auto path = std::filesystem::path(PN_SOURCE_DIR) / "drivers" / "sim" / "example.toml";
  auto l = testing::Load(ReadFile(path), "example.toml");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  CHECK(SettingsFromSection(*l.section).plant.faults.size() == 2);
}

}  // namespace pn::sim
