// Pipeline: the daemon's threads and the queues between them.
//
//   driver threads --(BoundedQueue<Reading>)--> rules thread --(chunks of records)--> store
//   thread (batched SQLite transactions) --(notify)--> one forwarder thread per upstream
//   (reads from its cursor, sends, acknowledges).
//
// Graceful stop (Stop()): drivers stop, the reading queue is closed and drained through the
// rules, the store commits the last batch, forwarders send what the store holds until caught up
// or the deadline passes. Whatever is not forwarded stays in the store and goes out after the
// next start, so a stop never loses a committed record.
//
// Thread-safety: Start/Stop/ReplaceRules/Stats may be called from one controlling thread (the
// main thread); Stats() may also be called concurrently from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/config/gateway_config.h"
#include "gateway/core/clock.h"
#include "gateway/core/status.h"
#include "rules/engine.h"

namespace pn {

struct UpstreamState {
  std::string name;
  std::string state;  // "starting", "ok", "retrying", "stopped"
  std::uint64_t sent = 0;
  std::uint64_t errors = 0;      // failed sends (retried)
  std::uint64_t rejected = 0;    // records the upstream refused for good (kError)
  std::uint64_t cursor = 0;
  std::string last_error;
};

struct PipelineStats {
  std::uint64_t readings_in = 0;         // readings taken from the queue by the rules stage
  std::uint64_t readings_suppressed = 0;  // not forwarded (report-on-change)
  std::uint64_t events = 0;              // events from the rules
  std::uint64_t records_stored = 0;      // records committed to the store
  std::uint64_t store_errors = 0;        // failed commits (retried)
  std::uint64_t queue_dropped = 0;       // readings dropped by the queue's drop_oldest policy
  std::size_t queue_depth = 0;
  std::uint64_t store_last_seq = 0;
  std::vector<UpstreamState> upstreams;
};

class Pipeline {
 public:
  // Builds drivers and upstreams from `config` (which must outlive the pipeline) and opens the
  // store. Errors: a store that cannot be opened, a driver or upstream that cannot be created.
  static Result<std::unique_ptr<Pipeline>> Create(const config::GatewayConfig& config,
                                                  std::unique_ptr<rules::Engine> rules,
                                                  Clock& clock);
  ~Pipeline();

  // Starts every thread. REQUIRES: called once.
  Status Start();

  // Stops as described above, waiting at most `deadline`. Returns OK when every record reached
  // every upstream, or a status saying what is left in the store for the next start.
  Status Stop(std::chrono::milliseconds deadline);

  // Swaps in new rules at the next batch; the new engine adopts the state of unchanged rules.
  void ReplaceRules(std::unique_ptr<rules::Engine> rules);

  // True once every driver has returned from Run() by itself (e.g. a sim with max_samples).
  bool DriversFinished() const;
  // True when every record in the store has been delivered to every upstream.
  bool CaughtUp() const;

  PipelineStats Stats() const;

  class Impl;

 private:
  explicit Pipeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pn
