// What a reload changes (gateway/config/config_diff.h): per-instance diffs with defaults filled
// in, the settings that refuse a reload, and secrets kept out of descriptions.
#include "gateway/config/config_diff.h"

#include <doctest/doctest.h>

#include <string>

using namespace pn::config;

namespace {

GatewayConfig Parse(const std::string& text) {
  auto cfg =
      LoadString("[gateway]\ndata_dir = \"/tmp/pn-diff\"\n" + text, "gw.toml", "/tmp", false);
  REQUIRE_MESSAGE(cfg.has_value(), cfg.error().ToString());
  return std::move(*cfg);
}

const InstanceChange& Find(const std::vector<InstanceChange>& v, const std::string& name) {
  for (const auto& c : v) {
    if (c.name == name) return c;
  }
  FAIL("no instance ", name);
  return v.front();
}

const char* kBase = R"(
[drivers.a]
type = "sim"
interval_ms = 1000
[drivers.b]
type = "sim"
devices = 2
[upstreams.out]
type = "file"
path = "/tmp/out.jsonl"
)";

}  // namespace

TEST_CASE("an identical config, or one writing out a default, changes nothing") {
  GatewayConfig a = Parse(kBase);
  // interval_ms = 1000 is sim's default; batch_records 1000 the upstream default.
  GatewayConfig b = Parse(R"(
[drivers.b]
type = "sim"
devices = 2
seed = 1
[drivers.a]
type = "sim"
[upstreams.out]
type = "file"
path = "/tmp/out.jsonl"
batch_records = 1000
enabled = true
)");
  ReloadPlan plan = PlanReload(a, b);
  CHECK(plan.refused.empty());
  CHECK(plan.live.empty());
  CHECK_FALSE(plan.restart_health);
  for (const auto& c : plan.drivers) CHECK(c.kind == InstanceChangeKind::kUnchanged);
  REQUIRE(plan.upstreams.size() == 1);
  CHECK(plan.upstreams[0].kind == InstanceChangeKind::kUnchanged);
}

TEST_CASE("drivers and upstreams: changed, added and removed, with what changed") {
  GatewayConfig a = Parse(kBase);
  GatewayConfig b = Parse(R"(
[drivers.a]
type = "sim"
interval_ms = 500
[drivers.c]
type = "sim"
[upstreams.out]
type = "file"
path = "/tmp/other.jsonl"
batch_records = 10
)");
  ReloadPlan plan = PlanReload(a, b);
  CHECK(plan.refused.empty());
  REQUIRE(plan.drivers.size() == 3);
  // The new config's order, then the removed ones.
  CHECK(plan.drivers[0].name == "a");
  CHECK(plan.drivers[1].name == "c");
  CHECK(plan.drivers[2].name == "b");
  CHECK(Find(plan.drivers, "a").kind == InstanceChangeKind::kChanged);
  CHECK(Find(plan.drivers, "a").details == "interval_ms 1000 -> 500");
  CHECK(Find(plan.drivers, "c").kind == InstanceChangeKind::kAdded);
  CHECK(Find(plan.drivers, "b").kind == InstanceChangeKind::kRemoved);
  const InstanceChange& out = Find(plan.upstreams, "out");
  CHECK(out.kind == InstanceChangeKind::kChanged);
  CHECK(out.details == "batch_records 1000 -> 10, path \"/tmp/out.jsonl\" -> \"/tmp/other.jsonl\"");
}

TEST_CASE("a changed table array (a sim fault) or type is a change, key by key") {
  GatewayConfig a = Parse(kBase);
  GatewayConfig b = Parse(std::string(kBase) +
                          "[[drivers.b.fault]]\ndevice = \"pump-1\"\nseries = \"temperature\"\n"
                          "kind = \"step\"\nat_s = 10.0\nmagnitude = 5\n");
  ReloadPlan plan = PlanReload(a, b);
  const InstanceChange& c = Find(plan.drivers, "b");
  CHECK(c.kind == InstanceChangeKind::kChanged);
  CHECK(c.details.rfind("fault.count (unset) -> 1, fault[0].at_s (unset) -> 10.0", 0) == 0);
  CHECK(c.details.find("and 3 more") != std::string::npos);
  // Every key of the new table, its defaults (duration_s) included.
  auto changes = Diff(Flatten(a.drivers[1].settings), Flatten(b.drivers[1].settings));
  REQUIRE(changes.size() == 7);
  CHECK(changes[3].key == "fault[0].duration_s");
  CHECK(changes[3].new_value == "0.0");
  CHECK(changes[5].key == "fault[0].magnitude");
  CHECK(changes[5].new_value == "5");
  GatewayConfig t = Parse(R"(
[drivers.a]
type = "sim"
[drivers.b]
type = "serial"
device = "/dev/ttyUSB0"
[upstreams.out]
type = "file"
path = "/tmp/out.jsonl"
)");
  plan = PlanReload(a, t);
  CHECK(Find(plan.drivers, "a").kind == InstanceChangeKind::kUnchanged);
  CHECK(Find(plan.drivers, "b").kind == InstanceChangeKind::kChanged);
  CHECK(Find(plan.drivers, "b").details == "type \"sim\" -> \"serial\"");
}

