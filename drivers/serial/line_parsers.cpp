#include "drivers/serial/line_parsers.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <set>

namespace pn::serial {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

Status Bad(std::string message) { return Status::InvalidArgument(std::move(message)); }

// Built by append, not operator+: GCC 12 -O3 warns falsely (-Wrestrict) on "\"" + s + "\"".
std::string Quote(std::string_view s) {
  std::string q;
  q.reserve(s.size() + 2);
  q += '"';
  q.append(s);
  q += '"';
  return q;
}

bool Skipped(const std::string& name) { return name.empty() || name == "_"; }

// ---- regex (PCRE2) ----

struct CodeDeleter {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};
struct MatchContextDeleter {
  void operator()(pcre2_match_context* m) const { pcre2_match_context_free(m); }
};

class RegexParser final : public LineParser {
 public:
  RegexParser(std::unique_ptr<pcre2_code, CodeDeleter> code,
              std::vector<std::pair<std::uint32_t, std::string>> groups)
      : code_(std::move(code)), groups_(std::move(groups)) {
    match_.reset(pcre2_match_data_create_from_pattern(code_.get(), nullptr));
    context_.reset(pcre2_match_context_create(nullptr));
    // Bounds backtracking on hostile lines: a pathological pattern fails the line, not the thread.
    pcre2_set_match_limit(context_.get(), 100000);
    pcre2_set_depth_limit(context_.get(), 1000);
  }

  Status Parse(std::string_view line, std::vector<Field>& out) const override {
    const int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(line.data()), line.size(),
                               0, 0, match_.get(), context_.get());
    if (rc == PCRE2_ERROR_NOMATCH) return Bad("no match");
    if (rc < 0) return Bad("regex match failed (error " + std::to_string(rc) + ")");
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match_.get());
    const std::size_t start = out.size();
    for (const auto& [group, series] : groups_) {
      if (static_cast<int>(group) >= rc) continue;  // did not take part
      const PCRE2_SIZE b = ov[2 * group];
      const PCRE2_SIZE e = ov[2 * group + 1];
      if (b == PCRE2_UNSET || e < b) continue;
      auto v = ParseNumber(line.substr(b, e - b));
      if (!v) {
        out.resize(start);
        return Bad("group " + Quote(series) + ": not a number");
      }
      out.push_back(Field{series, *v, {}});
    }
    if (out.size() == start) return Bad("no group matched");
    return Status::Ok();
  }

 private:
  std::unique_ptr<pcre2_code, CodeDeleter> code_;
  std::vector<std::pair<std::uint32_t, std::string>> groups_;  // group number -> series
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> match_;
  std::unique_ptr<pcre2_match_context, MatchContextDeleter> context_;
};

// ---- csv ----

class CsvParser final : public LineParser {
 public:
  CsvParser(std::vector<std::string> columns, char separator)
      : columns_(std::move(columns)), separator_(separator) {}

  Status Parse(std::string_view line, std::vector<Field>& out) const override {
    const std::size_t start = out.size();
    std::size_t col = 0;
    std::size_t pos = 0;
    while (true) {
      const std::size_t end = line.find(separator_, pos);
      const std::string_view cell =
          Trim(line.substr(pos, end == std::string_view::npos ? line.size() - pos : end - pos));
      if (col >= columns_.size()) {
        out.resize(start);
        return Bad("more than " + std::to_string(columns_.size()) + " columns");
      }
      const std::string& name = columns_[col];
      if (!Skipped(name) && !cell.empty()) {
        auto v = ParseNumber(cell);
        if (!v) {
          out.resize(start);
          return Bad("column " + Quote(name) + ": not a number");
        }
        out.push_back(Field{name, *v, {}});
      }
      ++col;
      if (end == std::string_view::npos) break;
      pos = end + 1;
    }
    if (col != columns_.size()) {
      out.resize(start);
      return Bad(std::to_string(col) + " columns, expected " + std::to_string(columns_.size()));
    }
    if (out.size() == start) return Bad("no value");
    return Status::Ok();
  }

 private:
  std::vector<std::string> columns_;
  char separator_;
};

// ---- key=value ----

bool IsPairSeparator(char c) { return c == ' ' || c == '\t' || c == ',' || c == ';'; }

