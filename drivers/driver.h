// Driver: the interface every source of readings implements (sim, Modbus, serial, MQTT).
//
// A driver instance owns one connection or one bus and runs on its own thread: the pipeline
// calls Run() on a dedicated thread and requests a stop through the stop_token. A driver never
// throws out of Run(); device and line faults are logged, counted and retried inside, and
// readings it could not get are pushed with Quality::kBad or not at all.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/reading.h"
#include "core/status.h"
#include "gateway/config/schema.h"

namespace pn {

// Where a driver delivers readings. Implemented by the pipeline (a BoundedQueue).
// Safe for concurrent access from several driver threads.
class ReadingSink {
 public:
  virtual ~ReadingSink() = default;
  // Delivers readings in order (moving them out of `batch`, which the caller then clears).
  // May block for back-pressure. Returns false when the pipeline is shutting down.
  virtual bool Deliver(std::vector<Reading>& batch) = 0;
};

// Counters a driver keeps for health and metrics. Updated by the driver thread, read by others.
struct DriverStats {
  std::atomic<std::uint64_t> readings{0};  // readings delivered
  std::atomic<std::uint64_t> errors{0};    // failed polls, bad lines, bad payloads
  std::atomic<std::int64_t> last_success_ns{0};
  std::atomic<std::int64_t> heartbeat_ns{0};  // monotonic; proves the thread makes progress
};

class Driver {
 public:
  virtual ~Driver() = default;

  // The instance name from the config ("drivers.<name>").
  virtual const std::string& name() const = 0;

  // Runs until `stop` is requested, delivering readings to `sink`. Called once, on a thread of
  // its own. Must return promptly (within ~100 ms) after a stop request.
  virtual void Run(std::stop_token stop, ReadingSink& sink) = 0;

  virtual const DriverStats& stats() const = 0;
};

// What a factory gets to build a driver.
struct DriverContext {
  std::string name;  // instance name
  Clock* clock = &SystemClock::Instance();
};

// One entry of the driver registry (drivers/registry.cpp lists them all explicitly).
struct DriverType {
  std::string type;               // the `type = "..."` value in [drivers.NAME]
  std::string summary;            // one line for docs
  const config::TableSpec* spec;  // the keys of [drivers.NAME], `type` and `enabled` excluded
  // Semantic checks beyond the spec (cross-key rules); appends to errors.
  std::function<void(const config::Section&, config::ErrorList&)> check;
  // Builds a driver from validated settings. Throws nothing; errors come back as Status.
  std::function<Result<std::unique_ptr<Driver>>(const config::Section&, const DriverContext&)>
      create;
};

// All driver types compiled in, in a fixed order.
const std::vector<DriverType>& DriverTypes();
const DriverType* FindDriverType(std::string_view type);

}  // namespace pn