TEST_CASE("settings that cannot change while running refuse the reload, naming old and new") {
  GatewayConfig a = Parse(kBase);
  auto b = LoadString(
      "[gateway]\ndata_dir = \"/tmp/pn-diff-2\"\n[queue]\ncapacity = 128\n" + std::string(kBase),
      "gw.toml", "/tmp", false);
  REQUIRE(b.has_value());
  ReloadPlan plan = PlanReload(a, *b);
  REQUIRE(plan.refused.size() == 2);
  CHECK(plan.refused[0] ==
        "gateway.data_dir: cannot change while running (\"/tmp/pn-diff\" -> \"/tmp/pn-diff-2\"); "
        "restart the service to apply it");
  CHECK(plan.refused[1] ==
        "queue.capacity: cannot change while running (65536 -> 128); restart the service to "
        "apply it");
  GatewayConfig c = Parse("[store]\nfile = \"other.db\"\nmax_bytes = 0\n" + std::string(kBase));
  plan = PlanReload(a, c);
  REQUIRE(plan.refused.size() == 2);
  CHECK(plan.refused[0].rfind("store.file: cannot change while running "
                              "(\"/tmp/pn-diff/buffer.db\" -> \"/tmp/pn-diff/other.db\")",
                              0) == 0);
  CHECK(plan.refused[1].rfind("store.max_bytes: cannot change while running (1073741824 -> 0)",
                              0) == 0);
}

TEST_CASE("live settings are listed, and the health endpoint restarts only when it must") {
  GatewayConfig a = Parse(kBase);
  auto c = LoadString(
      "[gateway]\ndata_dir = \"/tmp/pn-diff\"\nlog_level = \"debug\"\n[store]\nbatch_ms = 50\n"
      "[health]\nstall_timeout_ms = 5000\n" +
          std::string(kBase),
      "gw.toml", "/tmp", false);
  REQUIRE_MESSAGE(c.has_value(), c.error().ToString());
  ReloadPlan plan = PlanReload(a, *c);
  CHECK(plan.refused.empty());
  CHECK(plan.live == std::vector<std::string>{"gateway.log_level \"info\" -> \"debug\"",
                                              "store.batch_ms 100 -> 50",
                                              "health.stall_timeout_ms 60000 -> 5000"});
  CHECK_FALSE(plan.restart_health);  // off before and after
  auto d = LoadString(
      "[gateway]\ndata_dir = \"/tmp/pn-diff\"\n[health]\nenabled = true\n" + std::string(kBase),
      "gw.toml", "/tmp", false);
  REQUIRE(d.has_value());
  CHECK(PlanReload(a, *d).restart_health);
  CHECK(PlanReload(*d, *d).restart_health == false);
}

TEST_CASE("secret values never appear in a description") {
  CHECK(IsSecretKey("password"));
  CHECK(IsSecretKey("properties.sasl.password"));
  CHECK(IsSecretKey("auth_token"));
  CHECK_FALSE(IsSecretKey("password_file"));
  CHECK_FALSE(IsSecretKey("password_env"));
  CHECK_FALSE(IsSecretKey("path"));
  const std::string text = Describe(
      {{"properties.sasl.password", "\"hunter2\"", "\"s3cret\""}, {"port", "1883", "1884"}});
  CHECK(text == "properties.sasl.password (secret) changed, port 1883 -> 1884");
  CHECK(text.find("hunter2") == std::string::npos);
}

TEST_CASE("a long list of changes is cut after max_shown") {
  std::vector<SettingChange> many;
  for (int i = 0; i < 7; ++i) many.push_back({"k" + std::to_string(i), "1", "2"});
  CHECK(Describe(many, 2) == "k0 1 -> 2, k1 1 -> 2, and 5 more");
  CHECK(Diff({{"a", "1"}, {"b", "2"}}, {{"b", "3"}, {"c", "4"}}).size() == 3);
}
