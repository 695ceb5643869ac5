#include "rules/replay/replay.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <sstream>

#include "core/record.h"
#include "rules/engine.h"
#include "rules/replay/labels.h"
#include "rules/replay/report.h"

namespace pn::rules {
namespace {

constexpr std::string_view kUsage =
    "usage: replay --rules FILE.toml [--rules FILE2.toml ...] --csv DATA.csv "
    "[--time-column NAME] [--device-column NAME] [--report FILE.html] [--labels FILE.json] "
    "[--label-column NAME]\n";

// Hands every detector score to the report.
class ReportScores final : public Engine::ScoreObserver {
 public:
  explicit ReportScores(ReplayReport& report) : report_(report) {}
  void OnScore(const std::string& rule, const std::string& device, const std::string& series,
               std::int64_t ts_ns, double score) override {
    report_.AddScore(rule, device, series, ts_ns, score);
  }

 private:
  ReplayReport& report_;
};

std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// Reads exactly `n` digits at `pos`.
bool Digits(std::string_view s, std::size_t& pos, int n, int& v) {
  if (pos + static_cast<std::size_t>(n) > s.size()) return false;
  v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[pos++];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

bool ParseNumber(std::string_view s, double& v) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

enum class Sep { kComma, kSemicolon, kWhitespace };

void SplitFields(std::string_view line, Sep sep, std::vector<std::string_view>& fields) {
  fields.clear();
  if (sep == Sep::kWhitespace) {
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      if (i >= line.size()) break;
      std::size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
      fields.push_back(Trim(line.substr(i, j - i)));
      i = j;
    }
    return;
  }
  char c = sep == Sep::kComma ? ',' : ';';
  std::size_t start = 0;
  while (true) {
    std::size_t from = start;
    while (from < line.size() && (line[from] == ' ' || line[from] == '\t')) ++from;
    if (from < line.size() && line[from] == '"') {
      // A quoted field may hold the separator; "" is a quote (left doubled in the view).
      std::size_t q = from + 1;
      while (q < line.size()) {
        if (line[q] == '"' && q + 1 < line.size() && line[q + 1] == '"') {
          q += 2;
        } else if (line[q] == '"') {
          break;
        } else {
          ++q;
        }
      }
      from = q;
    }
    std::size_t end = line.find(c, from);
    if (end == std::string_view::npos) {
      fields.push_back(Trim(line.substr(start)));
      return;
    }
    fields.push_back(Trim(line.substr(start, end - start)));
    start = end + 1;
  }
}

bool BlankLine(std::string_view line) {
  for (char ch : line) {
    if (ch != ' ' && ch != '\t' && ch != '\r') return false;
  }
  return true;
}

void AppendEventJson(std::string& buf, std::string_view ts_text, const Event& e) {
  buf += "{\"ts\":";
  buf += ts_text;
  buf += ",\"device\":";
  AppendJsonString(buf, e.device);
  buf += ",\"series\":";
  AppendJsonString(buf, e.series);
  buf += ",\"rule\":";
  AppendJsonString(buf, e.rule);
  buf += ",\"kind\":\"";
  buf += EventKindName(e.kind);
  buf += '"';
  auto num = [&buf](std::string_view key, double v) {
    if (!std::isfinite(v)) return;
    buf += ",\"";
    buf += key;
    buf += "\":";
    AppendJsonNumber(buf, v);
  };
  num("value", e.value);
  num("score", e.score);
  num("health", e.health);
  num("rul", e.rul);
  num("trend", e.trend);
  if (!e.severity.empty()) {
    buf += ",\"severity\":";
    AppendJsonString(buf, e.severity);
  }
  buf += "}\n";
}

}  // namespace

std::optional<std::int64_t> ParseIsoTimeMs(std::string_view s) {
  s = Trim(s);
  std::size_t pos = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!Digits(s, pos, 4, y) || pos >= s.size() || s[pos++] != '-' || !Digits(s, pos, 2, mo) ||
      pos >= s.size() || s[pos++] != '-' || !Digits(s, pos, 2, d)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  std::int64_t frac_ms = 0;
  if (pos < s.size() && (s[pos] == ' ' || s[pos] == 'T')) {
    ++pos;
    if (!Digits(s, pos, 2, h) || pos >= s.size() || s[pos++] != ':' || !Digits(s, pos, 2, mi)) {
      return std::nullopt;
    }
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!Digits(s, pos, 2, sec)) return std::nullopt;
      if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        ++pos;
        int scale = 100;
        std::size_t start = pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          frac_ms += (s[pos] - '0') * scale;
          scale /= 10;
          ++pos;
        }
        if (pos == start) return std::nullopt;
      }
    }
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
  }
  std::int64_t offset_min = 0;
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos++] == '-' ? -1 : 1;
    int oh = 0, om = 0;
    if (!Digits(s, pos, 2, oh)) return std::nullopt;
    if (pos < s.size() && s[pos] == ':') ++pos;
    if (pos < s.size() && !Digits(s, pos, 2, om)) return std::nullopt;
    offset_min = sign * (oh * 60 + om);
  }
  if (pos != s.size()) return std::nullopt;
  std::int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  return secs * 1000 + frac_ms;
}

