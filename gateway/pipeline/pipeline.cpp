#include "gateway/pipeline/pipeline.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "gateway/core/bounded_queue.h"
#include "gateway/core/record.h"
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
  std::unique_ptr<Upstream> upstream;
  const config::UpstreamInstance* settings = nullptr;
  std::unique_ptr<Forwarder> forwarder;  // state and acked count, read by Stats() and Stop()
  std::thread thread;
  Beat beat;
};

}  // namespace

class Pipeline::Impl {
 public:
  Impl(const config::GatewayConfig& cfg, Clock& clock)
      : cfg_(cfg),
        clock_(clock),
        readings_(cfg.queue.capacity, cfg.queue.overflow),
        chunks_(8, OverflowPolicy::kBlock) {}

  const config::GatewayConfig& cfg_;
  Clock& clock_;
  BoundedQueue<Reading> readings_;
  BoundedQueue<Chunk> chunks_;
  std::vector<std::unique_ptr<QueueSink>> driver_sinks_;  // one per driver, same order
  std::vector<std::unique_ptr<std::atomic<bool>>> driver_finished_;
  std::vector<std::string> driver_types_;
  std::atomic<std::int64_t> started_ns_{0};  // monotonic; 0 before Start()
  std::atomic<bool> stopping_{false};
  Beat rules_beat_, store_beat_;
  std::atomic<std::uint64_t> anomalies_{0}, alarms_{0}, clears_{0}, rule_ticks_{0},
      store_given_up_{0};
  std::unique_ptr<Store> store_;

  std::mutex rules_mu_;
  std::unique_ptr<rules::Engine> rules_;
  std::unique_ptr<rules::Engine> pending_rules_;

  std::vector<std::unique_ptr<Driver>> drivers_;
  std::vector<std::jthread> driver_threads_;
  std::atomic<std::size_t> drivers_running_{0};
  std::thread rules_thread_;
  std::thread store_thread_;
  std::vector<std::unique_ptr<ForwarderThread>> forwarders_;

  // Forwarder wake-up when the store commits, and the stop protocol.
  std::mutex fwd_mu_;
  std::condition_variable fwd_cv_;
  std::atomic<bool> forwarders_draining_{false};  // store finished; send what is left and exit
  std::atomic<bool> forwarders_abort_{false};     // deadline passed; exit now
  std::atomic<bool> stop_store_{false};

  std::atomic<std::uint64_t> readings_in_{0}, suppressed_{0}, events_{0}, stored_{0},
      store_errors_{0};
  PipelineObserver* observer_ = nullptr;  // set before Start(); called on the rules thread

  // How long a thread with nothing to do waits before it looks again (and beats for the
  // watchdog): a quarter of the stall limit, at most 1 s. Work (a reading, a chunk, a commit,
  // the stop) wakes the waits at once; this only bounds how often an idle gateway wakes up.
  milliseconds IdleWait() const {
    return milliseconds(std::clamp<std::int64_t>(cfg_.health.stall_timeout_ms / 4, 20, 1000));
  }

  void RulesLoop() {
    std::vector<Reading> batch;
    std::vector<Event> events;
    std::vector<Reading> derived;
    Chunk chunk;
    std::int64_t last_tick_ns = clock_.MonotonicNs();
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
      // Stale-data checks need time to pass even when no reading comes: tick once a second.
      std::int64_t mono = clock_.MonotonicNs();
      if (rules_ && mono - last_tick_ns >= 1'000'000'000) {
        last_tick_ns = mono;
        events.clear();
        rules_->Tick(clock_.NowNs(), events);
        ++rule_ticks_;
        if (observer_ != nullptr && !events.empty()) observer_->OnEvents(events);
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
      for (Reading& r : batch) {
        events.clear();
        bool forward = rules_ ? rules_->Process(r, events) : true;
        if (forward) {
          chunk.push_back(ToRecord(r));
        } else {
          ++suppressed_;
        }
        if (rules_) {
          derived.clear();
          rules_->TakeDerived(derived);
          for (const Reading& d : derived) chunk.push_back(ToRecord(d));
          if (observer_ != nullptr && !derived.empty()) observer_->OnReadings(derived);
        }
        if (observer_ != nullptr && !events.empty()) observer_->OnEvents(events);
        for (const Event& e : events) chunk.push_back(ToRecord(e));
        events_ += events.size();
        count_events(events);
      }
      readings_in_ += n;
      if (observer_ != nullptr) observer_->OnReadings(batch);
      if (!chunk.empty()) {
        push_chunk(std::move(chunk));
        chunk = Chunk();
      }
    }
    chunks_.Close();
  }

