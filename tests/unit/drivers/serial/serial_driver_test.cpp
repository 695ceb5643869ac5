// The serial driver on a real pseudo-terminal: lines in, readings out; garbage counted and
// survived; poll command sent on its interval; a hung-up line retried; config checks.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include "serial_test_util.h"

namespace pn::serial {

using testing::CollectSink;
using testing::Load;
using testing::Pty;
using testing::WaitFor;

namespace {

SerialSettings KvSettings(const std::string& path) {
  SerialSettings s;
  s.port.device = path;
  s.port.baud_rate = 115200;
  s.parser.kind = "kv";
  s.retry_initial_ms = 20;
  s.retry_max_ms = 100;
  return s;
}

std::unique_ptr<SerialDriver> MakeDriver(SerialSettings s, Clock* clock) {
  auto d = SerialDriver::Create("sensor", std::move(s), clock);
  REQUIRE(d.has_value());
  return std::move(*d);
}

}  // namespace

TEST_CASE(
    "serial driver: lines become readings, garbage and overlong lines are counted, not fatal") {
  Pty pty;
  REQUIRE(pty.ok());
  FakeClock clock(1'000'000'000);
  SerialSettings s = KvSettings(pty.slave_path());
  s.max_line_bytes = 64;
  s.device_name = "station-1";
  auto driver = MakeDriver(s, &clock);
  CollectSink sink;
  std::jthread t([&](std::stop_token st) { driver->Run(st, sink); });
  REQUIRE(WaitFor([&] { return driver->opens() == 1; }));
  pty.Write("T=21.5 H=40\r\n");
  pty.Write("\x01\x02\xff garbage\n");
  pty.Write(std::string(200, 'n') + "\n");
  pty.Write("T=22");
  pty.Write(".0 H=41\n");
  REQUIRE(WaitFor([&] { return sink.count() == 4; }));
  auto r = sink.readings();
  CHECK(r[0].device == "station-1");
  CHECK(r[0].series == "T");
  CHECK(r[0].value == 21.5);
  CHECK(r[0].ts_ns == 1'000'000'000);
  CHECK(r[1].series == "H");
  CHECK(r[2].value == 22.0);
  CHECK(r[3].value == 41.0);
  CHECK(driver->stats().errors.load() == 2);  // the garbage line and the overlong one
  CHECK(driver->stats().readings.load() == 4);
  t.request_stop();
}

TEST_CASE("serial driver: a first line joined mid-way after opening is dropped without an error") {
  // A sensor already sending when the port opens: the first line read starts in its middle.
  Pty pty;
  REQUIRE(pty.ok());
  FakeClock clock(1'000'000'000);
  auto driver = MakeDriver(KvSettings(pty.slave_path()), &clock);
  CollectSink sink;
  std::jthread t([&](std::stop_token st) { driver->Run(st, sink); });
  REQUIRE(WaitFor([&] { return driver->opens() == 1; }));
  pty.Write(".5C\r\n");  // the tail of "T=21.5C"
  pty.Write("T=22.0 H=41\r\n");
  pty.Write("\x01 garbage\n");  // a bad line after the first counts as ever
  pty.Write("T=23.0 H=42\r\n");
  REQUIRE(WaitFor([&] { return sink.count() == 4; }));
  CHECK(sink.readings()[0].value == 22.0);
  CHECK(driver->stats().errors.load() == 1);
  t.request_stop();
}

TEST_CASE("serial driver: the poll command is sent every poll_interval_ms and answers parsed") {
  Pty pty;
  REQUIRE(pty.ok());
  SerialSettings s = KvSettings(pty.slave_path());
  s.poll_command = "R\r";
  s.poll_interval_ms = 50;
  auto driver = MakeDriver(s, &SystemClock::Instance());
  CollectSink sink;
  std::jthread t([&](std::stop_token st) { driver->Run(st, sink); });
  std::string got;
  // Answer three polls.
  for (int i = 0; i < 3; ++i) {
    std::string cmd;
    REQUIRE(WaitFor([&] {
      cmd += pty.Read(50);
      return cmd.find("R\r") != std::string::npos;
    }));
    pty.Write("v=" + std::to_string(i) + "\n");
  }
  REQUIRE(WaitFor([&] { return sink.count() >= 3; }));
  auto r = sink.readings();
  CHECK(r[0].value == 0.0);
  CHECK(r[1].value == 1.0);
  CHECK(r[2].value == 2.0);
  t.request_stop();
}

TEST_CASE("serial driver: a hung-up line is closed and reopening is retried with backoff") {
  auto pty = std::make_unique<Pty>();
  REQUIRE(pty->ok());
  // Through a by-id style link, removed on unplug as udev does: the /dev/pts number itself may be
  // handed to another test's pty at once (ctest -j), which the driver would then open.
  const std::filesystem::path link =
      std::filesystem::temp_directory_path() / ("pn-serial-by-id-" + std::to_string(::getpid()));
  std::filesystem::remove(link);
  std::filesystem::create_symlink(pty->slave_path(), link);
  auto driver = MakeDriver(KvSettings(link.string()), &SystemClock::Instance());
  CollectSink sink;
  std::jthread t([&](std::stop_token st) { driver->Run(st, sink); });
  REQUIRE(WaitFor([&] { return driver->opens() == 1; }));
  pty->Write("a=1\n");
  REQUIRE(WaitFor([&] { return sink.count() == 1; }));
  std::filesystem::remove(link);  // the adapter is unplugged: its link goes away
  pty.reset();                    // and the slave hangs up
  // The driver notices and keeps retrying (each failed attempt counts as an error).
  REQUIRE(WaitFor([&] { return driver->stats().errors.load() >= 3; }));
  CHECK(driver->opens() == 1);
  const auto t0 = std::chrono::steady_clock::now();
  t.request_stop();
  t.join();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
}

TEST_CASE("serial driver: a missing device at start is retried until a stop, which is prompt") {
  auto driver = MakeDriver(KvSettings("/nonexistent/ttyUSB9"), &SystemClock::Instance());
  CollectSink sink;
  std::jthread t([&](std::stop_token st) { driver->Run(st, sink); });
  REQUIRE(WaitFor([&] { return driver->stats().errors.load() >= 2; }));
  const auto t0 = std::chrono::steady_clock::now();
  t.request_stop();
  t.join();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
  CHECK(driver->opens() == 0);
}

TEST_CASE("serial config: defaults, and every cross-key problem reported") {
  auto ok = Load("[drivers.sensor]\ntype = \"serial\"\ndevice = \"/dev/ttyUSB0\"\n");
  REQUIRE_MESSAGE(ok.errors.empty(), ok.errors.ToString());
  SerialSettings s = SettingsFromSection(*ok.section);
  CHECK(s.port.baud_rate == 9600);
  CHECK(s.port.parity == 'N');
  CHECK(s.terminator == "\n");
  CHECK(s.parser.kind == "kv");

  auto bad = Load(R"([drivers.sensor]
type = "serial"
device = "/dev/ttyUSB0"
baud_rate = 12345
parser = "regex"
pattern = "(unclosed"
columns = ["a"]
retry_initial_ms = 5000
retry_max_ms = 1000
)");
  const std::string e = bad.errors.ToString();
  CHECK(e.find("baud_rate: 12345 is not a standard rate") != std::string::npos);
  CHECK(e.find("columns: is only used by parser = \"csv\"") != std::string::npos);
  CHECK(e.find("retry_initial_ms: must not exceed retry_max_ms") != std::string::npos);

  auto regex = Load(R"([drivers.sensor]
type = "serial"
device = "/dev/ttyUSB0"
parser = "regex"
pattern = "(unclosed"
)");
  CHECK(regex.errors.ToString().find("pattern: pattern does not compile") != std::string::npos);
}

}  // namespace pn::serial
