// Configuration: golden-file tests (testcases/<case>/config.toml -> expected.txt, the exact lines
// `processnow check` prints) and the typed accessors with defaults.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway/config/gateway_config.h"
#include "gateway/config/schema.h"

namespace fs = std::filesystem;
using namespace pn::config;

namespace {

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs Load() on a case's config.toml, with the source dir as working directory so the file
// names in the messages are the stable relative paths a user would see.
std::string Outcome(const std::string& name) {
  REQUIRE(::chdir(PN_SOURCE_DIR) == 0);
  std::string path = "tests/unit/config/testcases/" + name + "/config.toml";
  auto cfg = Load(path);
  if (!cfg) return cfg.error().ToString();
  std::ostringstream os;
  os << cfg->warnings;  // deprecated key names, as `check` prints them before OK
  os << "OK: " << cfg->drivers.size() << " drivers, " << cfg->upstreams.size() << " upstreams\n";
  return os.str();
}

}  // namespace

TEST_CASE("every config testcase produces exactly its expected output") {
  fs::path dir = fs::path(PN_SOURCE_DIR) / "tests/unit/config/testcases";
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_directory()) continue;
    std::string name = entry.path().filename().string();
    fs::path expected = entry.path() / "expected.txt";
    INFO("case: ", name);
    if (std::getenv("PN_UPDATE_GOLDEN") != nullptr) {  // regenerate, then review the diff
      std::ofstream(expected) << Outcome(name);
    }
    REQUIRE_MESSAGE(fs::exists(expected), "missing expected.txt");
    CHECK(Outcome(name) == ReadFile(expected));
    ++cases;
  }
  CHECK(cases >= 7);
}

TEST_CASE("a deprecated key name is read as the new key, with a warning naming both") {
  auto cfg = LoadString(
      "[drivers.line]\ntype = \"serial\"\ndevice = \"/dev/ttyUSB0\"\nreconnect_min_ms = 123\n"
      "reconnect_max_ms = 456\n",
      "gw.toml", "/tmp", false);
  REQUIRE_MESSAGE(cfg.has_value(), cfg.error().ToString());
  const Section& s = cfg->drivers.at(0).settings;
  CHECK(s.Has("retry_initial_ms"));
  CHECK(s.GetInt("retry_initial_ms") == 123);
  CHECK(s.GetInt("retry_max_ms") == 456);
  CHECK(s.PosOf("retry_initial_ms").line == 4);
  CHECK(cfg->warnings ==
        "gw.toml:4:1: drivers.line.reconnect_min_ms: warning: \"reconnect_min_ms\" is "
        "deprecated; use \"retry_initial_ms\" instead (same meaning)\n"
        "gw.toml:5:1: drivers.line.reconnect_max_ms: warning: \"reconnect_max_ms\" is "
        "deprecated; use \"retry_max_ms\" instead (same meaning)\n");

  auto fresh = LoadString(
      "[drivers.line]\ntype = \"serial\"\ndevice = \"/dev/ttyUSB0\"\nretry_initial_ms = 123\n",
      "gw.toml", "/tmp", false);
  REQUIRE(fresh.has_value());
  CHECK(fresh->warnings.empty());
}

