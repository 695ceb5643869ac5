// Forwarder: moves one upstream's records from the store to the upstream, one step at a time.
//
// A step reads a batch after the upstream's cursor, sends it, acknowledges what was delivered
// and says what to do next: go on at once, wait for new records (caught up), or back off until
// a monotonic time (a failed send, an upstream that cannot start, a store that refuses). The
// Forwarder never waits, sleeps or starts a thread itself: the pipeline's forwarder thread
// does the waiting (new records, stop, watchdog beats), and tests drive it step by step with a
// FakeClock.
//
// Delivery rules (see upstream.h): records [0, delivered) of a send are acknowledged whatever
// the code; kRetry backs off and sends the first undelivered record again; kError counts the
// undelivered records as rejected and skips them. The back-off is connect::Backoff: it starts
// at retry_initial_ms, doubles after every failure up to retry_max_ms, each wait drawn between
// (1 - retry_jitter) and 1 times that (equal jitter by default), and returns to
// retry_initial_ms after a send that does not fail.
//
// Pipelining (an upstream that has it, when ForwarderOptions::acknowledged is set): a send
// leaves its records in flight, the next step reads and sends the batch after them at once,
// and each step first collects the acknowledgements that arrived. Records are acknowledged in
// the store only once the upstream reports them delivered; a kRetry sends every record still
// in flight again from the last one acknowledged (at-least-once, as without pipelining).
//
// Thread-safety: LoadCursor(), Step() and Finish() from one thread (the forwarder thread);
// State(), Acked() and Sent() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/record.h"
#include "gateway/connect/backoff.h"
#include "gateway/pipeline/pipeline.h"
#include "gateway/store/store.h"
#include "gateway/upstream/upstream.h"

namespace pn {

struct ForwarderOptions {
  std::string name;  // the upstream's name: its cursor in the store, logs, UpstreamState.name
  std::int64_t batch_records = 1000;  // records per send at most
  std::int64_t retry_initial_ms = 500;
  std::int64_t retry_max_ms = 30000;
  // The random fraction of each wait (connect::BackoffPolicy::jitter); its generator is seeded
  // from the name, so upstreams retrying together spread out and tests are repeatable.
  double retry_jitter = 0.5;
  // Set: the forwarder turns on the upstream's pipelining (Upstream::EnablePipelining) with
  // this as its wake-up, called from any thread when acknowledgements arrive.
  std::function<void()> acknowledged;
};

class Forwarder {
 public:
  enum class Next {
    kAgain,      // step again at once
    kCaughtUp,   // nothing to send: wait for new records (or stop, when none will come)
    kBackOff,    // wait until `until_ns` (monotonic), then step again
    kAwaitAcks,  // nothing new to send, records in flight: wait for new records or for
                 // ForwarderOptions::acknowledged, then step again
  };
  struct StepResult {
    Next next = Next::kAgain;
    std::int64_t until_ns = 0;  // for kBackOff: Clock::MonotonicNs() to wait for
  };

  // `store`, `upstream` and `clock` must outlive the Forwarder. Does not touch any of them.
  Forwarder(Store& store, Upstream& upstream, Clock& clock, ForwarderOptions options);

  // Reads the upstream's cursor from the store. Step() calls it if it was not called; the
  // pipeline calls it as soon as its thread starts, so Acked() is right even if a stop comes
  // before the first step.
  void LoadCursor();

  // One iteration: starts the upstream if needed, reads the next batch if the last one is done,
  // sends, acknowledges, updates State() and computes the back-off. A caller that stops on
  // kCaughtUp once no more records will come must read its "no more records" flag before
  // calling Step(): the step's store read then sees every record committed before it.
  StepResult Step();

  // Stops the upstream (whether it started or not) and reports "stopped". Call once, last.
  void Finish();

  // What Stats() reports for this upstream (lag is left to the caller).
  UpstreamState State() const;
  // The highest sequence number acknowledged (in memory; the store's cursor after a refused
  // Ack may be lower).
  std::uint64_t Acked() const { return acked_.load(); }
  // The highest sequence number handed to the upstream (in flight or acknowledged): records
  // after it are the ones still to send.
  std::uint64_t Sent() const { return sent_.load(); }
  // Whether the upstream pipelines (known once the first step asked it).
  bool Pipelined() const { return pipelined_; }

 private:
  void SetState(const char* state, const std::string& error = {});
  // Schedules the next attempt after a failure and doubles the back-off for the one after.
  StepResult BackOff();
  // Acknowledges the first `n` records in flight (at most all of them) in the store.
  void Acknowledge(std::size_t n);
  // A failed send: records in flight are sent again, from the last one acknowledged.
  void ForgetInFlight();
  // A kRetry from Send() or Collect(): forgets what is in flight, counts, logs, backs off.
  StepResult Failed(const std::string& error);

  Store& store_;
  Upstream& upstream_;
  Clock& clock_;
  const ForwarderOptions options_;
  connect::Backoff backoff_;
  bool cursor_loaded_ = false;
  bool started_ = false;
  bool pipelining_asked_ = false;
  bool pipelined_ = false;
  std::uint64_t cursor_ = 0;
  // Sequence numbers handed to the upstream and not yet acknowledged, oldest first (empty
  // between steps unless the upstream pipelines).
  std::deque<std::uint64_t> inflight_;
  std::vector<Record> pending_;  // the batch being sent; [pending_from_, end) not yet delivered
  std::size_t pending_from_ = 0;
  std::uint64_t pending_rewrites_ = 0;  // Store::Rewrites() when pending_ was read

  mutable std::mutex mu_;  // guards state_
  UpstreamState state_;
  std::atomic<std::uint64_t> acked_{0};
  std::atomic<std::uint64_t> sent_{0};
};

}  // namespace pn