class KeyValueParser final : public LineParser {
 public:
  KeyValueParser(std::vector<std::string> keys, char kv_separator)
      : keys_(std::move(keys)), sep_(kv_separator) {}

  Status Parse(std::string_view line, std::vector<Field>& out) const override {
    const std::size_t start = out.size();
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (IsPairSeparator(line[i]) || IsSpace(line[i]))) ++i;
      if (i >= line.size()) break;
      std::size_t j = i;
      while (j < line.size() && !IsPairSeparator(line[j]) && line[j] != '\r') ++j;
      const std::string_view token = line.substr(i, j - i);
      i = j;
      const std::size_t eq = token.find(sep_);
      if (eq == std::string_view::npos || eq == 0) {
        out.resize(start);
        return Bad("a token is not key" + std::string(1, sep_) + "value");
      }
      const std::string_view key = token.substr(0, eq);
      const std::string_view text = token.substr(eq + 1);
      const bool wanted =
          keys_.empty() || std::find(keys_.begin(), keys_.end(), key) != keys_.end();
      if (!wanted) continue;
      auto v = ParseNumber(text);
      if (!v) {
        if (keys_.empty()) continue;  // reading everything: skip text values like status=OK
        out.resize(start);
        return Bad("key " + Quote(key) + ": not a number");
      }
      out.push_back(Field{std::string(key), *v, {}});
    }
    if (out.size() == start) return Bad("no numeric key=value pair");
    return Status::Ok();
  }

 private:
  std::vector<std::string> keys_;
  char sep_;
};

// ---- NMEA 0183 ----

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "4807.038" + "N" -> 48.1173; nullopt when malformed.
std::optional<double> Coordinate(std::string_view v, std::string_view hemi) {
  auto n = ParseNumber(v);
  if (!n || *n < 0) return std::nullopt;
  const double deg = std::floor(*n / 100.0);
  const double min = *n - deg * 100.0;
  if (min >= 60.0) return std::nullopt;
  double d = deg + min / 60.0;
  if (hemi == "S" || hemi == "W") {
    d = -d;
  } else if (hemi != "N" && hemi != "E") {
    return std::nullopt;
  }
  return d;
}

class NmeaParser final : public LineParser {
 public:
  explicit NmeaParser(bool require_checksum) : require_checksum_(require_checksum) {}

