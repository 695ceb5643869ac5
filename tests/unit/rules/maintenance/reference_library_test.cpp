#include "rules/maintenance/reference_library.h"

#include <doctest/doctest.h>

#include "synthetic.h"

namespace pn::rules {
namespace {

ReferenceLibraryOptions Options() {
  ReferenceLibraryOptions o;
  o.columns = {"s1", "s2"};
  return o;
}

TEST_CASE("reference library: loads units, times and the asked-for columns in order") {
  const std::string path =
      testing::WriteFile("pn_lib_ok.csv", "unit,cycle,s2,s1\n1,1,20,10\n1,2,21,11\n2,1,30,40\n");
  config::ErrorList errors;
  auto lib = LoadReferenceLibrary(path, Options(), errors);
  REQUIRE(lib.has_value());
  CHECK(errors.empty());
  REQUIRE(lib->units.size() == 2);
  CHECK(lib->units[0].unit == "1");
  CHECK(lib->units[0].time == std::vector<double>{1, 2});
  CHECK(lib->units[0].values == std::vector<double>{10, 20, 11, 21});
  CHECK(lib->units[1].values == std::vector<double>{40, 30});
  CHECK(lib->rows() == 3);
}

TEST_CASE("reference library: detects whitespace and semicolon separators") {
  config::ErrorList errors;
  auto ws = LoadReferenceLibrary(
      testing::WriteFile("pn_lib_ws.txt", "unit cycle s1 s2\n1 1 10 20\n1 2  11\t21\n"), Options(),
      errors);
  auto semi = LoadReferenceLibrary(
      testing::WriteFile("pn_lib_semi.csv", "unit;cycle;s1;s2\n1;1;10;20\n"), Options(), errors);
  CHECK(errors.empty());
  REQUIRE(ws.has_value());
  REQUIRE(semi.has_value());
  CHECK(ws->units[0].values == std::vector<double>{10, 20, 11, 21});
  CHECK(semi->units[0].values == std::vector<double>{10, 20});
}

TEST_CASE("reference library: bad values are reported as file:line:col, every one") {
  const std::string path = testing::WriteFile(
      "pn_lib_bad.csv", "unit,cycle,s1,s2\n1,1,10,20\n1,2,x,21\n1,3,12\n1,1,13,23\n");
  config::ErrorList errors;
  auto lib = LoadReferenceLibrary(path, Options(), errors);
  CHECK_FALSE(lib.has_value());
  const std::string text = errors.ToString();
  CHECK(text.find(path + ":3:5: column 's1': 'x' is not a finite number") != std::string::npos);
  CHECK(text.find(path + ":4:1: expected 4 fields, found 3") != std::string::npos);
  CHECK(text.find(path + ":5:3: time of unit '1' does not increase") != std::string::npos);
  CHECK(errors.size() == 3);
}

TEST_CASE("reference library: a missing column and non-contiguous units are reported") {
  config::ErrorList errors;
  auto missing = LoadReferenceLibrary(
      testing::WriteFile("pn_lib_missing.csv", "unit,cycle,s1\n1,1,10\n"), Options(), errors);
  CHECK_FALSE(missing.has_value());
  CHECK(errors.ToString().find(
            ":1:1: reference library has no column 's2' (its columns: unit, cycle, s1)") !=
        std::string::npos);
  config::ErrorList errors3;
  ReferenceLibraryOptions three = Options();
  three.columns.push_back("s3");
  CHECK_FALSE(LoadReferenceLibrary(testing::WriteFile("pn_lib_missing.csv", "unit,cycle,s1\n"),
                                   three, errors3)
                  .has_value());
  REQUIRE(errors3.size() == 1);  // one error naming every missing column
  CHECK(errors3.ToString().find("has no columns 's2', 's3'") != std::string::npos);
  config::ErrorList errors2;
  auto split = LoadReferenceLibrary(
      testing::WriteFile("pn_lib_split.csv", "unit,cycle,s1,s2\n1,1,1,1\n2,1,1,1\n1,2,1,1\n"),
      Options(), errors2);
  CHECK_FALSE(split.has_value());
  CHECK(errors2.ToString().find(":4:1: rows of unit '1' are not contiguous") != std::string::npos);
}

TEST_CASE("reference library: reports at most 20 problems per file") {
  std::string text = "unit,cycle,s1,s2\n";
  for (int i = 1; i <= 50; ++i) text += "1," + std::to_string(i) + ",bad,1\n";
  config::ErrorList errors;
  CHECK_FALSE(LoadReferenceLibrary(testing::WriteFile("pn_lib_many.csv", text), Options(), errors)
                  .has_value());
  CHECK(errors.size() == 20);
}

TEST_CASE("reference library: an unreadable file is one error") {
  config::ErrorList errors;
  auto lib = LoadReferenceLibrary("/nonexistent/pn_lib.csv", Options(), errors);
  CHECK_FALSE(lib.has_value());
  REQUIRE(errors.size() == 1);
  CHECK(errors.ToString().find("/nonexistent/pn_lib.csv:0:0: cannot read") != std::string::npos);
}

TEST_CASE("reference library: relative paths resolve against the rule file's folder") {
  CHECK(ResolvePath("config/eval", "lib.csv") == "config/eval/lib.csv");
  CHECK(ResolvePath("config/eval/", "lib.csv") == "config/eval/lib.csv");
  CHECK(ResolvePath("config/eval", "/abs/lib.csv") == "/abs/lib.csv");
  CHECK(ResolvePath("", "lib.csv") == "lib.csv");
}

}  // namespace
}  // namespace pn::rules
