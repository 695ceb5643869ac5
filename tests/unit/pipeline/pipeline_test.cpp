// Pipeline: drivers -> queue -> rules -> store -> forwarders, with fake drivers and upstreams
// (the real store on a temp file). Checks ordering, retries, permanent rejections, slow
// upstreams not blocking others, and the stop protocol.
#include "gateway/pipeline/pipeline.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <span>
#include <thread>

using namespace pn;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Delivers `count` readings of one series, then returns.
class CountingDriver final : public Driver {
 public:
  CountingDriver(std::string name, int count) : name_(std::move(name)), count_(count) {}
  const std::string& name() const override { return name_; }
  const DriverStats& stats() const override { return stats_; }
  void Run(std::stop_token stop, ReadingSink& sink) override {
    std::vector<Reading> batch;
    for (int i = 0; i < count_ && !stop.stop_requested(); ++i) {
      batch.push_back(Reading{"dev", name_, static_cast<double>(i), "", Quality::kGood, i});
      if (batch.size() == 100 && !sink.Deliver(batch)) return;
    }
    if (!batch.empty()) sink.Deliver(batch);
  }

 private:
  std::string name_;
  int count_;
  DriverStats stats_;
};

// Records what it receives. Can fail the first `fail_first` sends (kRetry), deliver only part of
// a batch, reject records whose value is in `reject` (kError), or stall.
class FakeUpstream final : public Upstream {
 public:
  explicit FakeUpstream(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  Status Start() override { return Status::Ok(); }
  SendResult Send(std::span<const Record> records) override {
    if (stall) {
      std::this_thread::sleep_for(50ms);
      return {SendCode::kRetry, 0, "stalled"};
    }
    std::lock_guard lock(mu);
    ++sends;
    if (fail_first > 0) {
      --fail_first;
      // Deliver half, then fail: the cursor must advance over the half only.
      std::size_t half = records.size() / 2;
      for (std::size_t i = 0; i < half; ++i) seqs.push_back(records[i].seq);
      return {SendCode::kRetry, half, "injected failure"};
    }
    for (const Record& r : records) seqs.push_back(r.seq);
    return {SendCode::kOk, records.size(), ""};
  }
  void Stop() override {}

  std::string name_;
  std::mutex mu;
  std::vector<std::uint64_t> seqs;
  int sends = 0;
  int fail_first = 0;
  std::atomic<bool> stall{false};
};

struct Fixture {
  fs::path dir;
  config::GatewayConfig cfg;
  DriverType driver_type;
  UpstreamType upstream_type;
  std::map<std::string, FakeUpstream*> upstreams;
  int driver_readings = 1000;

  explicit Fixture(const std::vector<std::string>& upstream_names) {
    dir = fs::temp_directory_path() /
          ("pn-pipeline-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(dir);
    fs::create_directories(dir);
    cfg.gateway.id = "gw";
    cfg.queue.capacity = 64;
    cfg.store.path = (dir / "buffer.db").string();
    cfg.store.batch_records = 100;
    cfg.store.batch_ms = 10;
    driver_type.type = "counting";
    driver_type.create = [this](const config::Section&,
                                const DriverContext& ctx) -> Result<std::unique_ptr<Driver>> {
      return std::make_unique<CountingDriver>(ctx.name, driver_readings);
    };
    upstream_type.type = "fake";
    upstream_type.create = [this](const config::Section&,
                                  const UpstreamContext& ctx) -> Result<std::unique_ptr<Upstream>> {
      auto up = std::make_unique<FakeUpstream>(ctx.name);
      upstreams[ctx.name] = up.get();
      return up;
    };
    cfg.drivers.push_back({"temperature", &driver_type, {}});
    for (const auto& n : upstream_names) {
      config::UpstreamInstance u;
      u.name = n;
      u.type = &upstream_type;
      u.batch_records = 64;
      u.retry_initial_ms = 1;
      u.retry_max_ms = 5;
      cfg.upstreams.push_back(u);
    }
  }
  ~Fixture() { fs::remove_all(dir); }
  static inline int counter = 0;
};

void WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!pred() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(5ms);
}

std::vector<std::uint64_t> Iota(std::uint64_t n) {
  std::vector<std::uint64_t> v(n);
  for (std::uint64_t i = 0; i < n; ++i) v[i] = i + 1;
  return v;
}

}  // namespace