TEST_CASE("aliases: the generic rules of a renamed key in the schema layer") {
  TableSpec spec;
  AddKey(spec, "retry_max_ms", ValueType::kInt, std::int64_t{30000}, "Longest wait.").aliases = {
      "reconnect_max_ms", "backoff_max_ms"};
  AddKey(spec, "name", ValueType::kString, {}, "Required.").required = true;
  spec.keys.back().aliases = {"old_name"};
  auto check = [&spec](const std::string& text, std::string* warnings) {
    auto doc = ParseString(text, "t.toml");
    REQUIRE(doc);
    ErrorList errors;
    Validate(doc->root, spec, "x", "t.toml", errors);
    *warnings = errors.WarningsToString();
    return errors.ToString();
  };
  std::string w;
  // The old name of a required key satisfies it; a type error under an old name is reported.
  CHECK(check("old_name = \"a\"\n", &w) == "");
  CHECK(w ==
        "t.toml:1:1: x.old_name: warning: \"old_name\" is deprecated; use \"name\" instead "
        "(same meaning)\n");
  CHECK(check("name = \"a\"\nbackoff_max_ms = \"x\"\n", &w) ==
        "t.toml:2:1: x.backoff_max_ms: expected an integer, found a string\n");
  // Two names of one key: an error, whether new + old or two old ones.
  CHECK(check("name = \"a\"\nretry_max_ms = 1\nreconnect_max_ms = 1\n", &w) ==
        "t.toml:3:1: x.reconnect_max_ms: is the deprecated name of retry_max_ms and retry_max_ms "
        "is set too: keep only retry_max_ms\n");
  CHECK(check("name = \"a\"\nbackoff_max_ms = 1\nreconnect_max_ms = 1\n", &w)
            .find("is the deprecated name of retry_max_ms") != std::string::npos);
  // The reference config names the old keys but writes only the new one.
  const std::string ref = RenderReference(spec, "x");
  CHECK(ref.find("# retry_max_ms = 30000") != std::string::npos);
  CHECK(ref.find("Formerly reconnect_max_ms (still accepted, deprecated).") != std::string::npos);
  CHECK(ref.find("# reconnect_max_ms =") == std::string::npos);
}

TEST_CASE("instance type errors read as the common spec's, a disabled instance skips its check") {
  auto errors = [](const std::string& text) {
    auto cfg = LoadString(text, "gw.toml", "/tmp", false);
    return cfg ? std::string() : cfg.error().ToString();
  };
  CHECK(errors("[upstreams.out]\ntype = 1\npath = \"x\"\n") ==
        "gw.toml:2:1: upstreams.out.type: expected a string, found an integer\n");
  CHECK(errors("[drivers.d]\ntype = \"simm\"\nenabled = 3\n") ==
        "gw.toml:2:1: drivers.d.type: \"simm\" is not one of the allowed values: \"sim\", "
        "\"modbus\", \"serial\", \"mqtt\" (did you mean \"sim\"?)\n"
        "gw.toml:3:1: drivers.d.enabled: expected a boolean, found an integer\n");
  // The sim driver's check wants a device_prefix: not asked of a disabled one, whose keys are
  // still checked against the spec.
  CHECK(errors("[drivers.d]\ntype = \"sim\"\ndevice_prefix = \"\"\n") ==
        "gw.toml:3:1: drivers.d.device_prefix: must not be empty\n");
  CHECK(errors("[drivers.d]\ntype = \"sim\"\nenabled = false\ndevice_prefix = \"\"\n") == "");
  CHECK(errors("[drivers.d]\ntype = \"sim\"\nenabled = false\nrate = 1\n") ==
        "gw.toml:4:1: drivers.d.rate: unknown key\n");
}

TEST_CASE("a missing config file is reported as FILE:0:0") {
  auto cfg = Load("/nonexistent/processnow.toml");
  REQUIRE_FALSE(cfg);
  CHECK(cfg.error().ToString() ==
        "/nonexistent/processnow.toml:0:0: configuration file does not exist\n");
}

TEST_CASE("defaults fill in keys that are not written") {
  auto cfg = LoadString("[gateway]\nid = \"a\"\n", "mem.toml", "/tmp", false);
  REQUIRE(cfg);
  CHECK(cfg->gateway.id == "a");
  CHECK(cfg->gateway.log_level == "info");
  CHECK(cfg->queue.capacity == 65536);
  CHECK(cfg->queue.overflow == pn::OverflowPolicy::kBlock);
  CHECK(cfg->store.batch_records == 1000);
  CHECK(cfg->store.batch_ms == 100);
  CHECK(cfg->store.path == "/var/lib/processnow/buffer.db");
}

TEST_CASE("relative data_dir resolves against the config file's directory") {
  auto cfg = LoadString("[gateway]\ndata_dir = \"state\"\n", "mem.toml", "/etc/pn", false);
  REQUIRE(cfg);
  CHECK(cfg->gateway.data_dir == "/etc/pn/state");
  CHECK(cfg->store.path == "/etc/pn/state/buffer.db");
}

