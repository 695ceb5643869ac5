// Runs drivers/modbus/testcases/<case>/ (Telegraf style): config.toml holds a [drivers.plc]
// table; the case expects either expected.txt (the readings of the first scan against
// pn_modbus_server, one per line, "TS_NS DEVICE SERIES=VALUE UNIT QUALITY" with four decimals)
// or expected_error.txt (the config errors exactly as `processnow check` prints them, the file
// named "config.toml"). The runner starts `pn_modbus_server --tcp 0 --dead-unit 9` and points the
// driver at it (host and port in the case are replaced); the driver's clock is fixed at
// 2026-01-01T00:00:00Z. On a mismatch the actual output is written next to the build tree.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "drivers/modbus/modbus_driver.h"
#include "modbus_test_util.h"
#include "peer_process.h"
#include "tests/unit/drivers/testcases_util.h"

namespace pn::modbus {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kT0 = 1767225600000000000;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string FormatReadings(const std::vector<Reading>& readings) {
  std::string out;
  for (const auto& r : readings) {
    out += std::to_string(r.ts_ns) + " " + r.device + " " + r.series + "=" +
           pn::testing::ValueText(r) + " " + r.unit + " " + std::string(QualityName(r.quality)) +
           "\n";
  }
  return out;
}

class StopAfterFirst final : public ReadingSink {
 public:
  explicit StopAfterFirst(std::stop_source& s) : stop_(s) {}
  bool Deliver(std::vector<Reading>& batch) override {
    for (auto& r : batch) readings.push_back(std::move(r));
    stop_.request_stop();
    return true;
  }
  std::vector<Reading> readings;

 private:
  std::stop_source& stop_;
};

std::string RunCase(const fs::path& dir, int port) {
  auto l = testing::Load(ReadFile(dir / "config.toml"), "config.toml");
  if (!l.errors.empty()) return l.errors.ToString();
  ModbusSettings s = SettingsFromSection(*l.section, "plc");
  s.transport = Transport::kTcp;
  s.host = "127.0.0.1";
  s.port = port;
  FakeClock clock(kT0);
  ModbusDriver driver("plc", s, &clock);
  std::stop_source stop;
  StopAfterFirst sink(stop);
  driver.Run(stop.get_token(), sink);
  return FormatReadings(sink.readings);
}

}  // namespace

TEST_CASE("modbus testcases: every case in drivers/modbus/testcases gives its expected output") {
  testing::TcpServer server({"--dead-unit", "9"});
  REQUIRE(server.ok());
  pn::testing::RunTestcases("modbus", 4, [&server](const pn::testing::Testcase& tc) {
    return RunCase(tc.dir, server.port());
  });
}

TEST_CASE("modbus testcases: drivers/modbus/example.toml is a valid configuration") {
  const auto path = fs::path(PN_SOURCE_DIR) / "drivers" / "modbus" / "example.toml";
  auto l = testing::Load(ReadFile(path), "example.toml");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  CHECK(SettingsFromSection(*l.section, "plc").tags.size() >= 5);
}

}  // namespace pn::modbus
