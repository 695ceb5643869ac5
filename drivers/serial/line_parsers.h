// Serial line parsers: pure functions from one framed line of ASCII to named numeric fields.
//
// Every parser is built once from its options (which may fail: a regex that does not compile, a
// column list with duplicates) and then turns a line (terminator already removed) into fields.
// Parse() depends only on the options and the line; it never throws and never keeps state
// between calls beyond scratch memory. Thread-safety: a parser instance is used by one thread at
// a time (the regex parser reuses match scratch); distinct instances are independent.
//
// Parsers:
//   regex  PCRE2 pattern; named groups give series by name, unnamed groups by position through
//          a `series` list. Searches the line (anchor with ^ and $ to match the whole line).
//   csv    separated values with column names; "" or "_" skips a column, an empty cell skips
//          that reading.
//   kv     key=value pairs separated by spaces, tabs, commas or semicolons.
//   nmea   NMEA 0183 sentences with checksum verification; GGA, RMC, MTW, MWV, XDR, DPT and HDT
//          are decoded, other sentences are valid but give no fields.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace pn::serial {

// One value found in a line: the series it belongs to, the value, and the unit when the format
// says it (NMEA), else empty.
struct Field {
  std::string series;
  double value = 0.0;
  std::string unit;
};

class LineParser {
 public:
  virtual ~LineParser() = default;
  // Appends the fields of `line` to `out`. On error appends nothing and returns kInvalidArgument
  // with a short reason (the line itself is not copied into the message). A valid line may give
  // no fields (an NMEA sentence type that is not decoded, an RMC without a fix).
  virtual Status Parse(std::string_view line, std::vector<Field>& out) const = 0;
};

// Parses a decimal number ("21.5", "-3", "+1e3", surrounding spaces allowed). Rejects empty text,
// trailing garbage, hex, inf and nan.
std::optional<double> ParseNumber(std::string_view text);

// regex: `pattern` is PCRE2 syntax. Named groups ((?<temperature>...)) map to the series of their
// name; `series[i]` names unnamed group i+1 (an empty name skips it). A group that did not take
// part in the match gives no field; one that matched text that is not a number is an error.
// REQUIRES nothing; errors (bad pattern, no group to read, too many names) come back as Status.
Result<std::unique_ptr<LineParser>> MakeRegexParser(const std::string& pattern,
                                                    const std::vector<std::string>& series);

// Whether PCRE2 can JIT-compile patterns in this process (probed with a tiny pattern). It cannot
// where writable+executable memory is refused, as under systemd's MemoryDenyWriteExecute=; the
// regex parser then runs on PCRE2's interpreter (bench/parsers: 0.36x of the JIT per line,
// still about 6M lines/s) and logs that once.
bool RegexJitAvailable();
// Unmaps PCRE2's cached JIT memory that no live pattern uses (pcre2_jit_free_unused_memory), so
// that a later JIT compile needs fresh executable memory. For tests and benchmarks.
void ReleaseUnusedRegexJitMemory();

// csv: `columns` names the columns in order ("" or "_" skips one). `separator` is one character.
// A line with a different number of cells than columns is an error.
Result<std::unique_ptr<LineParser>> MakeCsvParser(const std::vector<std::string>& columns,
                                                  char separator);

// kv: pairs "key<kv_separator>value" separated by runs of spaces, tabs, ',' or ';'. When `keys`
// is not empty only those keys are read (others are ignored, a listed key with a non-numeric
// value is an error); otherwise every key with a numeric value is read and others are skipped.
// A line with no field read is an error.
Result<std::unique_ptr<LineParser>> MakeKeyValueParser(const std::vector<std::string>& keys,
                                                       char kv_separator);

// nmea: `require_checksum` rejects sentences without "*hh"; a present checksum is always
// verified. Leading noise before '$' or '!' is an error, not skipped.
std::unique_ptr<LineParser> MakeNmeaParser(bool require_checksum);

// The XOR of the bytes between '$' and '*' of an NMEA sentence, for tests and emulators.
std::uint8_t NmeaChecksum(std::string_view body);

// Builds the parser named `kind` ("regex", "csv", "kv", "nmea") from its options.
struct ParserOptions {
  std::string kind = "kv";
  std::string pattern;               // regex
  std::vector<std::string> series;   // regex: names of unnamed groups
  std::vector<std::string> columns;  // csv
  char csv_separator = ',';
  std::vector<std::string> keys;  // kv
  char kv_separator = '=';
  bool nmea_require_checksum = true;
};
Result<std::unique_ptr<LineParser>> MakeParser(const ParserOptions& options);

}  // namespace pn::serial
