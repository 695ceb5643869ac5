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
// Reload (Reconfigure()): drivers and upstreams can be stopped and started one by one while the
// rest keeps running. The queue, the rules thread, the store and its sequence numbers stay; a
// stopped driver's readings already queued go on through the rules; a restarted upstream's new
// forwarder resumes from the cursor the store holds for its name.
//
// Thread-safety: Start/Stop/Reconfigure/ReplaceRules/SetObserver are called from one controlling
// thread (the main thread). Stats(), StoreContents(), StalledThreads(), DriversFinished() and
// CaughtUp() may be called concurrently from any thread: the lists of drivers and upstreams are
// changed under a mutex those read under, so each call sees them before or after a
// Reconfigure() step, never half-changed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/reading.h"
#include "core/status.h"
#include "drivers/driver.h"
#include "gateway/clock/clock_watch.h"
#include "gateway/config/gateway_config.h"
#include "gateway/store/store.h"
#include "gateway/upstream/upstream.h"
#include "rules/engine.h"

namespace pn {

struct UpstreamState {
  std::string name;
  std::string state;  // "starting", "ok", "retrying", "stopped"
  std::uint64_t sent = 0;
  std::uint64_t errors = 0;    // failed sends and failed starts (each retried)
  std::uint64_t rejected = 0;  // records the upstream refused for good (kError)
  std::uint64_t cursor = 0;
  std::string last_error;
  std::uint64_t reconnects = 0;      // times the upstream went from "ok" to "retrying"
  std::int64_t last_success_ns = 0;  // wall clock of the last delivered batch; 0: none yet
  std::uint64_t lag = 0;             // records in the store not yet acknowledged by it
};

// One driver's counters (from DriverStats) as the health endpoint reports them.
struct DriverState {
  std::string name;
  std::string type;
  std::string state;  // "running", "blocked" (waiting for queue room), "finished"
  std::uint64_t readings = 0;
  std::uint64_t errors = 0;
  std::int64_t last_success_ns = 0;   // wall clock; 0: none yet
  std::int64_t heartbeat_age_ms = 0;  // time since the driver thread last showed progress
};

// Sees what the rules thread sees: every reading (including derived ones) and every event, on
// the rules thread, after the rules processed them. Must be quick and must not throw. Used by
// the status page's live view (gateway/health/live_view.h).
class PipelineObserver {
 public:
  virtual ~PipelineObserver() = default;
  virtual void OnReadings(std::span<const Reading> readings) = 0;
  virtual void OnEvents(std::span<const Event> events) = 0;
};

// What the store holds (heavier than Stats(): two small queries, and one per upstream).
struct StoreHealth {
  std::uint64_t records = 0;
  std::int64_t bytes_on_disk = 0;
  std::int64_t max_bytes = 0;     // configured bound; 0: unbounded
  std::int64_t oldest_ts_ns = 0;  // reading/event time of the oldest record held; 0 when empty
  // The oldest record was stamped by a clock not yet synchronised ("clock":"unsynced"): its
  // time, and so its age, is unknown until the clock syncs and the store corrects it.
  bool oldest_unsynced = false;
  StoreDrops drops;  // records the store's bounds dropped, per reason
  // Per upstream (Stats().upstreams order, names in pending_names: a reload between Stats() and
  // StoreContents() may change the list): the time of the oldest record it has not
  // acknowledged; 0 when it has everything.
  std::vector<std::int64_t> oldest_pending_ts_ns;
  std::vector<std::string> pending_names;
};

struct PipelineStats {
  std::uint64_t readings_in = 0;          // readings taken from the queue by the rules stage
  std::uint64_t readings_suppressed = 0;  // not forwarded (report-on-change)
  std::uint64_t events = 0;               // events from the rules
  std::uint64_t records_stored = 0;       // records committed to the store
  std::uint64_t store_errors = 0;         // failed commits (retried)
  std::uint64_t queue_dropped = 0;        // readings dropped by the queue's drop_oldest policy
  std::size_t queue_depth = 0;
  std::uint64_t store_last_seq = 0;
  // Records the store dropped because of its bounds (see gateway/store/README.md), since the
  // store file was created.
  std::uint64_t store_dropped_age = 0;
  std::uint64_t store_dropped_size_readings = 0;
  std::uint64_t store_dropped_size_events = 0;
  std::uint64_t store_rejected = 0;
  std::vector<UpstreamState> upstreams;
  // Added for health and metrics (gateway/health/).
  std::size_t queue_capacity = 0;
  std::uint64_t anomalies = 0;  // events by kind
  std::uint64_t alarms = 0;
  std::uint64_t clears = 0;
  std::uint64_t rule_ticks = 0;      // periodic rule evaluations without a reading
  std::uint64_t store_given_up = 0;  // records dropped: store commit failed at shutdown
  std::vector<DriverState> drivers;
  ClockStatus clock;                  // the wall clock as the rules stage follows it
  std::uint64_t clock_corrected = 0;  // records whose time was corrected (store + in flight)
};

// A driver or upstream built from its settings, not running yet. Create() and a reload build them
// the same way, so a reload meets every error a start would before it changes anything.
struct BuiltDriver {
  std::string name;
  std::string type;
  std::unique_ptr<Driver> driver;
};
struct BuiltUpstream {
  std::string name;
  std::unique_ptr<Upstream> upstream;
  std::int64_t batch_records = 1000;
  std::int64_t retry_initial_ms = 500;
  std::int64_t retry_max_ms = 30000;
};
// Errors: the factory's, prefixed with "driver NAME: " / "upstream NAME: ".
Result<BuiltDriver> BuildDriver(const config::DriverInstance& instance, Clock& clock);
Result<BuiltUpstream> BuildUpstream(const config::UpstreamInstance& instance,
                                    const std::string& gateway_id, Clock& clock);

// What Reconfigure() changes. A changed instance is in both a stop list and a start list.
struct Reconfiguration {
  std::vector<std::string> stop_drivers;   // removed or changed, by name
  std::vector<BuiltDriver> start_drivers;  // added or changed
  std::vector<std::string> stop_upstreams;
  std::vector<BuiltUpstream> start_upstreams;
  // Every driver / upstream after the change, in config order (the order Stats() lists).
  std::vector<std::string> driver_order;
  std::vector<std::string> upstream_order;
  // Applied at once.
  std::int64_t stall_timeout_ms = 60000;
  std::int64_t store_batch_records = 1000;
  std::int64_t store_batch_ms = 100;
};

class Pipeline {
 public:
  // Builds drivers and upstreams from `config` and opens the store; keeps what it needs of
  // `config` (which need not outlive it). Errors: a store that cannot be opened, a driver or
  // upstream that cannot be created.
  // `sync_source`: nullptr builds the one [clock] names (tests pass their own).
  static Result<std::unique_ptr<Pipeline>> Create(
      const config::GatewayConfig& config, std::unique_ptr<rules::Engine> rules, Clock& clock,
      std::unique_ptr<SyncSource> sync_source = nullptr);
  ~Pipeline();

