#include "gateway/pipeline/pipeline.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "core/bounded_queue.h"
#include "core/record.h"
#include "gateway/clock/clock_watch.h"
#include "gateway/pipeline/forwarder.h"
#include "gateway/store/store.h"

namespace pn {

namespace {

using std::chrono::milliseconds;
using Chunk = std::vector<NewRecord>;

// Names the calling thread as `top -H`, `ps -L` and /proc show it (at most 15 bytes).
void NameThread(const std::string& name) {
  (void)pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

class QueueSink final : public ReadingSink {
 public:
  explicit QueueSink(BoundedQueue<Reading>& q) : q_(q) {}
  bool Deliver(std::vector<Reading>& batch) override {
    in_deliver_.store(true, std::memory_order_relaxed);
    std::size_t n = q_.PushBatch(batch);
    in_deliver_.store(false, std::memory_order_relaxed);
    batch.clear();
    return n > 0 || !q_.closed();
  }
  // True while the driver waits inside Deliver (back-pressure from a full queue).
  bool in_deliver() const { return in_deliver_.load(std::memory_order_relaxed); }

 private:
  BoundedQueue<Reading>& q_;
  std::atomic<bool> in_deliver_{false};
};

// Progress of one pipeline thread for the watchdog: the monotonic time of its last beat and how
// much longer than usual it may legitimately stay silent (a retry back-off, say).
struct Beat {
  std::atomic<std::int64_t> at_ns{0};
  std::atomic<std::int64_t> allowance_ns{0};
  std::atomic<bool> waiting_downstream{false};  // blocked on back-pressure, not stuck itself
  void Mark(std::int64_t now, std::int64_t allowance = 0) {
    allowance_ns.store(allowance, std::memory_order_relaxed);
    at_ns.store(now, std::memory_order_relaxed);
  }
};

// One upstream: its forwarding logic (forwarder.h) and the thread that runs it.
struct ForwarderThread {
  std::string name;
  std::unique_ptr<Upstream> upstream;
  std::unique_ptr<Forwarder> forwarder;  // state and acked count, read by Stats() and Stop()
  std::thread thread;
  Beat beat;
  std::atomic<bool> stop{false};       // a reload stops this one alone (set under fwd_mu_)
  std::atomic<std::uint64_t> acks{0};  // acknowledgement wake-ups (incremented under fwd_mu_)
};

// One driver: the instance, its sink into the shared queue and the thread that runs it.
struct DriverSlot {
  DriverSlot(BuiltDriver built, BoundedQueue<Reading>& queue)
      : name(std::move(built.name)),
        type(std::move(built.type)),
        driver(std::move(built.driver)),
        sink(queue) {}
  std::string name;
  std::string type;
  std::unique_ptr<Driver> driver;
  QueueSink sink;
  std::atomic<bool> finished{false};        // Run() returned
  std::atomic<std::int64_t> started_ns{0};  // monotonic; a driver that never beat counts from here
  std::jthread thread;
};

// `wake(f)` is called by f's upstream when acknowledgements arrive (pipelining).
std::unique_ptr<ForwarderThread> MakeForwarder(BuiltUpstream built, Store& store, Clock& clock,
                                               const std::function<void(ForwarderThread&)>& wake) {
  auto f = std::make_unique<ForwarderThread>();
  f->name = built.name;
  f->upstream = std::move(built.upstream);
  ForwarderOptions options;
  options.name = built.name;
  options.batch_records = built.batch_records;
  options.retry_initial_ms = built.retry_initial_ms;
  options.retry_max_ms = built.retry_max_ms;
  options.acknowledged = [wake, fp = f.get()] { wake(*fp); };
  f->forwarder = std::make_unique<Forwarder>(store, *f->upstream, clock, options);
  return f;
}

// Puts the items whose names are in `order` in that order (others, if any, at the end).
template <typename T>
void SortByName(std::vector<std::unique_ptr<T>>& items, const std::vector<std::string>& order) {
  auto rank = [&](const std::unique_ptr<T>& x) {
    return static_cast<std::size_t>(std::find(order.begin(), order.end(), x->name) - order.begin());
  };
  std::stable_sort(items.begin(), items.end(),
                   [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
}

}  // namespace

class Pipeline::Impl {
 public:
  Impl(const config::GatewayConfig& cfg, Clock& clock)
      : clock_(clock),
        readings_(cfg.queue.capacity, cfg.queue.overflow),
        chunks_(8, OverflowPolicy::kBlock),
        store_path_(cfg.store.path),
        stall_timeout_ms_(cfg.health.stall_timeout_ms),
        store_batch_records_(cfg.store.batch_records),
        store_batch_ms_(cfg.store.batch_ms) {}

  Clock& clock_;
  BoundedQueue<Reading> readings_;
  BoundedQueue<Chunk> chunks_;
  const std::string store_path_;
  // Settings a reload changes live (read by the threads at every wait or batch).
  std::atomic<std::int64_t> stall_timeout_ms_;
  std::atomic<std::int64_t> store_batch_records_;
  std::atomic<std::int64_t> store_batch_ms_;
  std::atomic<std::int64_t> started_ns_{0};  // monotonic; 0 before Start()
  std::atomic<bool> stopping_{false};
  Beat rules_beat_, store_beat_;
  std::atomic<std::uint64_t> anomalies_{0}, alarms_{0}, clears_{0}, rule_ticks_{0},
      store_given_up_{0};
  std::unique_ptr<Store> store_;
  std::uint64_t run_start_seq_ = 0;  // the store's last seq before this run (clock corrections)

  // The wall clock as the rules thread follows it (only that thread calls it but Status()).
  std::unique_ptr<ClockWatch> watch_;
  // Corrections of unsynchronised times, for the store thread to apply once it has committed
  // the first `after_chunks` chunks the rules thread pushed (those hold every record the
  // correction is for; later ones were corrected by the rules thread itself).
  struct ClockPost {
    std::uint64_t after_chunks = 0;
    ClockCorrection correction;
  };
  std::mutex clock_mu_;
  std::deque<ClockPost> clock_posts_;
  std::uint64_t chunks_pushed_ = 0;  // rules thread only
  std::atomic<std::uint64_t> clock_corrected_{0};

  std::mutex rules_mu_;
  std::unique_ptr<rules::Engine> rules_;
  std::unique_ptr<rules::Engine> pending_rules_;

  // The running drivers and upstreams. Their lists change only on the controlling thread
  // (Reconfigure), under instances_mu_; other threads (Stats, the watchdog) read them under it.
  // The controlling thread reads them without it. Elements are never moved in memory (the
  // threads hold pointers to them).
  mutable std::mutex instances_mu_;
  std::vector<std::unique_ptr<DriverSlot>> drivers_;
  std::vector<std::unique_ptr<ForwarderThread>> forwarders_;
  std::atomic<std::size_t> drivers_running_{0};
  std::thread rules_thread_;
  std::thread store_thread_;

  // Forwarder wake-up when the store commits, and the stop protocol.
  std::mutex fwd_mu_;
  std::condition_variable fwd_cv_;
  std::atomic<bool> forwarders_draining_{false};  // store finished; send what is left and exit
  std::atomic<bool> forwarders_abort_{false};     // deadline passed; exit now
  std::atomic<bool> stop_store_{false};

  std::atomic<std::uint64_t> readings_in_{0}, suppressed_{0}, events_{0}, stored_{0},
      store_errors_{0};
  std::atomic<PipelineObserver*> observer_{nullptr};  // called on the rules thread

  // How long a thread with nothing to do waits before it looks again (and beats for the
  // watchdog): a quarter of the stall limit, at most 1 s. Work (a reading, a chunk, a commit,
  // the stop) wakes the waits at once; this only bounds how often an idle gateway wakes up.
  milliseconds IdleWait() const {
    return milliseconds(std::clamp<std::int64_t>(stall_timeout_ms_.load() / 4, 20, 1000));
  }

  void StartDriver(DriverSlot& slot) {
    slot.started_ns = clock_.MonotonicNs();
    ++drivers_running_;
    DriverSlot* sp = &slot;
    slot.thread = std::jthread([this, sp](std::stop_token st) {
      NameThread("drv:" + sp->name);
      sp->driver->Run(st, sp->sink);
      spdlog::debug("driver {} finished", sp->name);
      sp->finished.store(true);
      --drivers_running_;
    });
  }

  // What an upstream's acknowledgements call: counts them for the forwarder's wait below,
  // through the mutex so that a forwarder between its step and its wait cannot miss one.
  std::function<void(ForwarderThread&)> WakeOnAcks() {
    return [this](ForwarderThread& f) {
      {
        std::lock_guard lock(fwd_mu_);
        ++f.acks;
      }
      fwd_cv_.notify_all();
    };
  }

  void StartForwarder(ForwarderThread& f) {
    f.beat.Mark(clock_.MonotonicNs());
    ForwarderThread* fp = &f;
    f.thread = std::thread([this, fp] {
      NameThread("up:" + fp->name);
      ForwardLoop(*fp);
    });
  }

  void RulesLoop() {
    std::vector<Reading> batch;
    std::vector<Event> events;
    std::vector<Reading> derived;
    Chunk chunk;
    std::int64_t last_tick_ns = clock_.MonotonicNs();
    std::int64_t last_poll_ns = last_tick_ns;
    batch.reserve(4096);
    auto count_events = [this](const std::vector<Event>& evs) {
      for (const Event& e : evs) {
        if (e.kind == EventKind::kAnomaly) ++anomalies_;
        if (e.kind == EventKind::kAlarm) ++alarms_;
        if (e.kind == EventKind::kClear) ++clears_;
      }
    };
    // Pushing a chunk may wait for the store stage: back-pressure, not a stall of this thread.
    auto push_chunk = [this](Chunk&& c) {
      rules_beat_.waiting_downstream = true;
      chunks_.Push(std::move(c));
      rules_beat_.waiting_downstream = false;
      ++chunks_pushed_;
    };
    // Events caused by a reading (or a tick) get its clock mark and its time as recorded: the
    // rules worked on the rules' timeline, `delta` away from it.
    auto stamp_events = [](std::vector<Event>& evs, const ClockWatch::Stamp& st) {
      const std::int64_t delta = st.ts_ns - st.rules_ts_ns;
      for (Event& e : evs) {
        e.ts_ns += delta;
        e.clock = st.mark;
      }
    };
    for (;;) {
      rules_beat_.Mark(clock_.MonotonicNs());
      batch.clear();
      // Wake for the next tick (when there are rules), else when idle.
      milliseconds wait = IdleWait();
      if (rules_) {
        const std::int64_t to_tick = last_tick_ns + 1'000'000'000 - clock_.MonotonicNs();
        wait = std::min(wait, milliseconds(std::max<std::int64_t>(1, to_tick / 1'000'000 + 1)));
      }
      std::size_t n = readings_.PopBatch(batch, 4096, wait);
      {
        std::lock_guard lock(rules_mu_);
        if (pending_rules_) {
          if (rules_) pending_rules_->AdoptState(*rules_);
          rules_ = std::move(pending_rules_);
          spdlog::info("rules reloaded: {} rules", rules_->rule_count());
        }
      }
      // The clock's state, once a second, before the tick (which needs it).
      std::int64_t mono = clock_.MonotonicNs();
      if (mono - last_poll_ns >= 1'000'000'000) {
        last_poll_ns = mono;
        ClockWatch::Change change = watch_->Poll();
        if (!change.corrections.empty()) {
          // Every record the corrections are for is in this chunk or an earlier one.
          if (!chunk.empty()) {
            push_chunk(std::move(chunk));
            chunk = Chunk();
          }
          std::lock_guard lock(clock_mu_);
          for (const ClockCorrection& c : change.corrections) {
            clock_posts_.push_back(ClockPost{chunks_pushed_, c});
          }
        }
      }
      // Stale-data checks need time to pass even when no reading comes: tick once a second.
      if (rules_ && mono - last_tick_ns >= 1'000'000'000) {
        last_tick_ns = mono;
        events.clear();
        const ClockWatch::Stamp now = watch_->Now();
        rules_->Tick(now.rules_ts_ns, events);
        stamp_events(events, now);
        ++rule_ticks_;
        if (PipelineObserver* o = observer_.load(); o != nullptr && !events.empty()) {
          o->OnEvents(events);
        }
        for (const Event& e : events) chunk.push_back(ToRecord(e));
        events_ += events.size();
        count_events(events);
      }
      if (n == 0) {
        if (!chunk.empty()) {
          push_chunk(std::move(chunk));
          chunk = Chunk();
        }
        if (readings_.closed()) break;
        continue;
      }
      chunk.reserve(chunk.size() + n);
      PipelineObserver* const observer = observer_.load();
      const std::int64_t popped_at = clock_.MonotonicNs();  // after every stamp in the batch
      for (Reading& r : batch) {
        events.clear();
        // The rules see the reading on their timeline (no clock jumps); it is recorded with its
        // mark and, once the offset is known, its corrected time.
        const ClockWatch::Stamp st = watch_->Classify(r.ts_ns, r.source_time, popped_at);
        r.clock = st.mark;
        if (st.mark == ClockMark::kCorrected) ++clock_corrected_;
        bool forward = true;
        if (rules_) {
          r.ts_ns = st.rules_ts_ns;
          forward = rules_->Process(r, events);
          stamp_events(events, st);
        }
        r.ts_ns = st.ts_ns;
        if (forward) {
          chunk.push_back(ToRecord(r));
        } else {
          ++suppressed_;
        }
        if (rules_) {
          derived.clear();
          rules_->TakeDerived(derived);
          for (Reading& d : derived) {
            d.ts_ns += st.ts_ns - st.rules_ts_ns;
            d.clock = st.mark;
            chunk.push_back(ToRecord(d));
          }
          if (observer != nullptr && !derived.empty()) observer->OnReadings(derived);
        }
        if (observer != nullptr && !events.empty()) observer->OnEvents(events);
        for (const Event& e : events) chunk.push_back(ToRecord(e));
        events_ += events.size();
        count_events(events);
      }
      readings_in_ += n;
      if (observer != nullptr) observer->OnReadings(batch);
      if (!chunk.empty()) {
        push_chunk(std::move(chunk));
        chunk = Chunk();
      }
    }
    chunks_.Close();
  }

  // Applies the clock corrections whose records are all committed (`committed` chunks).
  void ApplyClockCorrections(std::uint64_t committed) {
    std::vector<ClockCorrection> ready;
    {
      std::lock_guard lock(clock_mu_);
      while (!clock_posts_.empty() && clock_posts_.front().after_chunks <= committed) {
        ready.push_back(clock_posts_.front().correction);
        clock_posts_.pop_front();
      }
    }
    for (const ClockCorrection& c : ready) {
      auto n = store_->CorrectClock(run_start_seq_, c.ts_lo_ns, c.ts_hi_ns, c.offset_ns);
      if (!n) {
        spdlog::error(
            "clock: correcting the times of stored records failed: {}; they stay "
            "marked \"clock\":\"unsynced\"",
            n.error().ToString());
        continue;
      }
      clock_corrected_ += *n;
      spdlog::info(
          "clock: corrected the times of {} stored records taken unsynchronised by "
          "{:+.3f} s",
          *n, static_cast<double>(c.offset_ns) / 1e9);
    }
  }

  void StoreLoop() {
    std::vector<Chunk> got;
    Chunk batch;
    std::int64_t first_at = 0;
    std::uint64_t chunks_taken = 0;
    bool closed = false;
    while (!closed || !batch.empty()) {
      store_beat_.Mark(clock_.MonotonicNs());
      if (batch.empty()) ApplyClockCorrections(chunks_taken);  // all taken are committed
      // Read at every batch: a reload may change them.
      const std::size_t max_batch = static_cast<std::size_t>(store_batch_records_.load());
      const std::int64_t max_wait_ns = store_batch_ms_.load() * 1'000'000;
      if (!closed) {
        std::int64_t wait_ns =
            batch.empty()
                ? IdleWait().count() * 1'000'000
                : std::max<std::int64_t>(0, first_at + max_wait_ns - clock_.MonotonicNs());
        got.clear();
        std::size_t n = chunks_.PopBatch(got, 16, milliseconds(wait_ns / 1'000'000));
        if (n == 0 && chunks_.closed()) closed = true;
        chunks_taken += got.size();
        for (Chunk& c : got) {
          if (batch.empty()) first_at = clock_.MonotonicNs();
          for (NewRecord& r : c) batch.push_back(std::move(r));
        }
      }
      bool due = !batch.empty() && (closed || batch.size() >= max_batch ||
                                    clock_.MonotonicNs() - first_at >= max_wait_ns);
      if (!due) continue;
      // Commit in slices of at most max_batch records, one transaction each.
      std::size_t done = 0;
      while (done < batch.size()) {
        std::size_t len = std::min(max_batch, batch.size() - done);
        auto res = store_->Append(std::span<const NewRecord>(batch.data() + done, len));
        if (!res) {
          ++store_errors_;
          spdlog::error("store: commit of {} records failed: {}; retrying in 1 s", len,
                        res.error().ToString());
          if (stop_store_) {
            spdlog::error("store: giving up on {} uncommitted records at shutdown",
                          batch.size() - done);
            store_given_up_ += batch.size() - done;
            done = batch.size();
            break;
          }
          store_beat_.Mark(clock_.MonotonicNs(), 1'000'000'000);
          std::this_thread::sleep_for(milliseconds(1000));
          continue;
        }
        // A slice that full_policy reject_new refused is not retried; the store counts it.
        stored_ += len - res->rejected;
        done += len;
        // Through the mutex: a forwarder between its check of LastSeq() and its wait cannot
        // miss this commit (it would sleep a whole IdleWait()).
        { std::lock_guard lock(fwd_mu_); }
        fwd_cv_.notify_all();
      }
      batch.clear();
    }
    ApplyClockCorrections(chunks_taken);
    {
      // Under the mutex: a forwarder between its check and its wait cannot miss the wake-up.
      std::lock_guard lock(fwd_mu_);
      forwarders_draining_ = true;
    }
    fwd_cv_.notify_all();
  }

  // Runs one forwarder until the store is drained (Stop()) or the deadline aborts it. The
  // Forwarder decides what to send and how long to back off; this loop only waits, so that a
  // commit, the drain or the abort wakes it, and beats for the watchdog.
  void ForwardLoop(ForwarderThread& t) {
    Forwarder& f = *t.forwarder;
    f.LoadCursor();
    while (!forwarders_abort_ && !t.stop) {
      t.beat.Mark(clock_.MonotonicNs());
      const bool draining = forwarders_draining_;  // read before Step()'s store read: no loss
      const std::uint64_t acks = t.acks;  // before Step()'s collect: a later one wakes the wait
      const Forwarder::StepResult step = f.Step();
      if (step.next == Forwarder::Next::kBackOff) {
        // Only the abort (or this forwarder's stop) cuts a back-off short; commits wake the wait
        // but do not end it.
        std::int64_t now = clock_.MonotonicNs();
        t.beat.Mark(now, std::max<std::int64_t>(0, step.until_ns - now));
        std::unique_lock lock(fwd_mu_);
        while (!forwarders_abort_ && !t.stop && now < step.until_ns) {
          fwd_cv_.wait_for(lock, std::chrono::nanoseconds(step.until_ns - now));
          now = clock_.MonotonicNs();
        }
      } else if (step.next == Forwarder::Next::kCaughtUp) {
        if (draining) break;
        std::unique_lock lock(fwd_mu_);
        fwd_cv_.wait_for(lock, IdleWait(), [&] {
          return forwarders_abort_.load() || t.stop.load() || forwarders_draining_.load() ||
                 store_->LastSeq() > f.Sent();
        });
      } else if (step.next == Forwarder::Next::kAwaitAcks) {
        // Records in flight and nothing new: their acknowledgements or new records end the
        // wait (the upstream's timeout bounds it: Collect() then fails). Draining goes on
        // until the records in flight are acknowledged.
        std::unique_lock lock(fwd_mu_);
        fwd_cv_.wait_for(lock, IdleWait(), [&] {
          return forwarders_abort_.load() || t.stop.load() || t.acks.load() != acks ||
                 store_->LastSeq() > f.Sent();
        });
      }
    }
    f.Finish();
  }
};

Pipeline::Pipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Pipeline::~Pipeline() {
  if (impl_ && (impl_->rules_thread_.joinable() || impl_->store_thread_.joinable())) {
    (void)Stop(milliseconds(0));
  }
}

Result<BuiltDriver> BuildDriver(const config::DriverInstance& d, Clock& clock) {
  DriverContext ctx{d.name, &clock};
  auto drv = d.type->create(d.settings, ctx);
  if (!drv) {
    return Err(Status(drv.error().code(), "driver " + d.name + ": " + drv.error().message()));
  }
  return BuiltDriver{d.name, d.type->type, std::move(*drv)};
}

Result<BuiltUpstream> BuildUpstream(const config::UpstreamInstance& u,
                                    const std::string& gateway_id, Clock& clock) {
  UpstreamContext ctx{u.name, gateway_id, &clock};
  auto up = u.type->create(u.settings, ctx);
  if (!up) {
    return Err(Status(up.error().code(), "upstream " + u.name + ": " + up.error().message()));
  }
  return BuiltUpstream{u.name, std::move(*up), u.batch_records, u.retry_initial_ms, u.retry_max_ms};
}

Result<std::unique_ptr<Pipeline>> Pipeline::Create(const config::GatewayConfig& cfg,
                                                   std::unique_ptr<rules::Engine> rules,
                                                   Clock& clock,
                                                   std::unique_ptr<SyncSource> sync_source) {
  auto impl = std::make_unique<Impl>(cfg, clock);
  impl->rules_ = std::move(rules);
  std::vector<std::string> names;
  for (const auto& u : cfg.upstreams) names.push_back(u.name);
  StoreOptions store_options{cfg.store.path, cfg.store.synchronous};
  store_options.max_bytes = cfg.store.max_bytes;
  store_options.max_age_s = cfg.store.max_age_s;
  store_options.full_policy =
      cfg.store.full_policy == "reject_new" ? FullPolicy::kRejectNew : FullPolicy::kDropOldest;
  store_options.on_corrupt =
      cfg.store.on_corrupt == "fail" ? CorruptPolicy::kFail : CorruptPolicy::kMoveAside;
  store_options.clock = &clock;
  auto store = Store::Open(store_options, names);
  if (!store) return Err(store.error());
  impl->store_ = std::move(*store);
  impl->run_start_seq_ = impl->store_->LastSeq();
  if (!sync_source) {
    if (cfg.clock.sync_source == "timesyncd") {
      sync_source = MakeFileSyncSource(cfg.clock.timesyncd_file);
    } else if (cfg.clock.sync_source == "none") {
      sync_source = MakeAssumeSyncedSource();
    } else {
      sync_source = MakeKernelSyncSource();
    }
  }
  impl->watch_ = std::make_unique<ClockWatch>(
      clock, std::move(sync_source),
      ClockWatch::Options{.step_threshold_ns = cfg.clock.step_threshold_ms * 1'000'000});

  for (const auto& d : cfg.drivers) {
    auto built = BuildDriver(d, clock);
    if (!built) return Err(built.error());
    impl->drivers_.push_back(std::make_unique<DriverSlot>(std::move(*built), impl->readings_));
  }
  for (const auto& u : cfg.upstreams) {
    auto built = BuildUpstream(u, cfg.gateway.id, clock);
    if (!built) return Err(built.error());
    impl->forwarders_.push_back(
        MakeForwarder(std::move(*built), *impl->store_, clock, impl->WakeOnAcks()));
  }
  return std::unique_ptr<Pipeline>(new Pipeline(std::move(impl)));
}

Status Pipeline::Start() {
  Impl& m = *impl_;
  const std::int64_t start_ns = m.clock_.MonotonicNs();
  m.rules_beat_.Mark(start_ns);
  m.store_beat_.Mark(start_ns);
  m.started_ns_ = start_ns;
  for (auto& f : m.forwarders_) m.StartForwarder(*f);
  m.store_thread_ = std::thread([&m] {
    NameThread("store");
    m.StoreLoop();
  });
  m.rules_thread_ = std::thread([&m] {
    NameThread("rules");
    m.RulesLoop();
  });
  for (auto& d : m.drivers_) m.StartDriver(*d);
  spdlog::info("pipeline started: {} drivers, {} upstreams, store {}", m.drivers_.size(),
               m.forwarders_.size(), m.store_path_);
  return Status::Ok();
}

Status Pipeline::Reconfigure(Reconfiguration r) {
  Impl& m = *impl_;
  // 1. Cursors for every upstream the new config has, before anything stops: the only step
  // that may fail, and a failure leaves everything as it was.
  {
    std::vector<std::string> both = r.upstream_order;
    for (const auto& f : m.forwarders_) {
      if (std::find(both.begin(), both.end(), f->name) == both.end()) both.push_back(f->name);
    }
    Status s = m.store_->SetUpstreams(both);
    if (!s.ok()) return Status(s.code(), "cannot add the new upstreams' cursors: " + s.message());
  }
  m.stall_timeout_ms_ = r.stall_timeout_ms;
  m.store_batch_records_ = r.store_batch_records;
  m.store_batch_ms_ = r.store_batch_ms;

  // 2. Stop the drivers to stop: out of the lists first (Stats() no longer shows them), then
  // all asked at once and joined. Readings they queued go on through the rules.
  std::vector<std::unique_ptr<DriverSlot>> old_drivers;
  std::vector<std::unique_ptr<ForwarderThread>> old_forwarders;
  {
    std::lock_guard lock(m.instances_mu_);
    for (const std::string& name : r.stop_drivers) {
      auto it = std::find_if(m.drivers_.begin(), m.drivers_.end(),
                             [&](const auto& d) { return d->name == name; });
      if (it == m.drivers_.end()) continue;
      old_drivers.push_back(std::move(*it));
      m.drivers_.erase(it);
    }
    for (const std::string& name : r.stop_upstreams) {
      auto it = std::find_if(m.forwarders_.begin(), m.forwarders_.end(),
                             [&](const auto& f) { return f->name == name; });
      if (it == m.forwarders_.end()) continue;
      old_forwarders.push_back(std::move(*it));
      m.forwarders_.erase(it);
    }
  }
  for (auto& d : old_drivers) d->thread.request_stop();
  for (auto& d : old_drivers) {
    if (d->thread.joinable()) d->thread.join();
  }
  // 3. Stop the upstreams to stop. Each forwarder finishes its current step (a send in flight
  // completes or fails; what it delivered is acknowledged) and stops its upstream; the store
  // keeps its cursor, so a restarted one resumes there (at-least-once, as after a restart).
  {
    std::lock_guard lock(m.fwd_mu_);
    for (auto& f : old_forwarders) f->stop = true;
  }
  m.fwd_cv_.notify_all();
  for (auto& f : old_forwarders) {
    if (f->thread.joinable()) f->thread.join();
  }
  old_forwarders.clear();
  old_drivers.clear();

  // 4. Start the new upstreams (each loads its cursor from the store), then the new drivers.
  std::vector<ForwarderThread*> new_forwarders;
  std::vector<DriverSlot*> new_drivers;
  {
    std::lock_guard lock(m.instances_mu_);
    for (auto& u : r.start_upstreams) {
      m.forwarders_.push_back(MakeForwarder(std::move(u), *m.store_, m.clock_, m.WakeOnAcks()));
      new_forwarders.push_back(m.forwarders_.back().get());
    }
    for (auto& d : r.start_drivers) {
      m.drivers_.push_back(std::make_unique<DriverSlot>(std::move(d), m.readings_));
      new_drivers.push_back(m.drivers_.back().get());
    }
    SortByName(m.forwarders_, r.upstream_order);
    SortByName(m.drivers_, r.driver_order);
  }
  for (ForwarderThread* f : new_forwarders) m.StartForwarder(*f);
  for (DriverSlot* d : new_drivers) m.StartDriver(*d);

  // 5. Remove the cursors of the upstreams that are gone. We drop them rather than keep them, as
  // a restart with this config would: a kept cursor would hold every record it has not
  // acknowledged until the store's bounds dropped them. Re-added later, an upstream starts with
  // what the store holds, like a new one.
  Status s = m.store_->SetUpstreams(r.upstream_order);
  if (!s.ok()) {
    spdlog::warn(
        "reload: cannot remove the cursors of removed upstreams ({}); they stay until "
        "the next start",
        s.ToString());
  }
  return Status::Ok();
}

Status Pipeline::Stop(milliseconds deadline) {
  Impl& m = *impl_;
  m.stopping_ = true;
  const std::int64_t end = m.clock_.MonotonicNs() + deadline.count() * 1'000'000;
  // 1. Drivers: ask every one to stop, then wait for them.
  for (auto& d : m.drivers_) d->thread.request_stop();
  m.readings_.Close();  // wakes drivers blocked on a full queue
  for (auto& d : m.drivers_) {
    if (d->thread.joinable()) d->thread.join();
  }
  // 2. Rules drain the queue, 3. the store commits the last batch.
  if (m.rules_thread_.joinable()) m.rules_thread_.join();
  m.stop_store_ = true;
  if (m.store_thread_.joinable()) m.store_thread_.join();
  // 4. Forwarders send what is left until caught up or the deadline passes.
  for (;;) {
    bool all_done = true;
    for (auto& f : m.forwarders_) {
      if (f->forwarder->Acked() < m.store_->LastSeq()) all_done = false;
    }
    if (all_done || m.clock_.MonotonicNs() >= end) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  {
    // Under the mutex: a forwarder between its check and its wait (a back-off of up to
    // retry_max_ms) cannot miss the abort.
    std::lock_guard lock(m.fwd_mu_);
    m.forwarders_abort_ = true;
  }
  m.fwd_cv_.notify_all();
  for (auto& f : m.forwarders_) {
    if (f->thread.joinable()) f->thread.join();
  }
  std::uint64_t last = m.store_->LastSeq();
  std::string behind;
  for (auto& f : m.forwarders_) {
    std::uint64_t acked = f->forwarder->Acked();
    if (acked < last) {
      if (!behind.empty()) behind += ", ";
      behind += f->name + " (" + std::to_string(last - acked) + " records)";
    }
  }
  if (!behind.empty()) {
    return Status::Unavailable("not yet forwarded, kept in the store for the next start: " +
                               behind);
  }
  return Status::Ok();
}

void Pipeline::ReplaceRules(std::unique_ptr<rules::Engine> rules) {
  std::lock_guard lock(impl_->rules_mu_);
  impl_->pending_rules_ = std::move(rules);
}

bool Pipeline::DriversFinished() const { return impl_->drivers_running_.load() == 0; }

bool Pipeline::CaughtUp() const {
  std::uint64_t last = impl_->store_->LastSeq();
  std::lock_guard lock(impl_->instances_mu_);
  for (auto& f : impl_->forwarders_) {
    if (f->forwarder->Acked() < last) return false;
  }
  return true;
}

PipelineStats Pipeline::Stats() const {
  const Impl& m = *impl_;
  PipelineStats s;
  s.readings_in = m.readings_in_;
  s.readings_suppressed = m.suppressed_;
  s.events = m.events_;
  s.records_stored = m.stored_;
  s.store_errors = m.store_errors_;
  QueueCounters qc = m.readings_.counters();
  s.queue_dropped = qc.dropped;
  s.queue_depth = qc.depth;
  s.store_last_seq = m.store_->LastSeq();
  StoreDrops drops = m.store_->Drops();
  s.store_dropped_age = drops.age;
  s.store_dropped_size_readings = drops.size_readings;
  s.store_dropped_size_events = drops.size_events;
  s.store_rejected = drops.rejected;
  s.queue_capacity = m.readings_.capacity();
  s.anomalies = m.anomalies_;
  s.alarms = m.alarms_;
  s.clears = m.clears_;
  s.rule_ticks = m.rule_ticks_;
  s.store_given_up = m.store_given_up_;
  s.clock = m.watch_->Status();
  s.clock_corrected = m.clock_corrected_;
  const std::int64_t now = m.clock_.MonotonicNs();
  const std::int64_t started = m.started_ns_.load();
  std::lock_guard lock(m.instances_mu_);
  for (auto& f : m.forwarders_) {
    s.upstreams.push_back(f->forwarder->State());
    std::uint64_t acked = f->forwarder->Acked();
    s.upstreams.back().lag = s.store_last_seq > acked ? s.store_last_seq - acked : 0;
  }
  for (const auto& slot : m.drivers_) {
    const DriverStats& ds = slot->driver->stats();
    DriverState d;
    d.name = slot->name;
    d.type = slot->type;
    d.state = slot->finished.load() ? "finished" : slot->sink.in_deliver() ? "blocked" : "running";
    d.readings = ds.readings.load(std::memory_order_relaxed);
    d.errors = ds.errors.load(std::memory_order_relaxed);
    d.last_success_ns = ds.last_success_ns.load(std::memory_order_relaxed);
    const std::int64_t since = std::max(started, slot->started_ns.load());
    std::int64_t beat = std::max(ds.heartbeat_ns.load(std::memory_order_relaxed), since);
    d.heartbeat_age_ms = started == 0 ? 0 : std::max<std::int64_t>(0, now - beat) / 1'000'000;
    s.drivers.push_back(std::move(d));
  }
  return s;
}

void Pipeline::SetObserver(PipelineObserver* observer) { impl_->observer_ = observer; }

StoreHealth Pipeline::StoreContents() const {
  StoreHealth r;
  StoreStats st = impl_->store_->Stats();
  r.records = st.records;
  r.bytes_on_disk = st.bytes_on_disk;
  r.max_bytes = st.max_bytes;
  r.drops = st.drops;
  if (st.records > 0 && st.first_seq > 0) {
    auto oldest = impl_->store_->ReadAfter(st.first_seq - 1, 1);
    if (oldest && !oldest->empty()) {
      r.oldest_ts_ns = oldest->front().ts_ns;
      r.oldest_unsynced = oldest->front().body.find(R"("clock":"unsynced")") != std::string::npos;
    }
  }
  {
    std::lock_guard lock(impl_->instances_mu_);
    for (const auto& f : impl_->forwarders_) r.pending_names.push_back(f->name);
  }
  for (const std::string& name : r.pending_names) {
    std::int64_t ts = 0;
    if (st.records > 0) {
      auto next = impl_->store_->ReadAfter(impl_->store_->Cursor(name), 1);
      if (next && !next->empty()) ts = next->front().ts_ns;
    }
    r.oldest_pending_ts_ns.push_back(ts);
  }
  return r;
}

std::vector<std::string> Pipeline::StalledThreads(milliseconds stall) const {
  const Impl& m = *impl_;
  std::vector<std::string> out;
  const std::int64_t started = m.started_ns_.load();
  if (started == 0 || m.stopping_) return out;  // not running: nothing to watch
  const std::int64_t now = m.clock_.MonotonicNs();
  const std::int64_t limit = stall.count() * 1'000'000;
  auto stalled = [&](const Beat& b) {
    if (b.waiting_downstream.load(std::memory_order_relaxed)) return false;
    return now - b.at_ns.load(std::memory_order_relaxed) >
           limit + b.allowance_ns.load(std::memory_order_relaxed);
  };
  std::lock_guard lock(m.instances_mu_);
  for (const auto& slot : m.drivers_) {
    if (slot->finished.load() || slot->sink.in_deliver()) continue;
    // A driver that never beat counts from its start.
    const std::int64_t since = std::max(started, slot->started_ns.load());
    std::int64_t beat =
        std::max(slot->driver->stats().heartbeat_ns.load(std::memory_order_relaxed), since);
    if (now - beat > limit) out.push_back("driver " + slot->name);
  }
  if (stalled(m.rules_beat_)) out.push_back("rules");
  if (stalled(m.store_beat_)) out.push_back("store");
  for (const auto& f : m.forwarders_) {
    if (stalled(f->beat)) out.push_back("upstream " + f->name);
  }
  return out;
}

}  // namespace pn