TEST_CASE("every reading reaches every upstream once, in sequence order") {
  Fixture fx({"a", "b"});
  auto p = Pipeline::Create(fx.cfg, nullptr, SystemClock::Instance());
  REQUIRE(p);
  REQUIRE((*p)->Start().ok());
  WaitUntil([&] {
    return (*p)->DriversFinished() && (*p)->CaughtUp() && (*p)->Stats().store_last_seq == 1000;
  });
  CHECK((*p)->Stop(5s).ok());
  CHECK(fx.upstreams["a"]->seqs == Iota(1000));
  CHECK(fx.upstreams["b"]->seqs == Iota(1000));
  auto st = (*p)->Stats();
  CHECK(st.readings_in == 1000);
  CHECK(st.records_stored == 1000);
}

TEST_CASE("a failing send is retried from the first undelivered record: no loss, no gap") {
  Fixture fx({"a"});
  auto p = Pipeline::Create(fx.cfg, nullptr, SystemClock::Instance());
  REQUIRE(p);
  fx.upstreams["a"]->fail_first = 5;
  REQUIRE((*p)->Start().ok());
  WaitUntil([&] {
    return (*p)->DriversFinished() && (*p)->CaughtUp() && (*p)->Stats().store_last_seq == 1000;
  });
  CHECK((*p)->Stop(5s).ok());
  CHECK(fx.upstreams["a"]->seqs == Iota(1000));
  auto st = (*p)->Stats();
  REQUIRE(st.upstreams.size() == 1);
  CHECK(st.upstreams[0].errors == 5);
  CHECK(st.upstreams[0].sent == 1000);
}

namespace {

// Pipelines: Send() returns at once with its records in flight; a thread of its own
// acknowledges them a moment later, as a broker's PUBACKs come, and calls the wake-up.
class AckingUpstream final : public Upstream {
 public:
  explicit AckingUpstream(std::string name) : name_(std::move(name)) {}
  ~AckingUpstream() override { Stop(); }
  const std::string& name() const override { return name_; }
  Status Start() override {
    acker_ = std::thread([this] {
      std::unique_lock lock(mu);
      while (!stopping_) {
        cv_.wait(lock, [&] { return stopping_ || acked_ < sent.size(); });
        if (stopping_) break;
        acked_ = sent.size();
        lock.unlock();
        wake_();
        lock.lock();
      }
    });
    return Status::Ok();
  }
  SendResult Send(std::span<const Record> records) override {
    {
      std::lock_guard lock(mu);
      for (const Record& r : records) sent.push_back(r.seq);
      ++sends;
    }
    cv_.notify_all();
    return Collect();
  }
  void Stop() override {
    {
      std::lock_guard lock(mu);
      stopping_ = true;
    }
    cv_.notify_all();
    if (acker_.joinable()) acker_.join();
  }
  bool EnablePipelining(std::function<void()> acknowledged) override {
    wake_ = std::move(acknowledged);
    return true;
  }
  SendResult Collect() override {
    std::lock_guard lock(mu);
    std::size_t n = acked_ - reported_;
    reported_ = acked_;
    return {SendCode::kOk, n, {}};
  }

  std::string name_;
  std::mutex mu;
  std::vector<std::uint64_t> sent;
  int sends = 0;

 private:
  std::condition_variable cv_;
  std::function<void()> wake_;
  std::thread acker_;
  std::size_t acked_ = 0, reported_ = 0;
  bool stopping_ = false;
};

}  // namespace