bool ParseReplayArgs(const std::vector<std::string>& args, ReplayOptions& o, std::ostream& err) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string flag = a, value;
    bool inline_value = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    if (flag == "-h" || flag == "--help") {
      err << kUsage;
      return false;
    }
    if (flag != "--rules" && flag != "--csv" && flag != "--time-column" &&
        flag != "--device-column" && flag != "--report" && flag != "--labels" &&
        flag != "--label-column") {
      err << "replay: unknown argument '" << a << "'\n" << kUsage;
      return false;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        err << "replay: " << flag << " needs a value\n" << kUsage;
        return false;
      }
      value = args[++i];
    }
    if (flag == "--rules") o.rules_files.push_back(value);
    if (flag == "--csv") o.csv = value;
    if (flag == "--time-column") o.time_column = value;
    if (flag == "--device-column") o.device_column = value;
    if (flag == "--report") o.report = value;
    if (flag == "--labels") o.labels = value;
    if (flag == "--label-column") o.label_column = value;
  }
  if (o.rules_files.empty() || o.csv.empty()) {
    err << "replay: --rules and --csv are required\n" << kUsage;
    return false;
  }
  return true;
}

namespace {

// Per rule with a detector, on stderr (stdout carries only events): the counts and the score
// histogram, and a warning when a rule flags more than 5% of what it scored.
void PrintScoreSummaries(const std::vector<RuleScoreSummary>& summaries, std::ostream& err) {
  for (const RuleScoreSummary& s : summaries) {
    err << fmt::format(
        "replay: rule {}: {} samples, {} warming up, {} scored, {} flagged ({:.2f}%) at "
        "min_score {}\n",
        s.rule, s.samples, s.warming_up, s.scored(), s.flagged, s.flagged_percent(), s.min_score);
    std::string line = "replay: rule " + s.rule + ": scores";
    for (std::size_t b = 0; b < s.bins.size(); ++b) {
      if (b < RuleScoreSummary::kEdges.size()) {
        line += fmt::format(" [{},{}) {}", RuleScoreSummary::BinLower(b),
                            RuleScoreSummary::kEdges[b], s.bins[b]);
      } else {
        line += fmt::format(" [1] {}", s.bins[b]);
      }
    }
    err << line << '\n';
    if (s.flags_too_much()) {
      err << fmt::format(
          "replay: rule {}: warning: flags {:.1f}% of the scored samples; raise min_score or "
          "check the detector's keys\n",
          s.rule, s.flagged_percent());
    }
  }
}

}  // namespace

