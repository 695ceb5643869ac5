// LoadModule: finds and loads one of processnow's own modules (processnow-http.so,
// processnow-kafka.so) with dlopen. A module holds the code that needs a big library (an HTTP
// server with OpenSSL, librdkafka), so a gateway that does not use it never maps the library.
//
// Looks beside the executable, then in ../lib/processnow/ (/usr/lib/processnow/ in the
// package). A module is accepted when it has the entry point (extern "C" const Api* ENTRY())
// and the version its Api reports is PN_VERSION of the binary; it then stays loaded for the
// life of the process (its code is held by what it creates). Errors: Unavailable, naming every
// file tried and why it was refused (not there, dlerror, no entry, another version).
//
// Thread-safety: a free function; the caller loads once (std::call_once) and keeps the result.
#pragma once

#include "core/status.h"

namespace pn::connect {

struct ModuleSpec {
  const char* file;            // "processnow-kafka.so"
  const char* entry;           // "pn_kafka_module_v1"
  const char* what;            // for messages: "Kafka"
  const char* binary_version;  // PN_VERSION of the binary
  // Calls the entry point `symbol` (dlsym's result) with its own function type: a call through
  // another type is undefined behaviour (UBSan's -fsanitize=function says so).
  const void* (*call_entry)(void* symbol);
  // The version the module's Api says it was built for.
  const char* (*version_of)(const void* api);
};

// The Api the module's entry point returned.
Result<const void*> LoadModule(const ModuleSpec& spec);

// Typed: Api must have `const char* version` (the PN_VERSION it was built with).
template <typename Api>
Result<const Api*> LoadModule(const char* file, const char* entry, const char* what,
                              const char* binary_version) {
  ModuleSpec spec{
      file,
      entry,
      what,
      binary_version,
      [](void* symbol) -> const void* { return reinterpret_cast<const Api* (*)()>(symbol)(); },
      [](const void* api) { return static_cast<const Api*>(api)->version; }};
  Result<const void*> r = LoadModule(spec);
  if (!r) return Err(r.error());
  return static_cast<const Api*>(*r);
}

}  // namespace pn::connect