TEST_CASE(
    "a pipelining upstream acknowledging from its own thread gets every record once, in "
    "order, and the store acknowledges all of them") {
  Fixture fx({});
  UpstreamType acking;
  acking.type = "acking";
  AckingUpstream* up = nullptr;
  acking.create = [&](const config::Section&,
                      const UpstreamContext& ctx) -> Result<std::unique_ptr<Upstream>> {
    auto u = std::make_unique<AckingUpstream>(ctx.name);
    up = u.get();
    return u;
  };
  config::UpstreamInstance u;
  u.name = "piped";
  u.type = &acking;
  u.batch_records = 64;
  u.retry_initial_ms = 1;
  u.retry_max_ms = 5;
  fx.cfg.upstreams.push_back(u);
  auto p = Pipeline::Create(fx.cfg, nullptr, SystemClock::Instance());
  REQUIRE(p);
  REQUIRE((*p)->Start().ok());
  WaitUntil([&] {
    return (*p)->DriversFinished() && (*p)->CaughtUp() && (*p)->Stats().store_last_seq == 1000;
  });
  CHECK((*p)->CaughtUp());
  CHECK((*p)->Stop(5s).ok());
  REQUIRE(up != nullptr);
  CHECK(up->sent == Iota(1000));  // nothing sent twice: no failure, no re-read
  auto st = (*p)->Stats();
  REQUIRE(st.upstreams.size() == 1);
  CHECK(st.upstreams[0].sent == 1000);
  CHECK(st.upstreams[0].cursor == 1000);
  CHECK(st.upstreams[0].errors == 0);
}

TEST_CASE("a stalled upstream does not hold up another, and stop keeps its records stored") {
  Fixture fx({"fast", "stuck"});
  auto p = Pipeline::Create(fx.cfg, nullptr, SystemClock::Instance());
  REQUIRE(p);
  fx.upstreams["stuck"]->stall = true;
  REQUIRE((*p)->Start().ok());
  WaitUntil([&] {
    std::lock_guard lock(fx.upstreams["fast"]->mu);
    return fx.upstreams["fast"]->seqs.size() == 1000;
  });
  CHECK(fx.upstreams["fast"]->seqs == Iota(1000));
  CHECK(fx.upstreams["stuck"]->seqs.empty());
  Status s = (*p)->Stop(200ms);
  CHECK(s.code() == Code::kUnavailable);
  CHECK(s.message().find("stuck (1000 records)") != std::string::npos);
}

TEST_CASE("batches the store rejects (reject_new) are counted as rejected, not as stored") {
  Fixture fx({"stuck"});
  fx.cfg.store.max_bytes = 256 * 1024;
  fx.cfg.store.full_policy = "reject_new";
  fx.driver_readings = 5000;  // ~1 MB of records against a 256 KiB bound
  auto p = Pipeline::Create(fx.cfg, nullptr, SystemClock::Instance());
  REQUIRE(p);
  fx.upstreams["stuck"]->stall = true;  // nothing is acknowledged: the store fills up
  REQUIRE((*p)->Start().ok());
  WaitUntil([&] {
    auto st = (*p)->Stats();
    return (*p)->DriversFinished() && st.records_stored + st.store_rejected == 5000;
  });
  auto st = (*p)->Stats();
  CHECK(st.readings_in == 5000);
  CHECK(st.store_rejected > 0);
  CHECK(st.records_stored + st.store_rejected == 5000);
  CHECK(st.records_stored == st.store_last_seq);  // a rejected batch used no number
  // Unavailable: "stuck" still has records.
  (void)(*p)->Stop(100ms);
}

TEST_CASE("records left in the store by a stop go out after a restart") {
  Fixture fx({"a"});
  {
    auto p = Pipeline::Create(fx.cfg, nullptr, SystemClock::Instance());
    REQUIRE(p);
    fx.upstreams["a"]->stall = true;
    REQUIRE((*p)->Start().ok());
    WaitUntil([&] { return (*p)->Stats().store_last_seq == 1000; });
    CHECK_FALSE((*p)->Stop(100ms).ok());
  }
  fx.driver_readings = 0;
  auto p = Pipeline::Create(fx.cfg, nullptr, SystemClock::Instance());
  REQUIRE(p);
  REQUIRE((*p)->Start().ok());
  WaitUntil([&] { return (*p)->CaughtUp(); });
  CHECK((*p)->Stop(5s).ok());
  CHECK(fx.upstreams["a"]->seqs == Iota(1000));
}

// Counts what the rules thread shows it (the status page's live view is such an observer).
class CountingObserver final : public PipelineObserver {
 public:
  void OnReadings(std::span<const Reading> readings) override {
    std::lock_guard lock(mu);
    for (const Reading& r : readings) values.push_back(r.value);
  }
  void OnEvents(std::span<const Event> evs) override {
    std::lock_guard lock(mu);
    events += evs.size();
  }
  std::size_t seen() {
    std::lock_guard lock(mu);
    return values.size();
  }
  std::mutex mu;
  std::vector<double> values;
  std::size_t events = 0;
};

