// Handing a batch of readings to the pipeline and counting it, one way for every driver.
//
// DeliverBatch(sink, batch, stats, clock):
//   - an empty batch: nothing is delivered or counted; returns true;
//   - otherwise hands `batch` to the sink and clears it (whatever the sink answered);
//   - when the sink took it: DriverStats::readings grows by the batch's size,
//     last_success_ns becomes clock.NowNs() if at least one reading of the batch has
//     Quality::kGood (a batch of bad readings, such as a Modbus unit that does not answer, is
//     delivered but is no success), and heartbeat_ns becomes clock.MonotonicNs();
//   - when the sink refused (the pipeline is shutting down): counts nothing, returns false,
//     and the driver should return from Run().
// DriverStats::errors is not touched: failures are counted where they happen.
#pragma once

#include <vector>

#include "drivers/driver.h"

namespace pn {

bool DeliverBatch(ReadingSink& sink, std::vector<Reading>& batch, DriverStats& stats,
                  const Clock& clock);

}  // namespace pn