  Status Parse(std::string_view line, std::vector<Field>& out) const override {
    line = Trim(line);
    if (line.empty() || (line[0] != '$' && line[0] != '!')) return Bad("not an NMEA sentence");
    std::string_view body = line.substr(1);
    const std::size_t star = body.find('*');
    if (star != std::string_view::npos) {
      const std::string_view cs = body.substr(star + 1);
      body = body.substr(0, star);
      if (cs.size() != 2 || HexDigit(cs[0]) < 0 || HexDigit(cs[1]) < 0) {
        return Bad("malformed checksum");
      }
      const int want = HexDigit(cs[0]) * 16 + HexDigit(cs[1]);
      if (NmeaChecksum(body) != want) return Bad("bad checksum");
    } else if (require_checksum_) {
      return Bad("no checksum");
    }
    for (char c : body) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
        return Bad("non-printable character");
      }
    }
    // Split into fields; f[0] is the address (talker + sentence type).
    std::vector<std::string_view> f;
    std::size_t pos = 0;
    while (true) {
      const std::size_t comma = body.find(',', pos);
      f.push_back(body.substr(pos, comma == std::string_view::npos ? body.npos : comma - pos));
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
    if (f[0].size() < 3) return Bad("short address field");
    const std::string_view type = f[0].substr(f[0].size() - 3);
    const std::size_t start = out.size();
    auto at = [&f](std::size_t i) -> std::string_view { return i < f.size() ? f[i] : ""; };
    // Adds a numeric field when present; an unparseable one is an error.
    bool bad = false;
    auto num = [&](std::size_t i, const char* series, const char* unit, double scale = 1.0) {
      const std::string_view v = at(i);
      if (v.empty()) return;
      auto n = ParseNumber(v);
      if (!n) {
        bad = true;
        return;
      }
      out.push_back(Field{series, *n * scale, unit});
    };
    auto coords = [&](std::size_t i) {
      if (at(i).empty() && at(i + 2).empty()) return;
      auto lat = Coordinate(at(i), at(i + 1));
      auto lon = Coordinate(at(i + 2), at(i + 3));
      if (!lat || !lon) {
        bad = true;
        return;
      }
      out.push_back(Field{"latitude", *lat, "deg"});
      out.push_back(Field{"longitude", *lon, "deg"});
    };
    if (type == "GGA") {
      // time, lat, N/S, lon, E/W, quality, satellites, hdop, altitude, M, ...
      if (at(6) != "0" && !at(6).empty()) coords(2);
      num(6, "fix_quality", "");
      num(7, "satellites", "");
      num(8, "hdop", "");
      if (at(6) != "0" && !at(6).empty()) num(9, "altitude", "m");
    } else if (type == "RMC") {
      // time, status A/V, lat, N/S, lon, E/W, speed kn, course, date, ...
      if (at(2) == "A") {
        coords(3);
        num(7, "speed", "m/s", 1852.0 / 3600.0);
        num(8, "course", "deg");
      } else if (at(2) != "V") {
        bad = true;
      }
    } else if (type == "MTW") {
      num(1, "water_temperature", "degC");
    } else if (type == "MWV") {
      // angle, R/T, speed, unit K/M/N/S, status A/V
      if (at(5) == "A") {
        num(1, "wind_angle", "deg");
        const std::string_view u = at(4);
        const double scale = u == "K"   ? 1000.0 / 3600.0
                             : u == "N" ? 1852.0 / 3600.0
                             : u == "S" ? 1609.344 / 3600.0
                                        : 1.0;
        if (u != "K" && u != "M" && u != "N" && u != "S") {
          bad = true;
        } else {
          num(3, "wind_speed", "m/s", scale);
        }
      }
    } else if (type == "DPT") {
      num(1, "depth", "m");
    } else if (type == "HDT") {
      num(1, "heading", "deg");
    } else if (type == "XDR") {
      // Quadruplets: type, value, unit, name. The series is the name (or the type if unnamed).
      for (std::size_t i = 1; i < f.size() && !bad; i += 4) {
        const std::string_view name = at(i + 3).empty() ? at(i) : at(i + 3);
        if (name.empty() || at(i + 1).empty()) continue;
        auto n = ParseNumber(at(i + 1));
        if (!n) {
          bad = true;
          break;
        }
        out.push_back(Field{std::string(name), *n, std::string(at(i + 2))});
      }
    }
    if (bad) {
      out.resize(start);
      return Bad(std::string(type) + ": malformed field");
    }
    return Status::Ok();
  }

 private:
  bool require_checksum_;
};

}  // namespace

std::optional<double> ParseNumber(std::string_view text) {
  text = Trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  // from_chars would accept "inf", "nan" and (with general format) nothing else odd; rule out
  // anything not starting like a decimal number.
  const char c0 = text.front();
  if (!(c0 == '-' || c0 == '.' || (c0 >= '0' && c0 <= '9'))) return std::nullopt;
  double v = 0.0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

std::uint8_t NmeaChecksum(std::string_view body) {
  std::uint8_t x = 0;
  for (char c : body) x ^= static_cast<std::uint8_t>(c);
  return x;
}

bool RegexJitAvailable() {
  int err = 0;
  PCRE2_SIZE offset = 0;
  std::unique_ptr<pcre2_code, CodeDeleter> code(
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>("a+"), 2, 0, &err, &offset, nullptr));
  return code && pcre2_jit_compile(code.get(), PCRE2_JIT_COMPLETE) == 0;
}

void ReleaseUnusedRegexJitMemory() { pcre2_jit_free_unused_memory(nullptr); }

