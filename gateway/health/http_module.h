// The boundary between the processnow binary and its HTTP module, processnow-http.so.
//
// Why a module: Debian's cpp-httplib library initialises OpenSSL as soon as it is loaded (a
// static initialiser calls OPENSSL_init_ssl), which makes about 3.5 MiB of libcrypto resident
// in every process linked to it, whether or not it serves anything. The endpoint is off by
// default, so the binary does not link the library: health_server.cpp loads the module with
// dlopen only when [health] is enabled or `processnow status` runs.
//
// The module does HTTP transport only (listen, route a path to a handler, GET as a client); the
// binary renders every page. Both are built from the same tree with the same compiler, so C++
// types cross the boundary. The entry point's name carries the ABI number and the module reports
// the version it was built for, which the loader checks: a module left over from another
// install is refused with an error naming both versions, rather than called.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace pn::health {

struct HttpRequest {
  std::string path;
  std::string authorization;  // the Authorization header; empty when absent
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;  // more response headers
};

// Called on the listener's own threads; must be safe from any thread and must not throw.
using HttpHandler = std::function<HttpResponse(const HttpRequest& request)>;

class HttpListener {
 public:
  virtual ~HttpListener() = default;  // stops
  // Stops accepting and waits for the serving thread. Idempotent.
  virtual void Stop() = 0;
  virtual int port() const = 0;
};

struct HttpModuleApi {
  const char* version;  // PN_VERSION the module was built with
  // Binds address:port (0: any free port) and serves GET for each of `paths` (anything else:
  // 404) on a background thread. Errors: Unavailable when the address cannot be bound.
  Result<std::unique_ptr<HttpListener>> (*listen)(const std::string& address, int port,
                                                  const std::vector<std::string>& paths,
                                                  HttpHandler handler);
  // GET http://host:port/path with `timeout` for connect and read, sending `authorization` as
  // the Authorization header unless empty. Errors: Unavailable.
  Result<HttpResponse> (*get)(const std::string& host, int port, const std::string& path,
                              std::chrono::milliseconds timeout, const std::string& authorization);
};

inline constexpr const char* kHttpModuleFile = "processnow-http.so";
inline constexpr const char* kHttpModuleEntry = "pn_http_module_v2";

}  // namespace pn::health

// The module's only exported symbol (kHttpModuleEntry).
extern "C" const pn::health::HttpModuleApi* pn_http_module_v2();
