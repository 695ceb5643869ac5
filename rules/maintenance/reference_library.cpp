#include "rules/maintenance/reference_library.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string_view>

namespace pn::rules {

namespace {

constexpr std::size_t kMaxErrors = 20;  // stop reporting after this many problems in one file

struct Field {
  std::string_view text;
  int col;  // 1-based column of the field's first character
};

enum class Separator { kComma, kSemicolon, kWhitespace };

Separator DetectSeparator(std::string_view header) {
  if (header.find(',') != std::string_view::npos) return Separator::kComma;
  if (header.find(';') != std::string_view::npos) return Separator::kSemicolon;
  return Separator::kWhitespace;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '"')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '"')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<Field> Split(std::string_view line, Separator sep) {
  std::vector<Field> out;
  if (sep == Separator::kWhitespace) {
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      if (i >= line.size()) break;
      std::size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
      out.push_back({line.substr(i, j - i), static_cast<int>(i) + 1});
      i = j;
    }
    return out;
  }
  const char c = sep == Separator::kComma ? ',' : ';';
  std::size_t start = 0;
  while (true) {
    std::size_t end = line.find(c, start);
    std::string_view f = line.substr(start, end == std::string_view::npos ? end : end - start);
    out.push_back({Trim(f), static_cast<int>(start) + 1});
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

bool ParseDouble(std::string_view s, double& out) {
  if (s.empty() || s.size() > 64) return false;
  char buf[65];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  char* end = nullptr;
  errno = 0;
  out = std::strtod(buf, &end);
  return end == buf + s.size() && errno != ERANGE && std::isfinite(out);
}

}  // namespace

std::size_t ReferenceLibrary::rows() const {
  std::size_t n = 0;
  for (const auto& u : units) n += u.time.size();
  return n;
}

std::string ResolvePath(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  if (base_dir.back() == '/') return base_dir + path;
  return base_dir + "/" + path;
}

std::optional<ReferenceLibrary> LoadReferenceLibrary(const std::string& path,
                                                     const ReferenceLibraryOptions& options,
                                                     config::ErrorList& errors) {
  const std::size_t errors_before = errors.size();
  auto fail = [&](int line, int col, std::string message) {
    if (errors.size() - errors_before < kMaxErrors) {
      errors.Add(path, config::SourcePos{line, col}, "", std::move(message));
    }
  };
  std::ifstream in(path);
  if (!in) {
    fail(0, 0, std::string("cannot read reference library: ") + std::strerror(errno));
    return std::nullopt;
  }
  std::string line;
  int line_no = 0;
  // Header: the first non-empty line.
  while (std::getline(in, line)) {
    ++line_no;
    if (!Trim(line).empty()) break;
  }
  if (Trim(line).empty()) {
    fail(line_no, 1, "reference library is empty (expected a header row)");
    return std::nullopt;
  }
  const Separator sep = DetectSeparator(line);
  const std::vector<Field> header = Split(line, sep);
  std::vector<std::string> missing;
  auto find_column = [&](const std::string& name) -> int {
    for (std::size_t i = 0; i < header.size(); ++i) {
      if (header[i].text == name) return static_cast<int>(i);
    }
    missing.push_back("'" + name + "'");
    return -1;
  };
  const int unit_col = find_column(options.unit_column);
  const int time_col = find_column(options.time_column);
  std::vector<int> value_cols;
  for (const auto& c : options.columns) value_cols.push_back(find_column(c));
  if (options.columns.empty()) fail(line_no, 1, "no value columns asked for");
  if (!missing.empty()) {
    // One error naming every missing column, and what the header has instead.
    std::string msg = missing.size() == 1 ? "reference library has no column "
                                          : "reference library has no columns ";
    for (std::size_t i = 0; i < missing.size(); ++i) msg += (i ? ", " : "") + missing[i];
    msg += " (its columns:";
    for (std::size_t i = 0; i < header.size() && i < 40; ++i) {
      msg += (i ? ", " : " ") + std::string(header[i].text);
    }
    msg += header.size() > 40 ? ", ...)" : ")";
    fail(line_no, 1, msg);
  }
  if (errors.size() != errors_before) return std::nullopt;

  ReferenceLibrary lib;
  lib.columns = options.columns;
  std::vector<std::string> finished;  // units whose rows have ended
  std::size_t rows = 0;
  std::vector<double> row(value_cols.size());
  while (std::getline(in, line)) {
    ++line_no;
    if (Trim(line).empty()) continue;
    const std::vector<Field> f = Split(line, sep);
    if (f.size() != header.size()) {
      fail(line_no, 1,
           "expected " + std::to_string(header.size()) + " fields, found " +
               std::to_string(f.size()));
      continue;
    }
    if (++rows > options.max_rows) {
      fail(line_no, 1,
           "reference library has more than " + std::to_string(options.max_rows) + " rows");
      break;
    }
    const Field& unit_f = f[static_cast<std::size_t>(unit_col)];
    const Field& time_f = f[static_cast<std::size_t>(time_col)];
    double t = 0.0;
    if (!ParseDouble(time_f.text, t)) {
      fail(line_no, time_f.col, "time '" + std::string(time_f.text) + "' is not a number");
      continue;
    }
    bool ok = true;
    for (std::size_t i = 0; i < value_cols.size(); ++i) {
      const Field& vf = f[static_cast<std::size_t>(value_cols[i])];
      if (!ParseDouble(vf.text, row[i])) {
        fail(line_no, vf.col,
             "column '" + lib.columns[i] + "': '" + std::string(vf.text) +
                 "' is not a finite number");
        ok = false;
      }
    }
    if (!ok) continue;
    const std::string unit(unit_f.text);
    if (lib.units.empty() || lib.units.back().unit != unit) {
      if (std::find(finished.begin(), finished.end(), unit) != finished.end()) {
        fail(line_no, unit_f.col, "rows of unit '" + unit + "' are not contiguous");
        continue;
      }
      if (!lib.units.empty()) finished.push_back(lib.units.back().unit);
      lib.units.push_back(ReferenceTrajectory{unit, {}, {}});
    }
    ReferenceTrajectory& tr = lib.units.back();
    if (!tr.time.empty() && !(t > tr.time.back())) {
      fail(line_no, time_f.col, "time of unit '" + unit + "' does not increase");
      continue;
    }
    tr.time.push_back(t);
    tr.values.insert(tr.values.end(), row.begin(), row.end());
  }
  if (errors.size() == errors_before && lib.units.empty()) {
    fail(line_no, 1, "reference library has no data rows");
  }
  if (errors.size() != errors_before) return std::nullopt;
  return lib;
}

}  // namespace pn::rules
