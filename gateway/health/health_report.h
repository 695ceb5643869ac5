// Health and metrics renderings of one snapshot of the pipeline: /health (JSON), /metrics
// (Prometheus text exposition format 0.0.4) and /status (text for a person, printed by
// `processnow status`). Pure functions of the snapshot: no I/O, no clock; unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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
};

// "stalled" when a thread is stalled or start-up has not finished, "degraded" when an upstream
// is not "ok" or a driver is not running/finished cleanly, else "ok".
std::string OverallState(const Snapshot& s);

// HTTP status for /health: 200 for "ok" and "degraded", 503 for "stalled".
int HealthHttpStatus(const Snapshot& s);

std::string RenderHealthJson(const Snapshot& s);
std::string RenderMetrics(const Snapshot& s);
std::string RenderStatusText(const Snapshot& s);

// Prometheus label value escaping: backslash, double quote and newline.
std::string EscapeLabel(const std::string& v);

}  // namespace pn::health