int RunReplay(const ReplayOptions& o, std::ostream& out, std::ostream& err) {
  config::ErrorList errors;
  std::unique_ptr<Engine> engine = Engine::LoadFiles(o.rules_files, errors);
  if (!engine) {
    err << errors.ToString();
    return kExitConfig;
  }

  std::ifstream in(o.csv, std::ios::binary);
  if (!in) {
    err << o.csv << ": cannot read: " << std::strerror(errno) << '\n';
    return kExitNoInput;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    err << o.csv << ": cannot read\n";
    return kExitNoInput;
  }
  std::string_view rest(text);
  if (rest.substr(0, 3) == "\xEF\xBB\xBF") rest.remove_prefix(3);  // UTF-8 BOM

  std::size_t line_no = 0;
  auto next_line = [&rest, &line_no](std::string_view& line) {
    if (rest.empty()) return false;
    std::size_t nl = rest.find('\n');
    line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    return true;
  };

  std::string_view line;
  bool have_header = false;
  while (next_line(line)) {
    if (!BlankLine(line)) {
      have_header = true;
      break;
    }
  }
  if (!have_header) {
    err << o.csv << ": no header row\n";
    return kExitDataErr;
  }
  Sep sep = line.find(';') != std::string_view::npos   ? Sep::kSemicolon
            : line.find(',') != std::string_view::npos ? Sep::kComma
                                                       : Sep::kWhitespace;
  std::vector<std::string_view> header_views;
  SplitFields(line, sep, header_views);
  std::vector<std::string> header(header_views.begin(), header_views.end());
  const std::size_t ncols = header.size();

  auto find_column = [&](const std::string& name, std::size_t& idx) {
    for (std::size_t i = 0; i < ncols; ++i) {
      if (header[i] == name) {
        idx = i;
        return true;
      }
    }
    std::string names;
    for (const auto& h : header) names += (names.empty() ? "" : ", ") + h;
    err << o.csv << ": no column named '" << name << "' (columns: " << names << ")\n";
    return false;
  };
  std::size_t time_col = 0;
  if (!o.time_column.empty() && !find_column(o.time_column, time_col)) return kExitDataErr;
  std::size_t device_col = ncols;
  if (!o.device_column.empty() && !find_column(o.device_column, device_col)) return kExitDataErr;
  std::size_t label_col = ncols;
  if (!o.label_column.empty() && !find_column(o.label_column, label_col)) return kExitDataErr;

  std::unique_ptr<ReplayReport> report;
  std::unique_ptr<ReportScores> report_scores;
  std::vector<LabelWindowText> label_windows;
  if (!o.report.empty()) {
    report = std::make_unique<ReplayReport>(true);
    report_scores = std::make_unique<ReportScores>(*report);
    engine->set_score_observer(report_scores.get());
    if (!o.labels.empty()) {
      auto w = LoadLabelWindows(o.labels, o.csv);
      if (!w) {
        err << w.error().message() << '\n';
        return w.error().code() == Code::kIoError ? kExitNoInput : kExitDataErr;
      }
      label_windows = std::move(*w);
    }
  }
  std::int64_t label_start = -1, label_last = 0;  // the open run of the label column

  std::string stem = std::filesystem::path(o.csv).stem().string();
  if (stem.empty()) stem = "csv";

  // One reusable Reading per series column.
  std::vector<std::size_t> series_cols;
  std::vector<Reading> readings;
  for (std::size_t i = 0; i < ncols; ++i) {
    if (i == time_col || i == device_col || i == label_col) continue;
    series_cols.push_back(i);
    Reading r;
    r.series = header[i];
    r.device = stem;
    readings.push_back(std::move(r));
  }

  enum class TimeKind { kUnknown, kIso, kNumber } time_kind = TimeKind::kUnknown;
  std::vector<std::string_view> fields;
  std::vector<Event> events;
  std::string buf;
  buf.reserve(1 << 16);
  std::string ts_text;
  std::size_t skipped = 0, rows = 0;

  while (next_line(line)) {
    if (BlankLine(line)) continue;
    SplitFields(line, sep, fields);
    if (fields.size() != ncols) {
      err << o.csv << ":" << line_no << ": expected " << ncols << " fields, found " << fields.size()
          << '\n';
      out << buf;
      return kExitDataErr;
    }
    ++rows;
    std::string_view tcell = fields[time_col];
    std::int64_t ts_ns = 0;
    double tnum = 0;
    if (time_kind != TimeKind::kIso && ParseNumber(tcell, tnum) && std::isfinite(tnum)) {
      time_kind = TimeKind::kNumber;
      if (std::fabs(tnum) > 9.2e9) {
        err << o.csv << ":" << line_no << ": time " << tcell
            << " is too large for a numeric time column (at most 9.2e9 units)\n";
        out << buf;
        return kExitDataErr;
      }
      ts_ns = std::llround(tnum * 1e9);
      ts_text.clear();
      AppendJsonNumber(ts_text, tnum);
    } else if (time_kind != TimeKind::kNumber) {
      auto ms = ParseIsoTimeMs(tcell);
      if (!ms) {
        err << o.csv << ":" << line_no << ": cannot parse time '" << tcell
            << "' (expected YYYY-MM-DD HH:MM:SS or a number)\n";
        out << buf;
        return kExitDataErr;
      }
      time_kind = TimeKind::kIso;
      ts_ns = *ms * 1'000'000;
      ts_text = std::to_string(*ms);
    } else {
      err << o.csv << ":" << line_no << ": cannot parse time '" << tcell
          << "' (earlier rows hold numbers)\n";
      out << buf;
      return kExitDataErr;
    }

    if (report && label_col < ncols) {
      double lv = 0;
      const bool on = ParseNumber(fields[label_col], lv) && lv != 0.0;
      if (on && label_start < 0) label_start = ts_ns;
      if (!on && label_start >= 0) {
        report->AddLabel(label_start, label_last);
        label_start = -1;
      }
      if (on) label_last = ts_ns;
    }
    engine->Tick(ts_ns, events);
    for (std::size_t k = 0; k < series_cols.size(); ++k) {
      Reading& r = readings[k];
      double v = 0;
      if (!ParseNumber(fields[series_cols[k]], v)) {
        ++skipped;
        continue;
      }
      if (device_col < ncols) r.device.assign(fields[device_col]);
      r.value = v;
      r.ts_ns = ts_ns;
      r.quality = Quality::kGood;
      if (report) report->AddValue(r.device, r.series, ts_ns, v);
      engine->Process(r, events);
    }
    for (const Event& e : events) {
      AppendEventJson(buf, ts_text, e);
      if (report) report->AddEvent(e);
    }
    events.clear();
    if (buf.size() > (1 << 16) - 1024) {
      out << buf;
      buf.clear();
    }
  }
  out << buf;
  out.flush();
  PrintScoreSummaries(engine->ScoreSummaries(), err);
  if (report) {
    if (label_start >= 0) report->AddLabel(label_start, label_last);
    report->set_iso_time(time_kind != TimeKind::kNumber);
    for (const LabelWindowText& w : label_windows) {
      auto to_ns = [&](const std::string& when) -> std::optional<std::int64_t> {
        double num = 0;
        if (time_kind == TimeKind::kNumber && ParseNumber(when, num)) {
          return std::llround(num * 1e9);
        }
        if (auto ms = ParseIsoTimeMs(when)) return *ms * 1'000'000;
        return std::nullopt;
      };
      const auto a = to_ns(w.start), b = to_ns(w.end);
      if (!a || !b) {
        err << o.labels << ": cannot parse the window [" << w.start << ", " << w.end
            << "] as times of " << o.csv << '\n';
        return kExitDataErr;
      }
      report->AddLabel(*a, *b);
    }
    const std::string html = report->Render(
        "Replay of " + std::filesystem::path(o.csv).filename().string(), engine->ScoreSummaries());
    std::ofstream f(o.report, std::ios::binary | std::ios::trunc);
    f << html;
    f.close();
    if (!f) {
      err << o.report << ": cannot write the report: " << std::strerror(errno) << '\n';
      return kExitCantCreate;
    }
    err << "replay: report written to " << o.report << " (" << html.size() << " bytes)\n";
  }
  if (skipped > 0) {
    err << "replay: " << o.csv << ": " << rows << " rows, " << skipped
        << " non-numeric or empty cells skipped\n";
  }
  return kExitOk;
}

}  // namespace pn::rules
