// The `serial` driver: ASCII sensors on RS-232 / RS-485 / USB-serial lines (termios).
//
// Configured by [drivers.NAME] with type = "serial" (see drivers/serial/README.md). One driver
// owns one line: it opens the port, frames the byte stream into lines at `terminator`, optionally
// sends `poll_command` every `poll_interval_ms` (request-response sensors), parses each line with
// the configured parser (regex, csv, kv, nmea; see line_parsers.h) and delivers one Reading per
// field, stamped with the clock's time when the line arrived. Bad lines are counted
// (DriverStats::errors) and logged rate-limited, never fatal. When the line goes away (read
// error, hang-up, EOF: an unplugged USB adapter) or cannot be opened, the driver retries the
// open with exponential backoff (retry_initial_ms doubling up to retry_max_ms, equal jitter) until
// it is back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "drivers/driver.h"
#include "drivers/serial/line_parsers.h"
#include "drivers/serial/serial_port.h"

namespace pn::serial {

// The registry entry: type "serial", its spec, check and factory.
DriverType DriverTypeEntry();

// The keys of [drivers.NAME] for type "serial" (`type` and `enabled` excluded).
const config::TableSpec& Spec();

// Cross-key checks: the parser's own keys present (and no other parser's), the regex compiles,
// column names unique, separators one character, retry_initial_ms <= retry_max_ms.
// REQUIRES: `section` passed config::Validate against Spec().
void Check(const config::Section& section, config::ErrorList& errors);

struct SerialSettings {
  PortSettings port;
  std::string device_name;  // the `device` of readings; empty: the driver instance name
  std::string terminator = "\n";
  std::size_t max_line_bytes = 1024;
  std::string poll_command;  // empty: the sensor talks on its own
  std::int64_t poll_interval_ms = 1000;
  ParserOptions parser;
  std::int64_t retry_initial_ms = 500;  // connect::Backoff
  std::int64_t retry_max_ms = 30000;
  std::int64_t log_interval_ms = 10000;  // bad-line log rate limit
};

// Reads validated settings. REQUIRES: `section` passed Validate against Spec() and Check().
SerialSettings SettingsFromSection(const config::Section& section);

// Thread-safety: Run() is called once, on one thread; stats() and name() are safe from any thread.
class SerialDriver final : public Driver {
 public:
  // REQUIRES: `parser` built from settings.parser.
  SerialDriver(std::string name, SerialSettings settings, std::unique_ptr<LineParser> parser,
               Clock* clock);

  // Builds the parser; fails only when the settings did not pass Check().
  static Result<std::unique_ptr<SerialDriver>> Create(std::string name, SerialSettings settings,
                                                      Clock* clock);

  const std::string& name() const override { return name_; }

  // Reads, parses and delivers until a stop is requested or the sink refuses (shutdown).
  // Returns within ~100 ms of a stop request (reads and backoff waits are sliced).
  void Run(std::stop_token stop, ReadingSink& sink) override;

  const DriverStats& stats() const override { return stats_; }

  // Times the port was (re)opened successfully; for tests and metrics.
  std::uint64_t opens() const { return opens_.load(std::memory_order_relaxed); }

 private:
  std::string name_;
  SerialSettings settings_;
  std::unique_ptr<LineParser> parser_;
  Clock* clock_;
  DriverStats stats_;
  std::atomic<std::uint64_t> opens_{0};
};

}  // namespace pn::serial
