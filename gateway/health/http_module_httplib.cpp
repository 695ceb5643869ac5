// processnow-http.so: the HTTP transport of the health endpoint and of `processnow status`, on
// cpp-httplib. The only file that includes httplib.h; see http_module.h for why it is a module.
#include <httplib.h>

#include <exception>
#include <thread>

#include "gateway/health/http_module.h"

namespace pn::health {
namespace {

class HttplibListener final : public HttpListener {
 public:
  ~HttplibListener() override { Stop(); }

  void Stop() override {
    server.stop();
    if (thread.joinable()) thread.join();
  }
  int port() const override { return bound_port; }

  httplib::Server server;
  std::thread thread;
  int bound_port = 0;
};

Result<std::unique_ptr<HttpListener>> Listen(const std::string& address, int port,
                                             const std::vector<std::string>& paths,
                                             HttpHandler handler) {
  auto listener = std::make_unique<HttplibListener>();
  httplib::Server& srv = listener->server;
  try {
    srv.new_task_queue = [] { return new httplib::ThreadPool(2); };
    srv.set_read_timeout(5, 0);
    srv.set_write_timeout(5, 0);
    srv.set_keep_alive_max_count(10);
    auto serve = [handler](const httplib::Request& req, httplib::Response& res) {
      HttpRequest request{req.path, req.get_header_value("Authorization")};
      HttpResponse r = handler(request);
      res.status = r.status;
      for (const auto& [name, value] : r.headers) res.set_header(name, value);
      res.set_content(r.body, r.content_type.c_str());
    };
    for (const auto& p : paths) srv.Get(p, serve);
    int bound = 0;
    if (port == 0) {
      bound = srv.bind_to_any_port(address);
    } else {
      bound = srv.bind_to_port(address, port) ? port : -1;
    }
    if (bound <= 0) {
      return Err(Status::Unavailable("cannot listen on " + address + ":" + std::to_string(port) +
                                     " (address in use or not local)"));
    }
    listener->bound_port = bound;
    HttplibListener* l = listener.get();
    l->thread = std::thread([l] {
      try {
        l->server.listen_after_bind();
      } catch (const std::exception&) {
        // listen_after_bind does not throw in practice; nothing may escape the thread.
      }
    });
    // stop() is a no-op until the accept loop runs: wait for it, so Stop() cannot miss it.
    for (int i = 0; i < 500 && !srv.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  } catch (const std::exception& e) {
    return Err(Status::Unavailable(e.what()));
  }
  return std::unique_ptr<HttpListener>(std::move(listener));
}

Result<HttpResponse> Get(const std::string& host, int port, const std::string& path,
                         std::chrono::milliseconds timeout, const std::string& authorization) {
  try {
    httplib::Client cli(host, port);
    const auto secs = static_cast<time_t>(timeout.count() / 1000);
    const auto usecs = static_cast<time_t>((timeout.count() % 1000) * 1000);
    cli.set_connection_timeout(secs, usecs);
    cli.set_read_timeout(secs, usecs);
    httplib::Headers headers;
    if (!authorization.empty()) headers.emplace("Authorization", authorization);
    auto res = cli.Get(path, headers);
    if (!res) {
      return Err(Status::Unavailable("cannot reach http://" + host + ":" + std::to_string(port) +
                                     path + ": " + httplib::to_string(res.error())));
    }
    HttpResponse out;
    out.status = res->status;
    out.body = res->body;
    out.content_type = res->get_header_value("Content-Type");
    return out;
  } catch (const std::exception& e) {
    return Err(Status::Unavailable(std::string("http get: ") + e.what()));
  }
}

const HttpModuleApi kApi{PN_VERSION, &Listen, &Get};

}  // namespace
}  // namespace pn::health

extern "C" __attribute__((visibility("default"))) const pn::health::HttpModuleApi*
pn_http_module_v2() {
  return &pn::health::kApi;
}
