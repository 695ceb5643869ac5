// The local HTTP health and metrics endpoint. The HTTP transport (cpp-httplib) lives in the
// processnow-http.so module, loaded on first use (see http_module.h for why):
//   GET /health   JSON, 200 when ok or degraded, 503 when a thread is stalled or not yet ready
//   GET /metrics  Prometheus text exposition format 0.0.4
//   GET /status   the same for a person (what `processnow status` prints), 200/503 as /health
//   GET /         the status page (HTML), which polls
//   GET /status.json  everything /health says, plus the live view (readings, sparklines,
//                 alarms, anomalies, health and RUL) and the gateway's config file and memory
// Anything else is 404. With a token, every path wants `Authorization: Bearer TOKEN` (else
// 401); the config requires one for an address other than loopback.
//
// Thread-safety: Start/Stop from one controlling thread. Requests are served on the server's own
// threads, each calling the snapshot function, which must therefore be safe from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "gateway/health/health_report.h"
#include "gateway/health/http_module.h"

namespace pn::health {

class HealthServer {
 public:
  using SnapshotFn = std::function<Snapshot()>;

  // Binds `address`:`port` (port 0: any free port; see port()) and serves on a background
  // thread. Errors: Unavailable when the address cannot be bound (in use, not local) or the
  // HTTP module cannot be loaded (see LoadHttpModule).
  // `token`: when not empty, every request must carry `Authorization: Bearer <token>`.
  static Result<std::unique_ptr<HealthServer>> Start(const std::string& address, int port,
                                                     SnapshotFn snapshot,
                                                     const std::string& token = {});
  ~HealthServer();  // stops

  // Stops listening and waits for the serving thread. Idempotent.
  void Stop();
  int port() const { return port_; }

 private:
  HealthServer() = default;
  std::unique_ptr<HttpListener> listener_;
  int port_ = 0;
};

// The HTTP module, loaded once (dlopen) and kept: `processnow-http.so` next to the executable
// (the build tree), else `../lib/processnow/processnow-http.so` relative to it (/usr/bin ->
// /usr/lib/processnow, the package). Errors: Unavailable naming every path tried and why, or a
// module built for another version.
Result<const HttpModuleApi*> LoadHttpModule();

// GET http://host:port/path with `timeout` for connect and read, with `Authorization: Bearer
// <token>` unless `token` is empty. Errors: Unavailable when the connection fails or times out,
// or the module cannot be loaded. Used by `processnow status`.
Result<HttpResponse> HttpGet(const std::string& host, int port, const std::string& path,
                             std::chrono::milliseconds timeout, const std::string& token = {});

// True when `authorization` is "Bearer <token>" (compared in constant time).
bool BearerMatches(const std::string& authorization, const std::string& token);

}  // namespace pn::health
