// `processnow buffer --config FILE [--json]`: what the durable store holds, per upstream.
#pragma once

#include <cstdio>
#include <string>

#include "core/clock.h"
#include "gateway/store/store.h"

namespace pn::service {

struct BufferOptions {
  std::string config_path;
  bool json = false;
};

// Loads the configuration, opens its store read-only (safe while the daemon runs) and prints,
// per upstream, the depth (records after its cursor) and the age of the oldest pending record,
// then records held, size on disk, last seq and drops per reason. Exit codes: 0 ok, 66 no store
// file yet, 65 a damaged or foreign file, 74 another I/O error, 78 configuration error.
int Buffer(const BufferOptions& options);

// The report as text or as one JSON object (both end with a newline). `configured` lists the
// upstreams the configuration enables; `now_ns` is the wall-clock time for ages. Pure function.
std::string FormatBufferReport(const StoreReport& report,
                               const std::vector<std::string>& configured, std::int64_t max_bytes,
                               std::int64_t max_age_s, const std::string& full_policy,
                               std::int64_t now_ns, bool json);

}  // namespace pn::service
