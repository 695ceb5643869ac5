// Glob patterns for selecting devices and series (fnmatch(3) syntax: `*`, `?`, `[...]`).
//
// Thread-safety: the functions are pure and safe for concurrent use.
#pragma once

#include <string>
#include <string_view>

namespace pn::rules {

// Returns an empty string when `pattern` is a usable glob, else what is wrong with it
// (e.g. "unterminated '[' in glob \"pump-[12\"").
std::string CheckGlob(std::string_view pattern);

// True when `pattern` contains a glob metacharacter (`*`, `?`, `[`, `\`).
bool IsGlob(std::string_view pattern);

// fnmatch(3) without flags. REQUIRES: CheckGlob(pattern) is empty.
bool GlobMatch(const std::string& pattern, const std::string& text);

}  // namespace pn::rules