  // Starts every thread. REQUIRES: called once.
  Status Start();

  // Stops as described above, waiting at most `deadline`. Returns OK when every record reached
  // every upstream, or a status saying what is left in the store for the next start.
  Status Stop(std::chrono::milliseconds deadline);

  // Installs an observer of readings and events (nullptr: none), before Start() or while it runs
  // (a reload turning the status page on). REQUIRES: the observer outlives the pipeline's
  // threads (Stop()).
  void SetObserver(PipelineObserver* observer);

  // Swaps in new rules at the next batch; the new engine adopts the state of unchanged rules.
  void ReplaceRules(std::unique_ptr<rules::Engine> rules);

  // Reload: first gives every upstream of `upstream_order` a cursor in the store (an error
  // there is returned and nothing changed); then stops the drivers and upstreams named (each
  // thread joined: a driver within its stop latency, an upstream after its current send), starts
  // the new upstreams (each from the store's cursor for its name) and drivers, and removes the
  // cursors of upstreams no longer listed (records only they held are released; a failure there
  // is logged and the cursor stays until the next start). Instances not named keep running
  // untouched. REQUIRES: after Start(), before Stop(); names in stop lists are running.
  Status Reconfigure(Reconfiguration changes);

  // True once every driver has returned from Run() by itself (e.g. a sim with max_samples).
  bool DriversFinished() const;
  // True when every record in the store has been delivered to every upstream.
  bool CaughtUp() const;

  PipelineStats Stats() const;

  // Store contents for metrics. Safe from any thread.
  StoreHealth StoreContents() const;

  // The pipeline threads that showed no progress for longer than `stall`: "driver NAME",
  // "rules", "store", "upstream NAME". Empty when every thread makes progress. A thread waiting
  // for room downstream (back-pressure) or one that finished by itself is not stalled; a thread
  // waiting for work beats while it waits. Drivers beat at least once per poll, so `stall` must
  // exceed the longest poll interval. Safe from any thread.
  std::vector<std::string> StalledThreads(std::chrono::milliseconds stall) const;

  class Impl;

 private:
  explicit Pipeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pn
