#include "drivers/deliver.h"

#include <algorithm>

namespace pn {

bool DeliverBatch(ReadingSink& sink, std::vector<Reading>& batch, DriverStats& stats,
                  const Clock& clock) {
  if (batch.empty()) return true;
  const std::size_t n = batch.size();
  const bool any_good = std::any_of(batch.begin(), batch.end(),
                                    [](const Reading& r) { return r.quality == Quality::kGood; });
  const bool ok = sink.Deliver(batch);
  batch.clear();
  if (!ok) return false;
  stats.readings.fetch_add(n, std::memory_order_relaxed);
  if (any_good) stats.last_success_ns.store(clock.NowNs(), std::memory_order_relaxed);
  stats.heartbeat_ns.store(clock.MonotonicNs(), std::memory_order_relaxed);
  return true;
}

}  // namespace pn