TEST_CASE("an observer sees every reading once, in order, on the rules thread") {
  Fixture fx({"a"});
  CountingObserver obs;
  auto p = Pipeline::Create(fx.cfg, nullptr, SystemClock::Instance());
  REQUIRE(p);
  (*p)->SetObserver(&obs);
  REQUIRE((*p)->Start().ok());
  WaitUntil([&] { return (*p)->DriversFinished() && (*p)->CaughtUp() && obs.seen() == 1000; });
  CHECK((*p)->Stop(5s).ok());
  REQUIRE(obs.values.size() == 1000);
  for (std::size_t i = 0; i < obs.values.size(); ++i) CHECK(obs.values[i] == i);
  CHECK(obs.events == 0);  // no rules, no events
  // Everything acknowledged: no upstream has an oldest pending record.
  StoreHealth sh = (*p)->StoreContents();
  REQUIRE(sh.oldest_pending_ts_ns.size() == 1);
  CHECK(sh.oldest_pending_ts_ns[0] == 0);
}

namespace {

// Delivers one reading every millisecond until stopped; counts how often Run() was entered, so
// a test sees whether a reload restarted it.
class TickerDriver final : public Driver {
 public:
  TickerDriver(std::string name, std::atomic<int>& runs) : name_(std::move(name)), runs_(runs) {}
  const std::string& name() const override { return name_; }
  const DriverStats& stats() const override { return stats_; }
  void Run(std::stop_token stop, ReadingSink& sink) override {
    ++runs_;
    std::vector<Reading> batch;
    for (std::int64_t i = 0; !stop.stop_requested(); ++i) {
      Reading r;
      r.device = "dev";
      r.series = name_;
      r.value = static_cast<double>(i);
      r.ts_ns = i;
      batch.push_back(r);
      if (!sink.Deliver(batch)) return;
      stats_.readings.fetch_add(1);
      std::this_thread::sleep_for(1ms);
    }
  }

 private:
  std::string name_;
  std::atomic<int>& runs_;
  DriverStats stats_;
};

// What every instance of every upstream received, as (instance, seq), in order.
struct SendLog {
  std::mutex mu;
  std::vector<std::pair<int, std::uint64_t>> sent;
  std::vector<std::uint64_t> SeqsOf(const std::vector<int>& instances) {
    std::lock_guard lock(mu);
    std::vector<std::uint64_t> out;
    for (const auto& [i, seq] : sent) {
      if (std::find(instances.begin(), instances.end(), i) != instances.end()) out.push_back(seq);
    }
    return out;
  }
};

class LoggingUpstream final : public Upstream {
 public:
  LoggingUpstream(std::string name, int instance, SendLog& log)
      : name_(std::move(name)), instance_(instance), log_(log) {}
  const std::string& name() const override { return name_; }
  Status Start() override { return Status::Ok(); }
  SendResult Send(std::span<const Record> records) override {
    if (instance_ < 0) return {SendCode::kRetry, 0, "down"};  // acknowledges nothing
    std::lock_guard lock(log_.mu);
    for (const Record& r : records) log_.sent.emplace_back(instance_, r.seq);
    return {SendCode::kOk, records.size(), ""};
  }
  void Stop() override {}

