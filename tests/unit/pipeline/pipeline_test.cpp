// Pipeline: drivers -> queue -> rules -> store -> forwarders, with fake drivers and upstreams
// (the real store on a temp file). Checks ordering, retries, permanent rejections, slow
// upstreams not blocking others, and the stop protocol.
#include "gateway/pipeline/pipeline.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
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
