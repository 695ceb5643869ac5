// connect::PahoSslOptions: chain always checked, host name checked unless turned off, files
// passed through (see paho_tls.h).
#include "gateway/connect/paho_tls.h"

#include <doctest/doctest.h>

#include <string>

namespace pn::connect {

TEST_CASE("paho tls: the chain and the host name are checked by default, files passed through") {
  mqtt::ssl_options o = PahoSslOptions(
      {.ca_file = "/etc/ca.pem", .cert_file = "/etc/client.pem", .key_file = "/etc/client.key"});
  CHECK(o.get_enable_server_cert_auth());
  CHECK(o.get_verify());
  CHECK(o.get_trust_store() == "/etc/ca.pem");
  CHECK(o.get_key_store() == "/etc/client.pem");
  CHECK(o.get_private_key() == "/etc/client.key");
}

TEST_CASE("paho tls: empty files are left to Paho's defaults, host check can be turned off") {
  std::string seen;
  mqtt::ssl_options o =
      PahoSslOptions({.verify_hostname = false}, [&seen](const std::string& m) { seen = m; });
  CHECK(o.get_enable_server_cert_auth());  // the chain is still checked
  CHECK_FALSE(o.get_verify());
  CHECK(o.get_trust_store().empty());
  CHECK(o.get_key_store().empty());
  CHECK(o.get_private_key().empty());
}

}  // namespace pn::connect
