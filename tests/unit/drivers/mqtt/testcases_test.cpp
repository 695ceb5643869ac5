// Runs drivers/mqtt/testcases/<case>/: config.toml holds a [drivers.broker] table; messages.txt
// holds one message per line, "TOPIC PAYLOAD" ("\n" in a payload stands for a newline); the case
// expects either expected.txt (one reading per line, "TS_NS DEVICE SERIES=VALUE" with four
// decimals, then "errors=N": the messages rejected) or expected_error.txt (the config errors as
// `processnow check` prints them, file named "config.toml"). Messages go through the driver's
// decoder (templates + payload parser) with the arrival time 1767225600000000000; the broker
// path is covered by the integration tests.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mqtt_test_util.h"
#include "tests/unit/drivers/testcases_util.h"

namespace pn::mqtt {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string RunCase(const fs::path& dir) {
  auto l = testing::Load(ReadFile(dir / "config.toml"), "config.toml");
  if (!l.errors.empty()) return l.errors.ToString();
  auto decoder = MakeDecoder(SettingsFromSection(*l.section), "broker");
  if (!decoder) return "test error: " + decoder.error().message() + "\n";
  std::istringstream in(ReadFile(dir / "messages.txt"));
  std::string line;
  std::vector<Reading> readings;
  int errors = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::size_t sp = line.find(' ');
    const std::string topic = line.substr(0, sp);
    std::string payload = sp == std::string::npos ? "" : line.substr(sp + 1);
    for (std::size_t p = payload.find("\\n"); p != std::string::npos; p = payload.find("\\n", p)) {
      payload.replace(p, 2, "\n");
    }
    if (!(*decoder)->Decode(topic, payload, 1767225600000000000, readings).ok()) ++errors;
  }
  std::string out;
  for (const auto& r : readings) {
    out += std::to_string(r.ts_ns) + " " + r.device + " " + r.series + "=" +
           pn::testing::ValueText(r) + "\n";
  }
  return out + "errors=" + std::to_string(errors) + "\n";
}

}  // namespace

TEST_CASE("mqtt testcases: every case in drivers/mqtt/testcases gives its expected output") {
  pn::testing::RunTestcases("mqtt", 4,
                            [](const pn::testing::Testcase& tc) { return RunCase(tc.dir); });
}

TEST_CASE("mqtt testcases: drivers/mqtt/example.toml is a valid configuration") {
  const auto path = fs::path(PN_SOURCE_DIR) / "drivers" / "mqtt" / "example.toml";
  auto l = testing::Load(ReadFile(path), "example.toml", "plant");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  CHECK(SettingsFromSection(*l.section).payload == "json");
}

}  // namespace pn::mqtt
