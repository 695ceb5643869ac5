#include "gateway/connect/paho_tls.h"

#include <MQTTAsync.h>

#include <mutex>
#include <utility>

namespace pn::connect {

void InitPaho() {
  static std::once_flag once;
  std::call_once(once, [] {
    MQTTAsync_init_options init = MQTTAsync_init_options_initializer;
    init.do_openssl_init = 0;
    MQTTAsync_global_init(&init);
  });
}

namespace {

// Before main(): MQTTAsync_global_init also initialises Paho's mutexes afresh, which must not
// happen while a client (of any thread, or of a test) exists.
[[maybe_unused]] const bool kPahoInitialised = (InitPaho(), true);

}  // namespace

::mqtt::ssl_options PahoSslOptions(const TlsFiles& tls,
                                   std::function<void(const std::string&)> on_error) {
  ::mqtt::ssl_options_builder sb;
  if (!tls.ca_file.empty()) sb.trust_store(tls.ca_file);
  if (!tls.cert_file.empty()) sb.key_store(tls.cert_file);
  if (!tls.key_file.empty()) sb.private_key(tls.key_file);
  if (!tls.alpn.empty()) sb.alpn_protos(tls.alpn);
  sb.enable_server_cert_auth(true);  // the chain must lead to a trusted CA
  sb.verify(tls.verify_hostname);    // and name the host (Paho's default: off)
  if (on_error) sb.error_handler(std::move(on_error));
  return sb.finalize();
}

}  // namespace pn::connect
