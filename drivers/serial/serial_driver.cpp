#include "drivers/serial/serial_driver.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "drivers/deliver.h"
#include "drivers/serial/bad_input_log.h"
#include "drivers/serial/line_framer.h"
#include "gateway/connect/backoff.h"
#include "gateway/connect/sleep.h"

namespace pn::serial {

namespace {

using config::KeySpec;
using config::TableSpec;
using config::ValueType;

constexpr std::int64_t kNsPerMs = 1'000'000;

const TableSpec& BuildSpec() {
  static const TableSpec spec = [] {
    TableSpec t;
    t.description = "An ASCII sensor on a serial line (RS-232, RS-485, USB-serial).";
    auto key = [&t](std::string name, ValueType type, config::DefaultValue def,
                    std::string desc) -> KeySpec& {
      return config::AddKey(t, std::move(name), type, std::move(def), std::move(desc));
    };
    KeySpec& dev = key("device", ValueType::kString, {},
                       "The serial device path. Prefer a stable /dev/serial/by-id/ link for USB "
                       "adapters: the driver reopens the same path after an unplug.");
    dev.required = true;
    dev.example = "\"/dev/ttyUSB0\"";
    key("baud_rate", ValueType::kInt, std::int64_t{9600},
        "The line speed in bit/s, one of the standard rates (1200 .. 4000000).");
    key("parity", ValueType::kString, std::string("none"), "The parity bit.").choices = {
        "none", "even", "odd"};
    KeySpec& db = key("data_bits", ValueType::kInt, std::int64_t{8}, "Data bits per character.");
    db.min = 5;
    db.max = 8;
    KeySpec& sb = key("stop_bits", ValueType::kInt, std::int64_t{1}, "Stop bits per character.");
    sb.min = 1;
    sb.max = 2;
    key("device_name", ValueType::kString, std::string(""),
        "The device the readings belong to; empty means the driver's instance name.");
    key("terminator", ValueType::kString, std::string("\n"),
        "The end of a line. With \"\\n\" a trailing \"\\r\" is removed too, so CRLF and LF "
        "sensors both work.");
    KeySpec& ml = key("max_line_bytes", ValueType::kInt, std::int64_t{1024},
                      "Longer lines are dropped and counted as line noise.");
    ml.min = 16;
    ml.max = 1048576;
    key("poll_command", ValueType::kString, std::string(""),
        "Sent every poll_interval_ms for request-response sensors (TOML escapes such as \"\\r\" "
        "work); empty means the sensor sends on its own.");
    KeySpec& pi = key("poll_interval_ms", ValueType::kInt, std::int64_t{1000},
                      "How often to send poll_command, in milliseconds.");
    pi.min = 10;
    pi.max = 86400000;
    KeySpec& parser = key("parser", ValueType::kString, std::string("kv"),
                          "How to read a line: regex (pattern with named groups), csv "
                          "(columns), kv (key=value pairs) or nmea (NMEA 0183 sentences).");
    parser.choices = {"regex", "csv", "kv", "nmea"};
    KeySpec& pattern = key("pattern", ValueType::kString, {},
                           "parser = \"regex\": a PCRE2 pattern. Named groups "
                           "(?<temperature>...) give the series of their name; unnamed groups "
                           "are named by series. The line is searched; anchor with ^ and $.");
    pattern.example = "'^T=(?<temperature>[-0-9.]+) H=(?<humidity>[0-9.]+)$'";
    key("series", ValueType::kStringList, std::vector<std::string>{},
        "parser = \"regex\": series names of the unnamed groups, in group order (\"\" skips "
        "a group).");
    key("columns", ValueType::kStringList, std::vector<std::string>{},
        "parser = \"csv\": the column names in order; \"\" or \"_\" skips a column.");
    key("csv_separator", ValueType::kString, std::string(","),
        "parser = \"csv\": the one-character cell separator.");
    key("keys", ValueType::kStringList, std::vector<std::string>{},
        "parser = \"kv\": the keys to read; empty means every key with a numeric value.");
    key("kv_separator", ValueType::kString, std::string("="),
        "parser = \"kv\": the one character between a key and its value.");
    key("nmea_require_checksum", ValueType::kBool, true,
        "parser = \"nmea\": reject sentences without a checksum (a present checksum is always "
        "verified).");
    KeySpec& rmin = key("retry_initial_ms", ValueType::kInt, std::int64_t{500},
                        "First wait before reopening a port that failed or went away, in "
                        "milliseconds; doubles on each further failure up to retry_max_ms, "
                        "each wait drawn between half and all of it (equal jitter).");
    rmin.min = 10;
    rmin.max = 3600000;
    rmin.aliases = {"reconnect_min_ms"};
    KeySpec& rmax = key("retry_max_ms", ValueType::kInt, std::int64_t{30000},
                        "Longest wait between two reopen attempts, in milliseconds.");
    rmax.min = 10;
    rmax.max = 3600000;
    rmax.aliases = {"reconnect_max_ms"};
    KeySpec& li = key("log_interval_ms", ValueType::kInt, std::int64_t{10000},
                      "Bad lines are logged at most once per this interval, with a count.");
    li.min = 0;
    li.max = 3600000;
    return t;
  }();
  return spec;
}

char ParityCode(const std::string& p) { return p == "even" ? 'E' : p == "odd" ? 'O' : 'N'; }

ParserOptions ParserFromSection(const config::Section& s) {
  ParserOptions o;
  o.kind = s.GetString("parser");
  o.pattern = s.Has("pattern") ? s.GetString("pattern") : "";
  o.series = s.GetStringList("series");
  o.columns = s.GetStringList("columns");
  const std::string cs = s.GetString("csv_separator");
  o.csv_separator = cs.size() == 1 ? cs[0] : ',';
  o.keys = s.GetStringList("keys");
  const std::string kvs = s.GetString("kv_separator");
  o.kv_separator = kvs.size() == 1 ? kvs[0] : '=';
  o.nmea_require_checksum = s.GetBool("nmea_require_checksum");
  return o;
}

}  // namespace

const config::TableSpec& Spec() { return BuildSpec(); }

void Check(const config::Section& s, config::ErrorList& errors) {
  if (s.GetString("device").empty()) s.AddError(errors, "device", "must not be empty");
  if (!IsSupportedBaudRate(static_cast<int>(s.GetInt("baud_rate")))) {
    s.AddError(errors, "baud_rate",
               std::to_string(s.GetInt("baud_rate")) +
                   " is not a standard rate (1200, 2400, 4800, 9600, 19200, 38400, 57600, "
                   "115200, ...)");
  }
  if (s.GetString("terminator").empty()) s.AddError(errors, "terminator", "must not be empty");
  if (s.GetInt("retry_initial_ms") > s.GetInt("retry_max_ms")) {
    s.AddError(errors, "retry_initial_ms", "must not exceed retry_max_ms");
  }
  const std::string parser = s.GetString("parser");
  // Keys that belong to one parser only.
  struct Owned {
    const char* key;
    const char* parser;
  };
  static constexpr Owned kOwned[] = {{"pattern", "regex"},
                                     {"series", "regex"},
                                     {"columns", "csv"},
                                     {"csv_separator", "csv"},
                                     {"keys", "kv"},
                                     {"kv_separator", "kv"},
                                     {"nmea_require_checksum", "nmea"}};
  for (const auto& o : kOwned) {
    if (s.Has(o.key) && parser != o.parser) {
      s.AddError(errors, o.key,
                 std::string("is only used by parser = \"") + o.parser + "\" (parser is \"" +
                     parser + "\")");
    }
  }
  for (const char* k : {"csv_separator", "kv_separator"}) {
    if (s.Has(k) && s.GetString(k).size() != 1) s.AddError(errors, k, "must be one character");
  }
  if (parser == "regex" && !s.Has("pattern")) {
    s.AddError(errors, "parser", "parser = \"regex\" needs a pattern");
    return;
  }
  if (parser == "csv" && !s.Has("columns")) {
    s.AddError(errors, "parser", "parser = \"csv\" needs columns");
    return;
  }
  if (!errors.empty()) return;
  auto built = MakeParser(ParserFromSection(s));
  if (!built) {
    const char* key = parser == "regex" ? "pattern" : parser == "csv" ? "columns" : "keys";
    s.AddError(errors, s.Has(key) ? key : "parser", built.error().message());
  }
}

SerialSettings SettingsFromSection(const config::Section& s) {
  SerialSettings o;
  o.port.device = s.GetString("device");
  o.port.baud_rate = static_cast<int>(s.GetInt("baud_rate"));
  o.port.parity = ParityCode(s.GetString("parity"));
  o.port.data_bits = static_cast<int>(s.GetInt("data_bits"));
  o.port.stop_bits = static_cast<int>(s.GetInt("stop_bits"));
  o.device_name = s.GetString("device_name");
  o.terminator = s.GetString("terminator");
  o.max_line_bytes = static_cast<std::size_t>(s.GetInt("max_line_bytes"));
  o.poll_command = s.GetString("poll_command");
  o.poll_interval_ms = s.GetInt("poll_interval_ms");
  o.parser = ParserFromSection(s);
  o.retry_initial_ms = s.GetInt("retry_initial_ms");
  o.retry_max_ms = s.GetInt("retry_max_ms");
  o.log_interval_ms = s.GetInt("log_interval_ms");
  return o;
}

SerialDriver::SerialDriver(std::string name, SerialSettings settings,
                           std::unique_ptr<LineParser> parser, Clock* clock)
    : name_(std::move(name)),
      settings_(std::move(settings)),
      parser_(std::move(parser)),
      clock_(clock) {
  if (settings_.device_name.empty()) settings_.device_name = name_;
}

Result<std::unique_ptr<SerialDriver>> SerialDriver::Create(std::string name,
                                                           SerialSettings settings, Clock* clock) {
  auto parser = MakeParser(settings.parser);
  if (!parser) return Err(Status::Config(parser.error().message()));
  return std::make_unique<SerialDriver>(std::move(name), std::move(settings), std::move(*parser),
                                        clock);
}

void SerialDriver::Run(std::stop_token stop, ReadingSink& sink) {
  const std::string& path = settings_.port.device;
  LineFramer framer(settings_.terminator, settings_.max_line_bytes);
  BadInputLog bad(name_, "bad line", clock_, settings_.log_interval_ms * kNsPerMs);
  std::vector<Field> fields;
  std::vector<Reading> batch;
  std::vector<char> buf(4096);
  connect::Backoff backoff(
      {.initial_ms = settings_.retry_initial_ms, .max_ms = settings_.retry_max_ms},
      connect::SeedFromName(name_.c_str()));
  std::string last_open_error;
  bool sink_open = true;
  // A sensor that is already sending when the port opens gives a first line that starts in the
  // middle: if that one does not parse, it is dropped quietly instead of warned about on every
  // start. Every later bad line counts.
  bool first_line = true;

  auto on_line = [&](std::string_view line) {
    fields.clear();
    Status st = parser_->Parse(line, fields);
    const bool was_first = std::exchange(first_line, false);
    if (!st.ok()) {
      if (was_first) {
        spdlog::debug("driver {}: dropped the first line after opening {} ({}): joined mid-line",
                      name_, path, st.message());
        return;
      }
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      bad.Record(st.message(), line);
      return;
    }
    const std::int64_t now = clock_->NowNs();
    for (auto& f : fields) {
      Reading& r = batch.emplace_back();
      r.device = settings_.device_name;
      r.series = std::move(f.series);
      r.value = f.value;
      r.unit = std::move(f.unit);
      r.quality = Quality::kGood;
      r.ts_ns = now;
    }
  };

  while (!stop.stop_requested() && sink_open) {
    stats_.heartbeat_ns.store(clock_->MonotonicNs(), std::memory_order_relaxed);
    auto opened = SerialPort::Open(settings_.port);
    if (!opened) {
      // Log a new kind of failure at warn, repeats at debug: an unplugged adapter stays quiet.
      if (opened.error().message() != last_open_error) {
        spdlog::warn("driver {}: cannot open {}: {}; retrying with backoff up to {} ms", name_,
                     path, opened.error().message(), settings_.retry_max_ms);
        last_open_error = opened.error().message();
      } else {
        spdlog::debug("driver {}: cannot open {}: {}", name_, path, opened.error().message());
      }
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      if (!connect::SleepFor(stop, std::chrono::milliseconds(backoff.NextMs()))) return;
      continue;
    }
    SerialPort port = std::move(*opened);
    opens_.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("driver {}: opened {} at {} baud, {}{}{}, parser {}", name_, path,
                 settings_.port.baud_rate, settings_.port.data_bits, settings_.port.parity,
                 settings_.port.stop_bits, settings_.parser.kind);
    last_open_error.clear();
    framer.Reset();
    first_line = true;
    const bool polling = !settings_.poll_command.empty();
    std::int64_t next_poll = clock_->MonotonicNs();
    const std::int64_t poll_interval = settings_.poll_interval_ms * kNsPerMs;
    bool healthy = true;
    while (!stop.stop_requested() && healthy) {
      int timeout_ms = 100;
      if (polling) {
        const std::int64_t now = clock_->MonotonicNs();
        if (now >= next_poll) {
          Status w = port.Write(settings_.poll_command, 1000);
          if (!w.ok()) {
            spdlog::warn("driver {}: writing the poll command to {} failed: {}; reopening", name_,
                         path, w.message());
            healthy = false;
            break;
          }
          next_poll += poll_interval;
          if (next_poll < now) next_poll = now + poll_interval;  // fell behind: no burst
        }
        const std::int64_t until_ms = (next_poll - clock_->MonotonicNs()) / kNsPerMs;
        timeout_ms = static_cast<int>(std::clamp<std::int64_t>(until_ms, 0, 100));
      }
      auto got = port.Read(buf.data(), buf.size(), timeout_ms);
      stats_.heartbeat_ns.store(clock_->MonotonicNs(), std::memory_order_relaxed);
      if (!got) {
        spdlog::warn("driver {}: {} went away ({}); reopening", name_, path, got.error().message());
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
        healthy = false;
        break;
      }
      if (*got == 0) continue;
      const std::uint64_t overflows = framer.overflows();
      framer.Feed(std::string_view(buf.data(), *got), on_line);
      if (framer.overflows() != overflows) {
        stats_.errors.fetch_add(framer.overflows() - overflows, std::memory_order_relaxed);
        bad.Record("line longer than max_line_bytes (noise or wrong terminator)",
                   std::string_view(buf.data(), *got));
      }
      if (!batch.empty()) {
        if (!DeliverBatch(sink, batch, stats_, *clock_)) {
          sink_open = false;
          break;
        }
        backoff.Reset();  // the line works: the next failure starts small
      }
    }
    port.Close();
    if (!healthy && !stop.stop_requested() && sink_open) {
      if (!connect::SleepFor(stop, std::chrono::milliseconds(backoff.NextMs()))) return;
    }
  }
}

DriverType DriverTypeEntry() {
  DriverType t;
  t.type = "serial";
  t.summary = "ASCII sensors on a serial line: regex, csv, key=value or NMEA 0183 lines";
  t.spec = &Spec();
  t.check = [](const config::Section& s, config::ErrorList& e) { Check(s, e); };
  t.create = [](const config::Section& s,
                const DriverContext& ctx) -> Result<std::unique_ptr<Driver>> {
    auto d = SerialDriver::Create(ctx.name, SettingsFromSection(s), ctx.clock);
    if (!d) return Err(d.error());
    return std::unique_ptr<Driver>(std::move(*d));
  };
  return t;
}

}  // namespace pn::serial
