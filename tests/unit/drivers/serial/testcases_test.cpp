// Runs drivers/serial/testcases/<case>/: config.toml holds a [drivers.sensor] table (its device
// path is replaced by a pseudo-terminal); input.txt is written into the line as the sensor would;
// the case expects either expected.txt (one reading per line, "DEVICE SERIES=VALUE UNIT" with
// four decimals, then "errors=N": the lines the driver rejected) or expected_error.txt (the config
// errors as `processnow check` prints them, file named "config.toml"). input.txt must end with a
// line that gives a reading. On a mismatch the actual output is written next to the build tree.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "serial_test_util.h"
#include "tests/unit/drivers/testcases_util.h"

namespace pn::serial {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string RunCase(const fs::path& dir, std::size_t expected_readings) {
  auto l = testing::Load(ReadFile(dir / "config.toml"), "config.toml");
  if (!l.errors.empty()) return l.errors.ToString();
  testing::Pty pty;
  if (!pty.ok()) return "test error: no pty\n";
  SerialSettings s = SettingsFromSection(*l.section);
  s.port.device = pty.slave_path();
  FakeClock clock(1767225600000000000);
  auto driver = SerialDriver::Create("sensor", s, &clock);
  if (!driver) return "test error: " + driver.error().message() + "\n";
  testing::CollectSink sink;
  std::jthread t([&](std::stop_token st) { (*driver)->Run(st, sink); });
  testing::WaitFor([&] { return (*driver)->opens() == 1; });
  pty.Write(ReadFile(dir / "input.txt"));
  testing::WaitFor([&] { return sink.count() >= expected_readings; }, std::chrono::seconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // anything beyond: a failure
  t.request_stop();
  t.join();
  std::string out;
  char buf[64];
  for (const auto& r : sink.readings()) {
    std::snprintf(buf, sizeof buf, "%.4f", r.value);
    out += r.device + " " + r.series + "=" + buf + (r.unit.empty() ? "" : " " + r.unit) + "\n";
  }
  out += "errors=" + std::to_string((*driver)->stats().errors.load()) + "\n";
  return out;
}

}  // namespace

TEST_CASE("serial testcases: every case in drivers/serial/testcases gives its expected output") {
  pn::testing::RunTestcases("serial", 4, [](const pn::testing::Testcase& tc) {
    const std::size_t n =
        tc.want_error
            ? 0
            : static_cast<std::size_t>(std::count(tc.expected.begin(), tc.expected.end(), '\n')) -
                  1;
    return RunCase(tc.dir, n);
  });
}

TEST_CASE("serial testcases: drivers/serial/example.toml is a valid configuration") {
  const auto path = std::filesystem::path(PN_SOURCE_DIR) / "drivers" / "serial" / "example.toml";
  auto l = testing::Load(ReadFile(path), "example.toml", "probe");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  CHECK(SettingsFromSection(*l.section).parser.kind == "regex");
}

}  // namespace pn::serial
