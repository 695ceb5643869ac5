// The local HTTP health and metrics endpoint (cpp-httplib, included in health_server.cpp only):
//   GET /health   JSON, 200 when ok or degraded, 503 when a thread is stalled or not yet ready
//   GET /metrics  Prometheus text exposition format 0.0.4
//   GET /status   the same for a person (what `processnow status` prints), 200/503 as /health
// Anything else is 404. No authentication: bind it to loopback (the default) or a trusted net.
//
// Thread-safety: Start/Stop from one controlling thread. Requests are served on the server's own
// threads, each calling the snapshot function, which must therefore be safe from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "gateway/core/status.h"
#include "gateway/health/health_report.h"

namespace pn::health {

class HealthServer {
 public:
  using SnapshotFn = std::function<Snapshot()>;

  // Binds `address`:`port` (port 0: any free port; see port()) and serves on a background
  // thread. Errors: Unavailable when the address cannot be bound (in use, not local).
  static Result<std::unique_ptr<HealthServer>> Start(const std::string& address, int port,
                                                     SnapshotFn snapshot);
  ~HealthServer();  // stops

  // Stops listening and waits for the serving thread. Idempotent.
  void Stop();
  int port() const { return port_; }

  class Impl;

 private:
  HealthServer() = default;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET http://host:port/path with `timeout` for connect and read. Errors: Unavailable when the
// connection fails or times out. Used by `processnow status`.
Result<HttpResponse> HttpGet(const std::string& host, int port, const std::string& path,
                             std::chrono::milliseconds timeout);

}  // namespace pn::health
