// Runs a driver's Telegraf-style testcases: every folder drivers/<driver>/testcases/<case>/
// holds a config and expected.txt (readings) or expected_error.txt (configuration errors).
// A mismatch fails the test and writes the actual output to
// <build>/<driver>_testcases/<case>/actual.txt for review.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/reading.h"

namespace pn::testing {

struct Testcase {
  std::filesystem::path dir;
  bool want_error = false;  // expected_error.txt rather than expected.txt
  std::string expected;
};

// Calls `run` for each case in name order and compares what it returns with the expected file.
// REQUIRES: at least `min_cases` case folders (so a missing folder cannot pass).
inline void RunTestcases(const std::string& driver, std::size_t min_cases,
                         const std::function<std::string(const Testcase&)>& run) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(PN_SOURCE_DIR) / "drivers" / driver / "testcases";
  REQUIRE(fs::is_directory(root));
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory()) cases.push_back(e.path());
  }
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() >= min_cases);
  for (const auto& dir : cases) {
    const std::string name = dir.filename().string();
    INFO("case ", name);
    Testcase tc;
    tc.dir = dir;
    tc.want_error = fs::exists(dir / "expected_error.txt");
    REQUIRE_MESSAGE((tc.want_error || fs::exists(dir / "expected.txt")),
                    "needs expected.txt or expected_error.txt");
    std::ifstream in(dir / (tc.want_error ? "expected_error.txt" : "expected.txt"),
                     std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    tc.expected = ss.str();
    const std::string actual = run(tc);
    if (actual != tc.expected) {
      const fs::path out = fs::path(PN_BINARY_DIR) / (driver + "_testcases") / name;
      fs::create_directories(out);
      std::ofstream(out / "actual.txt", std::ios::binary) << actual;
      FAIL_CHECK("output differs; actual written to ", (out / "actual.txt").string(), "\n", actual);
    }
  }
}

// A reading's value in its kind, as the expected files write it: 21.5000, 40i, true, "text";
// a reading without a value (quality bad) as its double (nan).
inline std::string ValueText(const Reading& r) {
  if (r.quality != Quality::kBad) {
    switch (r.kind) {
      case ValueKind::kInt64:
        return std::to_string(r.integer) + "i";
      case ValueKind::kBoolean:
        return r.value != 0 ? "true" : "false";
      case ValueKind::kString:
        return "\"" + r.text + "\"";
      case ValueKind::kDouble:
        break;
    }
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4f", r.value);
  return buf;
}

}  // namespace pn::testing