TEST_CASE(
    "loading checks that a missing data_dir can be created without creating it, and "
    "CreateDataDir creates it") {
  fs::path tmp = fs::temp_directory_path() / ("pn-config-datadir-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const fs::path dir = tmp / "a" / "b";
  auto cfg = LoadString("[gateway]\ndata_dir = \"" + dir.string() + "\"\n", "mem.toml", "/", true);
  CHECK(cfg);
  CHECK_FALSE(fs::exists(tmp / "a"));  // nothing made, not even the parent
  CHECK(std::distance(fs::directory_iterator(tmp), fs::directory_iterator()) == 0);  // no probe
  REQUIRE(CreateDataDir(dir.string()).ok());
  CHECK(fs::is_directory(dir));
  // A file where a parent directory should be: the error says why.
  { std::ofstream(tmp / "file") << "x"; }
  auto bad = LoadString("[gateway]\ndata_dir = \"" + (tmp / "file" / "d").string() + "\"\n",
                        "mem.toml", "/", true);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().ToString().find("gateway.data_dir: cannot create directory") !=
        std::string::npos);
  CHECK_FALSE(CreateDataDir((tmp / "file" / "d").string()).ok());
  fs::remove_all(tmp);
}

TEST_CASE("rule globs expand to sorted files, a literal path must exist") {
  fs::path tmp = fs::temp_directory_path() / ("pn-config-test-" + std::to_string(::getpid()));
  fs::create_directories(tmp / "rules.d");
  std::ofstream(tmp / "rules.d/b.toml") << "";
  std::ofstream(tmp / "rules.d/a.toml") << "";
  std::ofstream(tmp / "main.toml") << "";
  auto cfg = LoadString(
      "[gateway]\ndata_dir = \"data\"\nrules = [\"main.toml\", \"rules.d/*.toml\", "
      "\"none/*.toml\"]\n",
      "mem.toml", tmp.string(), true);
  REQUIRE(cfg);
  REQUIRE(cfg->rule_files.size() == 3);
  CHECK(cfg->rule_files[0] == (tmp / "main.toml").string());
  CHECK(cfg->rule_files[1] == (tmp / "rules.d/a.toml").string());
  CHECK(cfg->rule_files[2] == (tmp / "rules.d/b.toml").string());
  fs::remove_all(tmp);
}

TEST_CASE("Section reads typed values and nested table arrays") {
  static const TableSpec inner{
      "", {{.name = "x", .type = ValueType::kInt, .default_value = std::int64_t{7}}}};
  static const TableSpec spec{"",
                              {{.name = "f", .type = ValueType::kFloat, .default_value = 1.5},
                               {.name = "s", .type = ValueType::kStringList},
                               {.name = "item", .type = ValueType::kTableArray, .table = &inner}}};
  auto doc = ParseString("f = 3\ns = [\"a\", \"b\"]\n[[item]]\nx = 1\n[[item]]\n", "t.toml");
  REQUIRE(doc);
  ErrorList errors;
  Validate(doc->root, spec, "", "t.toml", errors);
  CHECK(errors.empty());
  Section s(&doc->root, &spec, "", "t.toml");
  CHECK(s.GetFloat("f") == 3.0);  // an integer is accepted where a number is expected
  CHECK(s.GetStringList("s") == std::vector<std::string>{"a", "b"});
  auto items = s.GetTableArray("item");
  REQUIRE(items.size() == 2);
  CHECK(items[0].GetInt("x") == 1);
  CHECK(items[1].GetInt("x") == 7);  // default
  CHECK(items[1].path() == "item[1]");
}

TEST_CASE("config/gateway.toml is the generated reference and is itself valid") {
  std::string ref = ReferenceConfig();
  if (std::getenv("PN_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(fs::path(PN_SOURCE_DIR) / "config/gateway.toml") << ref;
  }
  CHECK(ReadFile(fs::path(PN_SOURCE_DIR) / "config/gateway.toml") == ref);
  auto cfg = LoadString(ref, "gateway.toml", "/tmp", false);
  CHECK(cfg.has_value());
}