  void StoreLoop() {
    const std::size_t max_batch = static_cast<std::size_t>(cfg_.store.batch_records);
    const std::int64_t max_wait_ns = cfg_.store.batch_ms * 1'000'000;
    std::vector<Chunk> got;
    Chunk batch;
    std::int64_t first_at = 0;
    bool closed = false;
    while (!closed || !batch.empty()) {
      store_beat_.Mark(clock_.MonotonicNs());
      if (!closed) {
        std::int64_t wait_ns =
            batch.empty()
                ? IdleWait().count() * 1'000'000
                : std::max<std::int64_t>(0, first_at + max_wait_ns - clock_.MonotonicNs());
        got.clear();
        std::size_t n = chunks_.PopBatch(got, 16, milliseconds(wait_ns / 1'000'000));
        if (n == 0 && chunks_.closed()) closed = true;
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
        const std::uint64_t before = store_->LastSeq();
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
        stored_ += *res - before;  // 0 when full_policy reject_new refused the batch
        done += len;
        // Through the mutex: a forwarder between its check of LastSeq() and its wait cannot
        // miss this commit (it would sleep a whole IdleWait()).
        { std::lock_guard lock(fwd_mu_); }
        fwd_cv_.notify_all();
      }
      batch.clear();
    }
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
    while (!forwarders_abort_) {
      t.beat.Mark(clock_.MonotonicNs());
      const bool draining = forwarders_draining_;  // read before Step()'s store read: no loss
      const Forwarder::StepResult step = f.Step();
      if (step.next == Forwarder::Next::kBackOff) {
        // Only the abort cuts a back-off short; commits wake the wait but do not end it.
        std::int64_t now = clock_.MonotonicNs();
        t.beat.Mark(now, std::max<std::int64_t>(0, step.until_ns - now));
        std::unique_lock lock(fwd_mu_);
        while (!forwarders_abort_ && now < step.until_ns) {
          fwd_cv_.wait_for(lock, std::chrono::nanoseconds(step.until_ns - now));
          now = clock_.MonotonicNs();
        }
      } else if (step.next == Forwarder::Next::kCaughtUp) {
        if (draining) break;
        std::unique_lock lock(fwd_mu_);
        fwd_cv_.wait_for(lock, IdleWait(), [&] {
          return forwarders_abort_.load() || forwarders_draining_.load() ||
                 store_->LastSeq() > f.Acked();
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

Result<std::unique_ptr<Pipeline>> Pipeline::Create(const config::GatewayConfig& cfg,
                                                   std::unique_ptr<rules::Engine> rules,
                                                   Clock& clock) {
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

  for (const auto& d : cfg.drivers) {
    DriverContext ctx{d.name, &clock};
    auto drv = d.type->create(d.settings, ctx);
    if (!drv) {
      return Err(Status(drv.error().code(), "driver " + d.name + ": " + drv.error().message()));
    }
    impl->drivers_.push_back(std::move(*drv));
    impl->driver_types_.push_back(d.type->type);
    impl->driver_sinks_.push_back(std::make_unique<QueueSink>(impl->readings_));
    impl->driver_finished_.push_back(std::make_unique<std::atomic<bool>>(false));
  }
  for (const auto& u : cfg.upstreams) {
    UpstreamContext ctx{u.name, cfg.gateway.id};
    auto up = u.type->create(u.settings, ctx);
    if (!up) {
      return Err(Status(up.error().code(), "upstream " + u.name + ": " + up.error().message()));
    }
    auto f = std::make_unique<ForwarderThread>();
    f->upstream = std::move(*up);
    f->settings = &u;
    ForwarderOptions options;
    options.name = u.name;
    options.batch_records = u.batch_records;
    options.retry_initial_ms = u.retry_initial_ms;
    options.retry_max_ms = u.retry_max_ms;
    f->forwarder = std::make_unique<Forwarder>(*impl->store_, *f->upstream, clock, options);
    impl->forwarders_.push_back(std::move(f));
  }
  return std::unique_ptr<Pipeline>(new Pipeline(std::move(impl)));
}

Status Pipeline::Start() {
  Impl& m = *impl_;
  const std::int64_t start_ns = m.clock_.MonotonicNs();
  m.rules_beat_.Mark(start_ns);
  m.store_beat_.Mark(start_ns);
  for (auto& f : m.forwarders_) f->beat.Mark(start_ns);
  m.started_ns_ = start_ns;
  for (auto& f : m.forwarders_) {
    ForwarderThread* fp = f.get();
    fp->thread = std::thread([&m, fp] {
      NameThread("up:" + fp->settings->name);
      m.ForwardLoop(*fp);
    });
  }
  m.store_thread_ = std::thread([&m] {
    NameThread("store");
    m.StoreLoop();
  });
  m.rules_thread_ = std::thread([&m] {
    NameThread("rules");
    m.RulesLoop();
  });
  m.drivers_running_ = m.drivers_.size();
  for (std::size_t i = 0; i < m.drivers_.size(); ++i) {
    Driver* dp = m.drivers_[i].get();
    QueueSink* sink = m.driver_sinks_[i].get();
    std::atomic<bool>* finished = m.driver_finished_[i].get();
    m.driver_threads_.emplace_back([&m, dp, sink, finished](std::stop_token st) {
      NameThread("drv:" + dp->name());
      dp->Run(st, *sink);
      spdlog::debug("driver {} finished", dp->name());
      finished->store(true);
      --m.drivers_running_;
    });
  }
  spdlog::info("pipeline started: {} drivers, {} upstreams, store {}", m.drivers_.size(),
               m.forwarders_.size(), m.cfg_.store.path);
  return Status::Ok();
}

Status Pipeline::Stop(milliseconds deadline) {
  Impl& m = *impl_;
  m.stopping_ = true;
  const std::int64_t end = m.clock_.MonotonicNs() + deadline.count() * 1'000'000;
  // 1. Drivers: ask every one to stop, then wait for them.
  for (auto& t : m.driver_threads_) t.request_stop();
  m.readings_.Close();  // wakes drivers blocked on a full queue
  for (auto& t : m.driver_threads_) {
    if (t.joinable()) t.join();
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
      behind += f->upstream->name() + " (" + std::to_string(last - acked) + " records)";
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
  for (auto& f : m.forwarders_) {
    s.upstreams.push_back(f->forwarder->State());
    std::uint64_t acked = f->forwarder->Acked();
    s.upstreams.back().lag = s.store_last_seq > acked ? s.store_last_seq - acked : 0;
  }
  s.queue_capacity = m.readings_.capacity();
  s.anomalies = m.anomalies_;
  s.alarms = m.alarms_;
  s.clears = m.clears_;
  s.rule_ticks = m.rule_ticks_;
  s.store_given_up = m.store_given_up_;
  const std::int64_t now = m.clock_.MonotonicNs();
  const std::int64_t started = m.started_ns_.load();
  for (std::size_t i = 0; i < m.drivers_.size(); ++i) {
    const DriverStats& ds = m.drivers_[i]->stats();
    DriverState d;
    d.name = m.drivers_[i]->name();
    d.type = m.driver_types_[i];
    d.state = m.driver_finished_[i]->load()      ? "finished"
              : m.driver_sinks_[i]->in_deliver() ? "blocked"
                                                 : "running";
    d.readings = ds.readings.load(std::memory_order_relaxed);
    d.errors = ds.errors.load(std::memory_order_relaxed);
    d.last_success_ns = ds.last_success_ns.load(std::memory_order_relaxed);
    std::int64_t beat = std::max(ds.heartbeat_ns.load(std::memory_order_relaxed), started);
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
    if (oldest && !oldest->empty()) r.oldest_ts_ns = oldest->front().ts_ns;
  }
  for (const auto& f : impl_->forwarders_) {
    std::int64_t ts = 0;
    if (st.records > 0) {
      auto next = impl_->store_->ReadAfter(impl_->store_->Cursor(f->settings->name), 1);
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
  for (std::size_t i = 0; i < m.drivers_.size(); ++i) {
    if (m.driver_finished_[i]->load() || m.driver_sinks_[i]->in_deliver()) continue;
    // A driver that never beat counts from the start of the pipeline.
    std::int64_t beat =
        std::max(m.drivers_[i]->stats().heartbeat_ns.load(std::memory_order_relaxed), started);
    if (now - beat > limit) out.push_back("driver " + m.drivers_[i]->name());
  }
  if (stalled(m.rules_beat_)) out.push_back("rules");
  if (stalled(m.store_beat_)) out.push_back("store");
  for (const auto& f : m.forwarders_) {
    if (stalled(f->beat)) out.push_back("upstream " + f->upstream->name());
  }
  return out;
}

}  // namespace pn
