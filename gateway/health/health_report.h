// Health and metrics renderings of one snapshot of the pipeline: /health (JSON), /metrics
// (Prometheus text exposition format 0.0.4), /status (text for a person, printed by
// `processnow status`) and /status.json (what the status page at / shows). Pure functions of
// the snapshot: no I/O, no clock; unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/health/live_view.h"
#include "gateway/pipeline/pipeline.h"

namespace pn::health {

struct Snapshot {
  std::string gateway_id;
  std::string version;
  std::int64_t now_ns = 0;  // wall clock when taken (ages are computed against it)
  double uptime_s = 0;
  bool ready = false;         // start-up finished (config, store, drivers up)
  double readings_per_s = 0;  // over the last stats interval
  PipelineStats stats;
  StoreHealth store;
  std::vector<std::string> stalled;  // Pipeline::StalledThreads()
  // For the status page (/status.json) only.
  std::string config_path;
  std::int64_t rss_bytes = 0;        // resident memory of the process; 0: unknown
  std::optional<LiveSnapshot> live;  // LiveView::Take()
};

// "stalled" when a thread is stalled or start-up has not finished, "degraded" when an upstream
// is not "ok" or a driver is not running/finished cleanly, else "ok".
std::string OverallState(const Snapshot& s);

// HTTP status for /health: 200 for "ok" and "degraded", 503 for "stalled".
int HealthHttpStatus(const Snapshot& s);

std::string RenderHealthJson(const Snapshot& s);
std::string RenderMetrics(const Snapshot& s);
std::string RenderStatusText(const Snapshot& s);
// /status.json: every member of /health, then the gateway's config file and memory, drops by
// reason and the live view (gateway/health/README.md lists the members).
std::string RenderStatusJson(const Snapshot& s);

// The status page (status_page.html, embedded at build time): one self-contained HTML file that
// polls status.json.
const std::string& StatusPageHtml();

// Prometheus label value escaping: backslash, double quote and newline.
std::string EscapeLabel(const std::string& v);

}  // namespace pn::health
