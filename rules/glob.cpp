#include "rules/glob.h"

#include <fnmatch.h>

namespace pn::rules {

std::string CheckGlob(std::string_view pattern) {
  std::string quoted(1, '"');  // (not "\"" + ...: GCC 12 -O3 -Wrestrict false positive)
  quoted.append(pattern);
  quoted += '"';
  if (pattern.empty()) return "empty glob";
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      if (i + 1 == pattern.size()) return "trailing '\\' in glob " + quoted;
      ++i;
    } else if (c == '[') {
      std::size_t j = i + 1;
      if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;  // a leading ']' is literal
      while (j < pattern.size() && pattern[j] != ']') ++j;
      if (j >= pattern.size()) return "unterminated '[' in glob " + quoted;
      i = j;
    }
  }
  return {};
}

bool IsGlob(std::string_view pattern) {
  return pattern.find_first_of("*?[\\") != std::string_view::npos;
}

bool GlobMatch(const std::string& pattern, const std::string& text) {
  if (pattern == "*") return true;
  return fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

}  // namespace pn::rules
