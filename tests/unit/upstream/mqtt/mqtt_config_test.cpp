// [upstreams.NAME] type = "mqtt" through the gateway's config loader: defaults, and every
// semantic error reported with its position.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "gateway/config/gateway_config.h"

namespace pn {
namespace {

std::string Gateway(const std::string& upstream) {
  return "[gateway]\nid = \"gw\"\ndata_dir = \"/tmp\"\n\n[upstreams.scada]\ntype = \"mqtt\"\n" +
         upstream;
}

TEST_CASE("mqtt upstream: a minimal table is valid and creates an upstream") {
  auto cfg = config::LoadString(Gateway("servers = [\"tcp://127.0.0.1:1883\"]\n"), "gw.toml",
                                "/tmp", false);
  REQUIRE(cfg.has_value());
  REQUIRE(cfg->upstreams.size() == 1);
  const auto& u = cfg->upstreams[0];
  CHECK(u.settings.GetString("topic") == "{gateway}/{device}/{series}");
  CHECK(u.settings.GetInt("qos") == 1);
  CHECK(u.settings.GetBool("tls_verify_hostname"));
  auto up = u.type->create(u.settings, UpstreamContext{"scada", "gw"});
  REQUIRE(up.has_value());
  CHECK((*up)->name() == "scada");
}

TEST_CASE("mqtt upstream: every semantic error is reported at its key") {
  auto cfg = config::LoadString(Gateway("servers = [\"http://x\"]\n"
                                        "topic = \"{gateway}/{sensor}\"\n"
                                        "status_topic = \"{device}/status\"\n"
                                        "ca_file = \"/nonexistent/ca.pem\"\n"
                                        "key_file = \"/nonexistent/key.pem\"\n"
                                        "password_file = \"/nonexistent/pw\"\n"
                                        "password_env = \"PW\"\n"),
                                "gw.toml", "/tmp", false);
  REQUIRE_FALSE(cfg.has_value());
  std::string text = cfg.error().ToString();
  CHECK(text.find("gw.toml:7:1: upstreams.scada.servers: \"http://x\" is not") !=
        std::string::npos);
  CHECK(text.find("gw.toml:8:1: upstreams.scada.topic: unknown placeholder {sensor}") !=
        std::string::npos);
  CHECK(text.find("upstreams.scada.status_topic: placeholder {device} is not allowed") !=
        std::string::npos);
  CHECK(text.find("upstreams.scada.ca_file: TLS file given but no server URI uses TLS") !=
        std::string::npos);
  CHECK(text.find("upstreams.scada.key_file: key_file needs cert_file") != std::string::npos);
  CHECK(text.find("upstreams.scada.password_file: cannot read") != std::string::npos);
  CHECK(text.find("upstreams.scada.password_env: set password_file or password_env, not both") !=
        std::string::npos);
}

TEST_CASE("mqtt upstream: the spec rejects a bad payload and qos before the semantic checks") {
  auto cfg = config::LoadString(Gateway("servers = [\"tcp://h:1\"]\npayload = \"xml\"\nqos = 3\n"),
                                "gw.toml", "/tmp", false);
  REQUIRE_FALSE(cfg.has_value());
  std::string text = cfg.error().ToString();
  CHECK(text.find("gw.toml:8:1: upstreams.scada.payload") != std::string::npos);
  CHECK(text.find("gw.toml:9:1: upstreams.scada.qos") != std::string::npos);
}

TEST_CASE("mqtt upstream: the password comes from the environment and is required to exist") {
  ::setenv("PN_MQTT_TEST_PW", "s3cret", 1);
  auto cfg = config::LoadString(
      Gateway("servers = [\"tcp://127.0.0.1:1\"]\npassword_env = \"PN_MQTT_TEST_PW\"\n"), "gw.toml",
      "/tmp", false);
  REQUIRE(cfg.has_value());
  const auto& u = cfg->upstreams[0];
  CHECK(u.type->create(u.settings, UpstreamContext{"scada", "gw"}).has_value());
  ::unsetenv("PN_MQTT_TEST_PW");
  auto missing = u.type->create(u.settings, UpstreamContext{"scada", "gw"});
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message().find("PN_MQTT_TEST_PW") != std::string::npos);
  CHECK(missing.error().message().find("s3cret") == std::string::npos);
}

}  // namespace
}  // namespace pn