Result<std::unique_ptr<LineParser>> MakeRegexParser(const std::string& pattern,
                                                    const std::vector<std::string>& series) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  std::unique_ptr<pcre2_code, CodeDeleter> code(pcre2_compile(
      reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0, &err, &offset, nullptr));
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return Err(Bad("pattern does not compile at offset " + std::to_string(offset) + ": " +
                   reinterpret_cast<const char*>(msg)));
  }
  // The JIT is a speed-up only: where executable memory is refused (systemd's
  // MemoryDenyWriteExecute=) pcre2_match runs the interpreter instead. Said once per process.
  if (const int jit = pcre2_jit_compile(code.get(), PCRE2_JIT_COMPLETE); jit != 0) {
    static std::atomic<bool> said{false};
    if (!said.exchange(true)) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(jit, msg, sizeof msg);
      spdlog::info(
          "regex parser: PCRE2 JIT unavailable ({}), using the interpreter (expected "
          "under systemd's MemoryDenyWriteExecute=)",
          reinterpret_cast<const char*>(msg));
    }
  }
  std::uint32_t captures = 0;
  pcre2_pattern_info(code.get(), PCRE2_INFO_CAPTURECOUNT, &captures);
  std::uint32_t name_count = 0;
  std::uint32_t entry_size = 0;
  PCRE2_SPTR table = nullptr;
  pcre2_pattern_info(code.get(), PCRE2_INFO_NAMECOUNT, &name_count);
  pcre2_pattern_info(code.get(), PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
  pcre2_pattern_info(code.get(), PCRE2_INFO_NAMETABLE, &table);
  std::vector<std::string> by_group(captures + 1);
  for (std::uint32_t i = 0; i < name_count; ++i) {
    const PCRE2_SPTR e = table + i * entry_size;
    const std::uint32_t group = (static_cast<std::uint32_t>(e[0]) << 8) | e[1];
    by_group[group] = reinterpret_cast<const char*>(e + 2);
  }
  if (series.size() > captures) {
    return Err(Bad("series names " + std::to_string(series.size()) +
                   " groups but the pattern has " + std::to_string(captures)));
  }
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (Skipped(series[i])) continue;
    if (!by_group[i + 1].empty() && by_group[i + 1] != series[i]) {
      return Err(Bad("group " + std::to_string(i + 1) + " is named " + Quote(by_group[i + 1]) +
                     " but series names it " + Quote(series[i])));
    }
    by_group[i + 1] = series[i];
  }
  std::vector<std::pair<std::uint32_t, std::string>> groups;
  for (std::uint32_t g = 1; g <= captures; ++g) {
    if (!by_group[g].empty()) groups.emplace_back(g, by_group[g]);
  }
  if (groups.empty()) {
    return Err(Bad("the pattern has no named group and series names none of its groups"));
  }
  return std::make_unique<RegexParser>(std::move(code), std::move(groups));
}

Result<std::unique_ptr<LineParser>> MakeCsvParser(const std::vector<std::string>& columns,
                                                  char separator) {
  std::set<std::string> seen;
  bool any = false;
  for (const auto& c : columns) {
    if (Skipped(c)) continue;
    any = true;
    if (!seen.insert(c).second) return Err(Bad("column " + Quote(c) + " is listed twice"));
  }
  if (!any) return Err(Bad("no named column"));
  if (separator == '\0' || separator == '\n' || separator == '\r') {
    return Err(Bad("invalid separator"));
  }
  return std::make_unique<CsvParser>(columns, separator);
}

Result<std::unique_ptr<LineParser>> MakeKeyValueParser(const std::vector<std::string>& keys,
                                                       char kv_separator) {
  if (IsPairSeparator(kv_separator) || IsSpace(kv_separator) || kv_separator == '\0') {
    return Err(Bad("the key/value separator must not be a space, tab, ',' or ';'"));
  }
  return std::make_unique<KeyValueParser>(keys, kv_separator);
}

std::unique_ptr<LineParser> MakeNmeaParser(bool require_checksum) {
  return std::make_unique<NmeaParser>(require_checksum);
}

Result<std::unique_ptr<LineParser>> MakeParser(const ParserOptions& o) {
  if (o.kind == "regex") return MakeRegexParser(o.pattern, o.series);
  if (o.kind == "csv") return MakeCsvParser(o.columns, o.csv_separator);
  if (o.kind == "kv") return MakeKeyValueParser(o.keys, o.kv_separator);
  if (o.kind == "nmea") return std::unique_ptr<LineParser>(MakeNmeaParser(o.nmea_require_checksum));
  return Err(Bad("unknown parser " + Quote(o.kind)));
}

}  // namespace pn::serial