 private:
  std::string name_;
  int instance_;
  SendLog& log_;
};

BuiltUpstream Logging(const std::string& name, int instance, SendLog& log) {
  BuiltUpstream u;
  u.name = name;
  u.upstream = std::make_unique<LoggingUpstream>(name, instance, log);
  u.batch_records = 16;
  u.retry_initial_ms = 1;
  u.retry_max_ms = 5;
  return u;
}

// Never delivers and never beats: sleeps until stopped (a hung driver).
class SilentDriver final : public Driver {
 public:
  explicit SilentDriver(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  const DriverStats& stats() const override { return stats_; }
  void Run(std::stop_token stop, ReadingSink&) override {
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    cv.wait(lock, stop, [] { return false; });
  }

 private:
  std::string name_;
  DriverStats stats_;
};

BuiltDriver Ticker(const std::string& name, std::atomic<int>& runs) {
  return BuiltDriver{name, "ticker", std::make_unique<TickerDriver>(name, runs)};
}

std::uint64_t ReadingsOf(const Pipeline& p, const std::string& driver) {
  for (const auto& d : p.Stats().drivers) {
    if (d.name == driver) return d.readings;
  }
  return 0;
}

}  // namespace

TEST_CASE(
    "reconfigure restarts only what changed, and a restarted upstream resumes at its cursor") {
  Fixture fx({});
  fx.cfg.drivers.clear();
  SendLog log;
  std::atomic<int> runs_a{0}, runs_b{0}, runs_c{0};
  fx.driver_type.create = [&](const config::Section&,
                              const DriverContext& ctx) -> Result<std::unique_ptr<Driver>> {
    return std::make_unique<TickerDriver>(ctx.name, ctx.name == "a" ? runs_a : runs_b);
  };
  fx.upstream_type.create = [&](const config::Section&,
                                const UpstreamContext& ctx) -> Result<std::unique_ptr<Upstream>> {
    return std::make_unique<LoggingUpstream>(ctx.name,
                                             ctx.name == "keep"   ? 1
                                             : ctx.name == "down" ? -1
                                                                  : 2,
                                             log);
  };
  fx.cfg.drivers.push_back({"a", &fx.driver_type, {}});
  fx.cfg.drivers.push_back({"b", &fx.driver_type, {}});
  // "down" acknowledges nothing: the store holds every record, so an upstream that lost its
  // cursor would get them all again.
  for (const char* n : {"keep", "moved", "down"}) {
    config::UpstreamInstance u;
    u.name = n;
    u.type = &fx.upstream_type;
    u.batch_records = 16;
    fx.cfg.upstreams.push_back(u);
  }
  auto p = Pipeline::Create(fx.cfg, nullptr, SystemClock::Instance());
  REQUIRE(p);
  REQUIRE((*p)->Start().ok());
  WaitUntil([&] { return log.SeqsOf({2}).size() >= 100; });

  // Driver b changes, c is added; upstream "moved" changes (instance 3 replaces 2), "extra" is
  // added (instance 4).
  Reconfiguration rc;
  rc.stop_drivers = {"b"};
  rc.start_drivers.push_back(Ticker("b", runs_b));
  rc.start_drivers.push_back(Ticker("c", runs_c));
  rc.stop_upstreams = {"moved"};
  rc.start_upstreams.push_back(Logging("moved", 3, log));
  rc.start_upstreams.push_back(Logging("extra", 4, log));
  rc.driver_order = {"a", "b", "c"};
  rc.upstream_order = {"keep", "moved", "down", "extra"};
  rc.store_batch_records = 50;
  rc.store_batch_ms = 5;
  const std::uint64_t a_before = ReadingsOf(**p, "a");
  REQUIRE((*p)->Reconfigure(std::move(rc)).ok());
  auto st = (*p)->Stats();
  REQUIRE(st.drivers.size() == 3);
  CHECK(st.drivers[0].name == "a");
  CHECK(st.drivers[1].name == "b");
  CHECK(st.drivers[2].name == "c");
  REQUIRE(st.upstreams.size() == 4);
  CHECK(st.upstreams[1].name == "moved");
  CHECK(st.upstreams[3].name == "extra");
  WaitUntil([&] { return log.SeqsOf({3}).size() >= 100 && log.SeqsOf({4}).size() >= 100; });
  // Driver a kept running: same Run(), its readings counter went on.
  CHECK(ReadingsOf(**p, "a") > a_before);
  CHECK((*p)->Stop(1s).message().find("down (") != std::string::npos);
  CHECK(runs_a == 1);
  CHECK(runs_b == 2);
  CHECK(runs_c == 1);
  const std::uint64_t last = (*p)->Stats().store_last_seq;
  // The unchanged upstream saw everything once; the restarted one, old and new instance
  // together, too: the new one began right after the old one's last acknowledged record.
  CHECK(log.SeqsOf({1}) == Iota(last));
  CHECK(log.SeqsOf({2, 3}) == Iota(last));
  // The added one started with what the store held (everything: "down" pins it all).
  CHECK(log.SeqsOf({4}) == Iota(last));
}

TEST_CASE("reconfigure removes a removed upstream's cursor and releases what only it held") {
  Fixture fx({"a", "slow"});
  fx.driver_readings = 500;
  auto p = Pipeline::Create(fx.cfg, nullptr, SystemClock::Instance());
  REQUIRE(p);
  fx.upstreams["slow"]->stall = true;
  REQUIRE((*p)->Start().ok());
  WaitUntil([&] {
    std::lock_guard lock(fx.upstreams["a"]->mu);
    return fx.upstreams["a"]->seqs.size() == 500;
  });
  CHECK((*p)->StoreContents().records == 500);  // held for "slow"
  Reconfiguration rc;
  rc.stop_upstreams = {"slow"};
  rc.upstream_order = {"a"};
  rc.driver_order = {"temperature"};
  REQUIRE((*p)->Reconfigure(std::move(rc)).ok());
  const StoreHealth sh = (*p)->StoreContents();
  CHECK(sh.records == 0);
  CHECK(sh.pending_names == std::vector<std::string>{"a"});
  auto st = (*p)->Stats();
  REQUIRE(st.upstreams.size() == 1);
  CHECK(st.upstreams[0].name == "a");
  CHECK((*p)->Stop(5s).ok());
}

TEST_CASE("a driver started by a reconfigure is judged stalled from its own start") {
  Fixture fx({"a"});
  fx.driver_readings = 0;
  FakeClock clock(1'000'000'000);
  auto p = Pipeline::Create(fx.cfg, nullptr, clock);
  REQUIRE(p);
  REQUIRE((*p)->Start().ok());
  clock.Advance(10'000'000'000);  // the pipeline is 10 s old
  Reconfiguration rc;
  // Silent, not a ticker: a driver caught inside Deliver() is never "stalled", and a busy
  // ticker on a slow (ASan) build is there most of the time.
  rc.start_drivers.push_back(BuiltDriver{"late", "silent", std::make_unique<SilentDriver>("late")});
  rc.driver_order = {"temperature", "late"};
  rc.upstream_order = {"a"};
  REQUIRE((*p)->Reconfigure(std::move(rc)).ok());
  // The driver never beats: it counts from its own start.
  clock.Advance(1'000'000'000);
  auto stalled = (*p)->StalledThreads(5s);
  CHECK(std::find(stalled.begin(), stalled.end(), "driver late") == stalled.end());
  clock.Advance(5'000'000'000);
  stalled = (*p)->StalledThreads(5s);
  CHECK(std::find(stalled.begin(), stalled.end(), "driver late") != stalled.end());
  CHECK((*p)->Stop(5s).ok());
}

namespace {

// Stamps its readings with the pipeline's clock: `first` at once and delivered, `held` at once
// but delivered only on `release` (readings taken before a clock jump that reach the rules
// after it), then `after` stamped and delivered at release time.
class StampingDriver final : public Driver {
 public:
  StampingDriver(std::string name, const Clock* clock) : name_(std::move(name)), clock_(clock) {}
  const std::string& name() const override { return name_; }
  const DriverStats& stats() const override { return stats_; }
  void Run(std::stop_token stop, ReadingSink& sink) override {
    auto stamp = [this](int n, std::vector<Reading>& out) {
      for (int i = 0; i < n; ++i) {
        out.push_back(Reading{"dev", "t", static_cast<double>(out.size()), "", Quality::kGood,
                              clock_->NowNs() + i});
      }
    };
    std::vector<Reading> first, held, after;
    stamp(10, first);
    stamp(10, held);
    held_ts_ = held.front().ts_ns;
    if (!sink.Deliver(first)) return;
    while (!release.load() && !stop.stop_requested()) std::this_thread::sleep_for(5ms);
    if (!sink.Deliver(held)) return;
    stamp(10, after);
    sink.Deliver(after);
  }
  std::atomic<bool> release{false};
  std::atomic<std::int64_t> held_ts_{0};

 private:
  std::string name_;
  const Clock* clock_;
  DriverStats stats_;
};

// Keeps every record it is sent, in order; refuses everything while `hold` is set.
class KeepingUpstream final : public Upstream {
 public:
  explicit KeepingUpstream(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  Status Start() override { return Status::Ok(); }
  SendResult Send(std::span<const Record> records) override {
    if (hold.load()) return {SendCode::kRetry, 0, "held"};
    std::lock_guard lock(mu);
    for (const Record& r : records) got.push_back(r);
    return {SendCode::kOk, records.size(), ""};
  }
  void Stop() override {}
  std::size_t size() {
    std::lock_guard lock(mu);
    return got.size();
  }
  std::atomic<bool> hold{true};
  std::mutex mu;
  std::vector<Record> got;

 private:
  std::string name_;
};

}  // namespace

TEST_CASE("readings taken before the clock synchronised are corrected, stored or still queued") {
  constexpr std::int64_t kSecond = 1'000'000'000;
  constexpr std::int64_t kBoot = 1000 * kSecond;                   // a Pi's clock at boot: 1970
  constexpr std::int64_t kStep = 1'790'000'000 * kSecond - kBoot;  // NTP's first step
  Fixture fx({});
  FakeClock clock(5 * kSecond);
  clock.StepWall(kBoot - 5 * kSecond);
  StampingDriver* driver = nullptr;
  fx.driver_type.create = [&](const config::Section&,
                              const DriverContext& ctx) -> Result<std::unique_ptr<Driver>> {
    auto d = std::make_unique<StampingDriver>(ctx.name, ctx.clock);
    driver = d.get();
    return d;
  };
  KeepingUpstream* up = nullptr;
  fx.upstream_type.create = [&](const config::Section&,
                                const UpstreamContext& ctx) -> Result<std::unique_ptr<Upstream>> {
    auto u = std::make_unique<KeepingUpstream>(ctx.name);
    up = u.get();
    return u;
  };
  config::UpstreamInstance ui;
  ui.name = "up";
  ui.type = &fx.upstream_type;
  ui.retry_initial_ms = 1;
  ui.retry_max_ms = 5;
  fx.cfg.upstreams.push_back(ui);
  auto source = std::make_unique<ManualSyncSource>(SyncState::kUnsynced);
  ManualSyncSource* sync = source.get();
  auto p = Pipeline::Create(fx.cfg, nullptr, clock, std::move(source));
  REQUIRE(p);
  REQUIRE((*p)->Start().ok());
  // The store commits a partial batch after batch_ms of the pipeline's (fake) clock.
  auto tick = [&] { clock.Advance(20'000'000); };
  WaitUntil([&] { return tick(), (*p)->Stats().records_stored == 10; });
  REQUIRE((*p)->Stats().records_stored == 10);
  CHECK_FALSE((*p)->Stats().clock.synced);

  // NTP steps the clock and says synchronised; the rules thread sees it at its next poll.
  clock.StepWall(kStep);
  sync->Set(SyncState::kSynced);
  const std::int64_t synced_at = clock.NowNs();
  clock.Advance(kSecond);
  WaitUntil([&] { return tick(), (*p)->Stats().clock_corrected == 10; });
  CHECK((*p)->Stats().clock_corrected == 10);  // the 10 in the store
  CHECK((*p)->Stats().clock.synced);
  CHECK((*p)->Stats().clock.steps == 1);

  driver->release = true;
  up->hold = false;
  WaitUntil([&] { return tick(), up->size() == 30; });
  REQUIRE(up->size() == 30);
  for (std::size_t i = 0; i < 20; ++i) {
    const Record& r = up->got[i];
    INFO("record " << i << ": " << r.body);
    // Taken near kBoot (the test's ticks move the clock while the driver starts).
    CHECK(r.ts_ns >= kBoot + kStep);
    CHECK(r.ts_ns < kBoot + kStep + kSecond);
    CHECK(r.body.find(R"("clock":"corrected")") != std::string::npos);
    CHECK(r.body.find("\"ts_ns\":" + std::to_string(r.ts_ns)) != std::string::npos);
  }
  for (std::size_t i = 20; i < 30; ++i) {
    const Record& r = up->got[i];
    INFO("record " << i << ": " << r.body);
    CHECK(r.ts_ns > synced_at);  // right as taken
    CHECK(r.ts_ns - up->got[20].ts_ns == static_cast<std::int64_t>(i - 20));
    CHECK(r.body.find("clock") == std::string::npos);
  }
  CHECK((*p)->Stats().clock_corrected == 20);  // 10 in the store, 10 on their way
  // Each corrected time is its original plus the step: the two groups keep their spacing.
  CHECK(up->got[10].ts_ns - up->got[0].ts_ns == driver->held_ts_ - (up->got[0].ts_ns - kStep));
  CHECK((*p)->Stop(5s).ok());
}
