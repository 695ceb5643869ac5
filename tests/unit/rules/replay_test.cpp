// Replay: CSV in (separators, ISO and numeric time, device column), JSON lines out, exit codes.
#include "rules/replay/replay.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

namespace pn::rules {
namespace {

// This process's scratch folder (ctest -j runs cases at once), removed when the process exits.
const std::filesystem::path& ScratchDir() {
  struct Dir {
    std::filesystem::path path =
        std::filesystem::path(PN_BINARY_DIR) / ("rules_test_replay-" + std::to_string(::getpid()));
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::filesystem::path& dir = ScratchDir();
  std::filesystem::create_directories(dir);
  std::string path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run Replay(const std::string& rules, const std::string& csv_name, const std::string& csv,
           const std::string& time_column = "", const std::string& device_column = "") {
  ReplayOptions o;
  o.rules_files = {WriteFile("rules.toml", rules)};
  o.csv = WriteFile(csv_name, csv);
  o.time_column = time_column;
  o.device_column = device_column;
  std::ostringstream out, err;
  int code = RunReplay(o, out, err);
  return {code, out.str(), err.str()};
}

constexpr const char* kRules = R"(
[[rule]]
name = "hot"
series = ["temp"]
[rule.detector]
type = "threshold"
above = 80.0
[rule.alarm]
raise_after = 2
)";

TEST_CASE("replay: comma CSV with ISO times prints exact JSON lines") {
  Run r = Replay(kRules, "pump.csv",
                 "timestamp,temp,pressure\n"
                 "2014-04-01 00:00:00,70,1.0\n"
                 "2014-04-01 00:05:00,81.5,1.1\n"
                 "2014-04-01T00:10:00.250,90,1.2\n");
  CHECK(r.code == 0);
  // stderr holds only the per-rule summary: 3 samples, 2 flagged, their scores (0 and 1).
  CHECK(r.err ==
        "replay: rule hot: 3 samples, 0 warming up, 3 scored, 2 flagged (66.67%) at min_score "
        "0.5\n"
        "replay: rule hot: scores [0,0.5) 1 [0.5,0.9) 0 [0.9,0.99) 0 [0.99,0.999) 0 "
        "[0.999,1) 0 [1] 2\n");
  CHECK(r.out ==
        "{\"ts\":1396310700000,\"device\":\"pump\",\"series\":\"temp\",\"rule\":\"hot\","
        "\"kind\":\"anomaly\",\"value\":81.5,\"score\":1}\n"
        "{\"ts\":1396311000250,\"device\":\"pump\",\"series\":\"temp\",\"rule\":\"hot\","
        "\"kind\":\"anomaly\",\"value\":90,\"score\":1}\n"
        "{\"ts\":1396311000250,\"device\":\"pump\",\"series\":\"temp\",\"rule\":\"hot\","
        "\"kind\":\"alarm\",\"value\":90,\"score\":1,\"severity\":\"warning\"}\n");
}

TEST_CASE("replay: semicolon CSV with a named time column and a non-numeric cell") {
  Run r = Replay(kRules, "valve.csv",
                 "id;datetime;temp\n"
                 "a;2020-03-09 10:14:33;85\n"
                 "b;2020-03-09 10:14:34;oops\n",
                 "datetime");
  CHECK(r.code == 0);
  CHECK(r.out ==
        "{\"ts\":1583748873000,\"device\":\"valve\",\"series\":\"temp\",\"rule\":\"hot\","
        "\"kind\":\"anomaly\",\"value\":85,\"score\":1}\n");
  // The id column is non-numeric: 2 cells, plus the "oops" cell.
  CHECK(r.err.find("3 non-numeric or empty cells skipped") != std::string::npos);
}

TEST_CASE("replay: quoted cells may hold the separator") {
  Run r = Replay(kRules, "q.csv",
                 "\"time\",\"temp\",\"note, with comma\"\n"
                 "\"2014-04-01 00:00:00\",\"90\",\"a, b\"\n",
                 "", "note, with comma");
  CHECK(r.code == 0);
  CHECK(r.out ==
        "{\"ts\":1396310400000,\"device\":\"a, b\",\"series\":\"temp\",\"rule\":\"hot\","
        "\"kind\":\"anomaly\",\"value\":90,\"score\":1}\n");
}

TEST_CASE("replay: whitespace CSV with numeric time and a device column") {
  Run r = Replay(kRules, "engines.txt",
                 "unit cycle temp\n"
                 "1 1 70\n"
                 "2 1 90\n"
                 "1 2.5 95\n",
                 "cycle", "unit");
  CHECK(r.code == 0);
  CHECK(r.out ==
        "{\"ts\":1,\"device\":\"2\",\"series\":\"temp\",\"rule\":\"hot\","
        "\"kind\":\"anomaly\",\"value\":90,\"score\":1}\n"
        "{\"ts\":2.5,\"device\":\"1\",\"series\":\"temp\",\"rule\":\"hot\","
        "\"kind\":\"anomaly\",\"value\":95,\"score\":1}\n");
}

TEST_CASE("replay: exit codes for rule errors, unreadable and malformed CSV") {
  Run bad_rules = Replay("[[rule]]\nname = 1\n", "x.csv", "t,v\n1,2\n");
  CHECK(bad_rules.code == kExitConfig);
  CHECK(bad_rules.err.find("rules.toml:2:1: rule[0].name: expected a string") != std::string::npos);
  CHECK(bad_rules.out == "");

  ReplayOptions o;
  o.rules_files = {WriteFile("ok.toml", kRules)};
  o.csv = "/nonexistent/data.csv";
  std::ostringstream out, err;
  CHECK(RunReplay(o, out, err) == kExitNoInput);

  CHECK(Replay(kRules, "short.csv", "t,temp\n1,2\n3\n").code == kExitDataErr);
  CHECK(Replay(kRules, "empty.csv", "").code == kExitDataErr);
  CHECK(Replay(kRules, "time.csv", "t,temp\nyesterday,2\n").code == kExitDataErr);
  CHECK(Replay(kRules, "col.csv", "t,temp\n1,2\n", "", "unit").code == kExitDataErr);
}

TEST_CASE("replay: ISO time parsing") {
  CHECK(ParseIsoTimeMs("1970-01-01 00:00:00") == 0);
  CHECK(ParseIsoTimeMs("2014-04-01 00:05:00") == 1396310700000);
  CHECK(ParseIsoTimeMs("2014-04-01T00:05:00.5Z") == 1396310700500);
  CHECK(ParseIsoTimeMs("2014-04-01T02:05:00+02:00") == 1396310700000);
  CHECK(ParseIsoTimeMs("2014-04-01") == 1396310400000);
  CHECK_FALSE(ParseIsoTimeMs("2014-13-01 00:00:00"));
  CHECK_FALSE(ParseIsoTimeMs("12:00"));
}

TEST_CASE("replay: argument parsing") {
  ReplayOptions o;
  std::ostringstream err;
  CHECK(ParseReplayArgs(
      {"--rules", "a.toml", "--csv=d.csv", "--time-column", "cycle", "--device-column", "unit"}, o,
      err));
  CHECK(o.rules_files == std::vector<std::string>{"a.toml"});
  CHECK(o.csv == "d.csv");
  CHECK(o.time_column == "cycle");
  CHECK(o.device_column == "unit");
  ReplayOptions p;
  CHECK_FALSE(ParseReplayArgs({"--csv", "d.csv"}, p, err));
  CHECK_FALSE(ParseReplayArgs({"--rules", "a", "--csv", "d", "--bogus"}, p, err));
}

}  // namespace
}  // namespace pn::rules
