// TLS for Paho MQTT clients, set up one way for the mqtt driver and the mqtt and sparkplug
// upstreams.
//
// The one behaviour:
//   - the broker's certificate chain is always checked (enable_server_cert_auth): against
//     ca_file when set, else Paho's default, the system's trust store;
//   - the host name is checked against the certificate (Paho's own default is off) unless
//     verify_hostname is false, which callers log as a warning;
//   - cert_file / key_file are sent as the client certificate and its key when set (an empty
//     key_file means the key is in cert_file);
//   - alpn, when not empty, is offered in the handshake (AWS IoT Core on port 443 picks MQTT by
//     the protocol name "x-amzn-mqtt-ca");
//   - OpenSSL's error text goes to `on_error` when one is given (to log it, or to keep it for a
//     clearer connect error); Paho calls it on its own thread.
#pragma once

#include <mqtt/ssl_options.h>

#include <functional>
#include <string>
#include <vector>

namespace pn::connect {

struct TlsFiles {
  std::string ca_file = {};    // PEM CA certificates; empty: the system's trust store
  std::string cert_file = {};  // PEM client certificate (and chain); empty: none
  std::string key_file = {};   // PEM private key of cert_file; empty: in cert_file (or none)
  bool verify_hostname = true;
  std::vector<std::string> alpn = {};  // ALPN protocol names to offer; empty: none
};

::mqtt::ssl_options PahoSslOptions(const TlsFiles& tls,
                                   std::function<void(const std::string&)> on_error = {});

// Paho's process-wide set-up, run once before main() by a static initialiser of paho_tls.cpp
// (MQTTAsync_global_init also initialises Paho's mutexes afresh, which is safe only while no
// client exists); the calls before each client is created are no-ops that say so. It tells Paho
// not to initialise OpenSSL itself: Paho C would otherwise, when the first client is created,
// TLS or not, call SSL_library_init, ERR_load_crypto_strings and OpenSSL_add_all_algorithms,
// which read OpenSSL's configuration and load its error strings and algorithm tables: about
// 1.5 MiB more resident in a gateway that never opens a TLS connection (bench/README.md,
// memory). OpenSSL (1.1 and later) initialises itself on first use, so a TLS connection still
// gets all of it, when it is made.
void InitPaho();

}  // namespace pn::connect
