// Replay: feeds a recorded CSV through the rules engine and prints its events as JSON lines.
//
// The contract (../shared/GUIDE.md, "The replay contract the scorers rely on"):
//   processnow replay --rules FILE.toml --csv DATA.csv [--time-column NAME] [--device-column NAME]
// - header row; separator ',' ';' or whitespace, detected from the header;
// - time column (first column unless named): ISO "YYYY-MM-DD HH:MM:SS[.fff]" (optional 'T',
//   optional 'Z' or +HH:MM offset) -> epoch ms UTC, or a plain number kept as is;
// - every other numeric column is a series named by its header; non-numeric cells are skipped
//   (and counted on stderr); a device column splits rows into devices, else the device is the
//   CSV file's stem;
// - reading ts_ns = epoch ms * 1e6 for date-times, number * 1e9 for numeric times;
// - stdout: one JSON object per event, nothing else: ts (epoch ms, or the time number), device,
//   series, rule, kind, and as fits value, score, health, rul, severity.
// - `--report FILE` also writes a self-contained HTML report (report.h); `--labels FILE` (NAB
//   windows JSON) and `--label-column NAME` (0/1 per row) add labelled windows to it.
// - stderr ends with a summary per rule with a detector (samples, flagged, score histogram).
// Exit codes: 0 ok, 78 rule errors, 66 CSV or labels unreadable, 65 malformed CSV or labels,
// 73 report cannot be written, 64 usage.
//
// Thread-safety: RunReplay is reentrant (no globals); each call owns its engine.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/exit_codes.h"

namespace pn::rules {

struct ReplayOptions {
  std::vector<std::string> rules_files;
  std::string csv;
  std::string time_column;    // empty: the first column
  std::string device_column;  // empty: one device named after the file
  std::string report;         // non-empty: write the HTML report (report.h) here
  std::string labels;         // NAB-style windows for the report (labels.h)
  std::string label_column;   // a 0/1 column for the report's windows; not fed as a series
};

// Returns an exit code of core/exit_codes.h.
int RunReplay(const ReplayOptions& options, std::ostream& out, std::ostream& err);

// "2014-04-01 00:05:00" (or with 'T', fraction, 'Z', "+02:00") -> epoch ms UTC.
std::optional<std::int64_t> ParseIsoTimeMs(std::string_view text);

// Parses argv for the flags above into `options`; on a problem returns false and writes the
// problem and the usage to `err`. `args` excludes the program name.
bool ParseReplayArgs(const std::vector<std::string>& args, ReplayOptions& options,
                     std::ostream& err);

}  // namespace pn::rules
