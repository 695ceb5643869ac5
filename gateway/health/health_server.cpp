// The health endpoint: renders the pages (health_report.h) and hands them to the HTTP module,
// which this file loads with dlopen (http_module.h says why the module exists).
#include "gateway/health/health_server.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <system_error>

#include "gateway/connect/module_loader.h"

namespace pn::health {
namespace {

HttpResponse Serve(const HealthServer::SnapshotFn& snapshot, const std::string& token,
                   const HttpRequest& req) {
  // Runs on the listener's threads: no exception may escape.
  HttpResponse res;
  const std::string& path = req.path;
  try {
    if (!token.empty() && !BearerMatches(req.authorization, token)) {
      res.status = 401;
      res.body =
          "401 unauthorized: send the token of [health] token_file as "
          "'Authorization: Bearer TOKEN'\n";
      res.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"processnow\"");
      return res;
    }
    if (path == "/") {
      // Self-contained: the policy keeps the page from loading anything but status.json.
      res.status = 200;
      res.body = StatusPageHtml();
      res.content_type = "text/html; charset=utf-8";
      res.headers.emplace_back("Content-Security-Policy",
                               "default-src 'none'; script-src 'unsafe-inline'; style-src "
                               "'unsafe-inline'; img-src data:; connect-src 'self'");
      res.headers.emplace_back("X-Content-Type-Options", "nosniff");
      res.headers.emplace_back("Cache-Control", "no-store");
      return res;
    }
    Snapshot s = snapshot();
    if (path == "/status.json") {
      res.status = 200;
      res.body = RenderStatusJson(s);
      res.content_type = "application/json";
      res.headers.emplace_back("Cache-Control", "no-store");
    } else if (path == "/health") {
      res.status = HealthHttpStatus(s);
      res.body = RenderHealthJson(s);
      res.content_type = "application/json";
    } else if (path == "/metrics") {
      res.status = 200;
      res.body = RenderMetrics(s);
      res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    } else {  // /status: the same status code as /health, so `status` can exit with it
      res.status = HealthHttpStatus(s);
      res.body = RenderStatusText(s);
    }
  } catch (const std::exception& e) {
    res.status = 500;
    res.body = std::string("internal error: ") + e.what() + "\n";
    res.content_type = "text/plain";
  }
  return res;
}

}  // namespace

Result<const HttpModuleApi*> LoadHttpModule() {
  static std::once_flag once;
  static Result<const HttpModuleApi*> loaded = Err(Status::Internal("not loaded"));
  std::call_once(once, [] {
    loaded =
        connect::LoadModule<HttpModuleApi>(kHttpModuleFile, kHttpModuleEntry, "HTTP", PN_VERSION);
  });
  return loaded;
}

Result<std::unique_ptr<HealthServer>> HealthServer::Start(const std::string& address, int port,
                                                          SnapshotFn snapshot,
                                                          const std::string& token) {
  auto api = LoadHttpModule();
  if (!api) return Err(Status::Unavailable("health endpoint: " + api.error().message()));
  auto listener = (*api)->listen(
      address, port, {"/", "/status.json", "/health", "/metrics", "/status"},
      [snapshot, token](const HttpRequest& req) { return Serve(snapshot, token, req); });
  if (!listener) return Err(Status::Unavailable("health endpoint: " + listener.error().message()));
  std::unique_ptr<HealthServer> hs(new HealthServer());
  hs->listener_ = std::move(*listener);
  hs->port_ = hs->listener_->port();
  spdlog::info(
      "health endpoint on http://{}:{}/ (status page; /status.json, /health, /metrics, "
      "/status){}",
      address, hs->port_, token.empty() ? "" : "; a bearer token is required");
  return hs;
}

HealthServer::~HealthServer() { Stop(); }

void HealthServer::Stop() {
  if (listener_) listener_->Stop();
}

Result<HttpResponse> HttpGet(const std::string& host, int port, const std::string& path,
                             std::chrono::milliseconds timeout, const std::string& token) {
  auto api = LoadHttpModule();
  if (!api) return Err(api.error());
  return (*api)->get(host, port, path, timeout, token.empty() ? "" : "Bearer " + token);
}

bool BearerMatches(const std::string& authorization, const std::string& token) {
  constexpr std::string_view kScheme = "Bearer ";
  if (token.empty() || authorization.size() != kScheme.size() + token.size() ||
      authorization.compare(0, kScheme.size(), kScheme) != 0) {
    return false;
  }
  unsigned char diff = 0;  // constant time over the token's length
  for (std::size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(authorization[kScheme.size() + i] ^ token[i]);
  }
  return diff == 0;
}

}  // namespace pn::health
