// The only file that includes httplib.h (a heavy header).
#include "gateway/health/health_server.h"

#include <exception>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

namespace pn::health {

class HealthServer::Impl {
 public:
  httplib::Server server;
  std::thread thread;
};

namespace {

void Serve(const HealthServer::SnapshotFn& snapshot, const httplib::Request& req,
           httplib::Response& res) {
  // No exception may cross into httplib's thread: render inside a try.
  try {
    Snapshot s = snapshot();
    if (req.path == "/health") {
      res.status = HealthHttpStatus(s);
      res.set_content(RenderHealthJson(s), "application/json");
    } else if (req.path == "/metrics") {
      res.status = 200;
      res.set_content(RenderMetrics(s), "text/plain; version=0.0.4; charset=utf-8");
    } else {  // /status: the same status code as /health, so `status` can exit with it
      res.status = HealthHttpStatus(s);
      res.set_content(RenderStatusText(s), "text/plain; charset=utf-8");
    }
  } catch (const std::exception& e) {
    res.status = 500;
    res.set_content(std::string("internal error: ") + e.what() + "\n", "text/plain");
  }
}

}  // namespace

Result<std::unique_ptr<HealthServer>> HealthServer::Start(const std::string& address, int port,
                                                          SnapshotFn snapshot) {
  std::unique_ptr<HealthServer> hs(new HealthServer());
  hs->impl_ = std::make_unique<Impl>();
  httplib::Server& srv = hs->impl_->server;
  try {
    srv.new_task_queue = [] { return new httplib::ThreadPool(2); };
    srv.set_read_timeout(5, 0);
    srv.set_write_timeout(5, 0);
    srv.set_keep_alive_max_count(10);
    auto handler = [snapshot](const httplib::Request& req, httplib::Response& res) {
      Serve(snapshot, req, res);
    };
    srv.Get("/health", handler);
    srv.Get("/metrics", handler);
    srv.Get("/status", handler);
    int bound = 0;
    if (port == 0) {
      bound = srv.bind_to_any_port(address);
    } else {
      bound = srv.bind_to_port(address, port) ? port : -1;
    }
    if (bound <= 0) {
      return Err(Status::Unavailable("health endpoint: cannot listen on " + address + ":" +
                                     std::to_string(port) + " (address in use or not local)"));
    }
    hs->port_ = bound;
    Impl* impl = hs->impl_.get();
    impl->thread = std::thread([impl] {
      try {
        impl->server.listen_after_bind();
      } catch (const std::exception& e) {
        spdlog::error("health endpoint stopped: {}", e.what());
      }
    });
    // stop() is a no-op until the accept loop runs: wait for it, so Stop() cannot miss it.
    for (int i = 0; i < 500 && !srv.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  } catch (const std::exception& e) {
    return Err(Status::Unavailable(std::string("health endpoint: ") + e.what()));
  }
  spdlog::info("health endpoint on http://{}:{}/ (/health, /metrics, /status)", address,
               hs->port_);
  return hs;
}

HealthServer::~HealthServer() { Stop(); }

void HealthServer::Stop() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<HttpResponse> HttpGet(const std::string& host, int port, const std::string& path,
                             std::chrono::milliseconds timeout) {
  try {
    httplib::Client cli(host, port);
    const auto secs = static_cast<time_t>(timeout.count() / 1000);
    const auto usecs = static_cast<time_t>((timeout.count() % 1000) * 1000);
    cli.set_connection_timeout(secs, usecs);
    cli.set_read_timeout(secs, usecs);
    auto res = cli.Get(path);
    if (!res) {
      return Err(Status::Unavailable("cannot reach http://" + host + ":" + std::to_string(port) +
                                     path + ": " + httplib::to_string(res.error())));
    }
    return HttpResponse{res->status, res->body};
  } catch (const std::exception& e) {
    return Err(Status::Unavailable(std::string("http get: ") + e.what()));
  }
}

}  // namespace pn::health
