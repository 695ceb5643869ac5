// Forwarder: one upstream's send/acknowledge/back-off logic, driven step by step with a
// FakeClock and a scripted upstream (the real store on a temp file, wrapped so that it can be
// told to refuse). No threads, no sleeps: every wait is a returned deadline.
#include "gateway/pipeline/forwarder.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

using namespace pn;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kStartNs = 1'000'000'000'000;
constexpr std::int64_t kMs = 1'000'000;
// In a scripted SendResult: every record of the batch was delivered.
constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();

// Returns the scripted results in order (kOk for everything once the script is used up) and
// records every batch it is given.
class ScriptedUpstream final : public Upstream {
 public:
  explicit ScriptedUpstream(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  Status Start() override {
    ++starts;
    if (start_results.empty()) return Status::Ok();
    Status s = start_results.front();
    start_results.pop_front();
    return s;
  }
  SendResult Send(std::span<const Record> records) override {
    std::vector<std::uint64_t> seqs;
    for (const Record& r : records) seqs.push_back(r.seq);
    sends.push_back(seqs);
    if (during_send) during_send();
    if (script.empty()) return {SendCode::kOk, records.size(), ""};
    SendResult r = script.front();
    script.pop_front();
    if (r.delivered == kAll) r.delivered = records.size();
    return r;
  }
  void Stop() override { ++stops; }

  std::string name_;
  std::deque<Status> start_results;
  std::deque<SendResult> script;
  std::function<void()> during_send;  // runs inside Send(), after the batch was recorded
  std::vector<std::vector<std::uint64_t>> sends;
  int starts = 0;
  int stops = 0;
};

// A real store that can be told to refuse reads or acknowledgements, or to hold nothing (as if
// its bounds had dropped every record).
class RefusingStore final : public Store {
 public:
  explicit RefusingStore(Store& real) : real_(real) {}
  Result<AppendResult> Append(std::span<const NewRecord> records) override {
    return real_.Append(records);
  }
  Result<std::vector<Record>> ReadAfter(std::uint64_t after_seq, std::size_t limit) override {
    ++reads;
    if (fail_read) return Err(Status::IoError("disk I/O error"));
    if (hold_nothing) return std::vector<Record>{};
    return real_.ReadAfter(after_seq, limit);
  }
  std::uint64_t Cursor(std::string_view upstream) const override { return real_.Cursor(upstream); }
  Status Ack(std::string_view upstream, std::uint64_t seq) override {
    ++acks;
    if (fail_ack) return Status::IoError("database is locked");
    return real_.Ack(upstream, seq);
  }
  Status SetUpstreams(const std::vector<std::string>& upstreams) override {
    return real_.SetUpstreams(upstreams);
  }
  Result<std::uint64_t> CorrectClock(std::uint64_t after_seq, std::int64_t lo, std::int64_t hi,
                                     std::int64_t offset) override {
    return real_.CorrectClock(after_seq, lo, hi, offset);
  }
  std::uint64_t Rewrites() const override { return real_.Rewrites(); }
  std::uint64_t LastSeq() const override { return real_.LastSeq(); }
  StoreDrops Drops() const override { return real_.Drops(); }
  StoreStats Stats() const override { return real_.Stats(); }

  bool fail_read = false;
  bool fail_ack = false;
  bool hold_nothing = false;
  int reads = 0;
  int acks = 0;

 private:
  Store& real_;
};

struct Fixture {
  fs::path dir;
  std::unique_ptr<Store> real;
  std::unique_ptr<RefusingStore> store;
  FakeClock clock{kStartNs};

  Fixture() {
    dir = fs::temp_directory_path() /
          ("pn-forwarder-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(dir);
    fs::create_directories(dir);
    StoreOptions o;
    o.path = (dir / "buffer.db").string();
    o.boot_id = "forwarder-test";
    o.clock = &clock;
    auto s = Store::Open(o, {"up"});
    REQUIRE(s);
    real = std::move(*s);
    store = std::make_unique<RefusingStore>(*real);
  }
  ~Fixture() {
    store.reset();
    real.reset();
    fs::remove_all(dir);
  }

  // Batches of 3, back-off 100 ms doubling up to 500 ms, no jitter (exact waits).
  ForwarderOptions Options() {
    ForwarderOptions o;
    o.name = "up";
    o.batch_records = 3;
    o.retry_initial_ms = 100;
    o.retry_max_ms = 500;
    o.retry_jitter = 0.0;
    return o;
  }

  std::unique_ptr<Forwarder> Make(Upstream& up) {
    return std::make_unique<Forwarder>(*store, up, clock, Options());
  }

  void Append(int n) {
    std::vector<NewRecord> recs;
    for (int i = 0; i < n; ++i) {
      recs.push_back(NewRecord{RecordKind::kReading, i, "dev", "s", R"({"type":"reading"})"});
    }
    REQUIRE(real->Append(recs));
  }

  static inline int counter = 0;
};

using Seqs = std::vector<std::uint64_t>;

}  // namespace

TEST_CASE(
    "retry and back-off: waits double from retry_initial up to retry_max, "
    "the same records are sent again, and a success resets the back-off") {
  Fixture fx;
  fx.Append(3);
  ScriptedUpstream up("up");
  for (int i = 0; i < 5; ++i) up.script.push_back({SendCode::kRetry, 0, "broker down"});
  auto f = fx.Make(up);

  // Doubling, capped at retry_max: 100, 200, 400, 500, 500.
  const std::vector<std::int64_t> waits_ms = {100, 200, 400, 500, 500};
  for (std::size_t i = 0; i < waits_ms.size(); ++i) {
    CAPTURE(i);
    auto r = f->Step();
    REQUIRE(r.next == Forwarder::Next::kBackOff);
    CHECK(r.until_ns == fx.clock.MonotonicNs() + waits_ms[i] * kMs);
    CHECK(up.sends.back() == Seqs{1, 2, 3});
    UpstreamState st = f->State();
    CHECK(st.state == "retrying");
    CHECK(st.errors == i + 1);
    CHECK(st.last_error == "broker down");
    CHECK(st.sent == 0);
    fx.clock.Set(r.until_ns);
  }
  CHECK(fx.real->Cursor("up") == 0);

  auto r = f->Step();
  CHECK(r.next == Forwarder::Next::kAgain);
  CHECK(up.sends.size() == 6);
  UpstreamState st = f->State();
  CHECK(st.state == "ok");
  CHECK(st.sent == 3);
  CHECK(st.errors == 5);
  CHECK(st.reconnects == 1);  // one ok -> retrying transition, however many retries
  CHECK(st.cursor == 3);
  CHECK(st.last_success_ns == fx.clock.NowNs());
  CHECK(fx.real->Cursor("up") == 3);

  // The next failure starts from retry_initial again.
  fx.Append(1);
  up.script.push_back({SendCode::kRetry, 0, "broker down again"});
  r = f->Step();
  REQUIRE(r.next == Forwarder::Next::kBackOff);
  CHECK(r.until_ns == fx.clock.MonotonicNs() + 100 * kMs);
  CHECK(f->State().reconnects == 2);
}

TEST_CASE(
    "an upstream that cannot start is retried with back-off, counted in errors, and gets "
    "nothing until then") {
  Fixture fx;
  fx.Append(3);
  ScriptedUpstream up("up");
  up.start_results = {Status::Unavailable("connection refused"),
                      Status::Unavailable("connection refused")};
  auto f = fx.Make(up);
  CHECK(f->State().state == "starting");

  auto r = f->Step();
  REQUIRE(r.next == Forwarder::Next::kBackOff);
  CHECK(r.until_ns == fx.clock.MonotonicNs() + 100 * kMs);
  CHECK(f->State().state == "retrying");
  CHECK(f->State().last_error == "connection refused");
  CHECK(f->State().reconnects == 0);  // never was "ok"
  CHECK(f->State().errors == 1);      // a failed start counts as a failed send
  fx.clock.Set(r.until_ns);
  r = f->Step();
  REQUIRE(r.next == Forwarder::Next::kBackOff);
  CHECK(r.until_ns == fx.clock.MonotonicNs() + 200 * kMs);
  CHECK(up.sends.empty());
  CHECK(fx.store->reads == 0);

  fx.clock.Set(r.until_ns);
  r = f->Step();
  CHECK(r.next == Forwarder::Next::kAgain);
  CHECK(up.starts == 3);
  CHECK(up.sends == std::vector<Seqs>{{1, 2, 3}});
  CHECK(f->State().state == "ok");
  CHECK(f->State().errors == 2);  // the two failed starts; the send itself succeeded

  // Starting reset the back-off.
  fx.Append(1);
  up.script.push_back({SendCode::kRetry, 0, "x"});
  r = f->Step();
  REQUIRE(r.next == Forwarder::Next::kBackOff);
  CHECK(r.until_ns == fx.clock.MonotonicNs() + 100 * kMs);
}

TEST_CASE(
    "an error rejects one record for good: counted, acknowledged, never sent again, "
    "no back-off") {
  Fixture fx;
  fx.Append(3);
  ScriptedUpstream up("up");
  // Records 1 and 2 delivered; record 3 can never be delivered.
  up.script.push_back({SendCode::kError, 2, "payload too large"});
  auto f = fx.Make(up);

  auto r = f->Step();
  CHECK(r.next == Forwarder::Next::kAgain);
  UpstreamState st = f->State();
  CHECK(st.rejected == 1);
  CHECK(st.errors == 0);
  CHECK(st.state == "ok");
  CHECK(st.sent == 3);  // sent counts every acknowledged record, the rejected one included
  CHECK(st.cursor == 3);
  CHECK(fx.real->Cursor("up") == 3);
  CHECK(f->Acked() == 3);

  fx.Append(2);
  r = f->Step();
  CHECK(r.next == Forwarder::Next::kAgain);
  CHECK(f->Step().next == Forwarder::Next::kCaughtUp);
  CHECK(up.sends == std::vector<Seqs>{{1, 2, 3}, {4, 5}});
  CHECK(f->State().rejected == 1);
  CHECK(fx.real->Cursor("up") == 5);
}

TEST_CASE(
    "acknowledgements out of order: only the delivered prefix counts, the rest is sent "
    "again") {
  Fixture fx;
  fx.Append(3);
  ScriptedUpstream up("up");
  // The broker acknowledged 1 and 3 but not 2: the upstream reports the prefix, 1 record. Then
  // the rest fails after one more record, then goes through.
  up.script = {{SendCode::kOk, 1, ""}, {SendCode::kRetry, 1, "timeout"}, {SendCode::kOk, kAll, ""}};
  auto f = fx.Make(up);

  auto r = f->Step();
  CHECK(r.next == Forwarder::Next::kAgain);  // a partial kOk is no failure: no back-off
  CHECK(fx.real->Cursor("up") == 1);
  CHECK(f->Acked() == 1);
  CHECK(f->State().sent == 1);
  CHECK(f->State().errors == 0);

  r = f->Step();
  REQUIRE(r.next == Forwarder::Next::kBackOff);
  CHECK(fx.real->Cursor("up") == 2);
  CHECK(f->State().sent == 2);
  CHECK(f->State().errors == 1);

  fx.clock.Set(r.until_ns);
  r = f->Step();
  CHECK(r.next == Forwarder::Next::kAgain);
  CHECK(up.sends == std::vector<Seqs>{{1, 2, 3}, {2, 3}, {3}});
  CHECK(fx.real->Cursor("up") == 3);
  CHECK(f->State().sent == 3);
  CHECK(f->State().state == "ok");
}

TEST_CASE("a delivered count larger than the batch acknowledges the batch only") {
  Fixture fx;
  fx.Append(5);
  ScriptedUpstream up("up");
  up.script.push_back({SendCode::kOk, 100, ""});
  auto f = fx.Make(up);
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(up.sends == std::vector<Seqs>{{1, 2, 3}});
  CHECK(fx.real->Cursor("up") == 3);
  CHECK(f->State().sent == 3);
}

TEST_CASE(
    "a stop in the middle of a send: the delivered part is acknowledged, the rest stays in "
    "the store and goes out after the next start") {
  Fixture fx;
  fx.Append(3);
  bool stop = false;
  {
    ScriptedUpstream up("up");
    // The stop comes while the batch is on its way; the upstream gives up after one record.
    up.during_send = [&] { stop = true; };
    up.script.push_back({SendCode::kRetry, 1, "stopping"});
    auto f = fx.Make(up);
    f->LoadCursor();
    // The pipeline's loop: step until told to stop, then finish.
    Forwarder::StepResult r;
    while (!stop) r = f->Step();
    CHECK(r.next == Forwarder::Next::kBackOff);
    f->Finish();
    CHECK(up.sends == std::vector<Seqs>{{1, 2, 3}});
    CHECK(up.stops == 1);
    CHECK(f->State().state == "stopped");
    CHECK(f->Acked() == 1);
    CHECK(fx.real->Cursor("up") == 1);
    auto left = fx.real->ReadAfter(1, 10);
    REQUIRE(left);
    CHECK(left->size() == 2);
  }
  ScriptedUpstream up("up");
  auto f = fx.Make(up);
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(f->Step().next == Forwarder::Next::kCaughtUp);
  CHECK(up.sends == std::vector<Seqs>{{2, 3}});
  CHECK(fx.real->Cursor("up") == 3);
}

TEST_CASE(
    "a store that refuses to read: back-off that grows, nothing sent, then the records go "
    "out") {
  Fixture fx;
  fx.Append(3);
  ScriptedUpstream up("up");
  auto f = fx.Make(up);
  fx.store->fail_read = true;

  auto r = f->Step();
  REQUIRE(r.next == Forwarder::Next::kBackOff);
  CHECK(r.until_ns == fx.clock.MonotonicNs() + 100 * kMs);
  fx.clock.Set(r.until_ns);
  r = f->Step();
  REQUIRE(r.next == Forwarder::Next::kBackOff);
  CHECK(r.until_ns == fx.clock.MonotonicNs() + 200 * kMs);
  CHECK(up.sends.empty());
  CHECK(f->State().state == "ok");  // the upstream is fine: a store failure is not its error
  CHECK(f->State().errors == 0);

  fx.store->fail_read = false;
  fx.clock.Set(r.until_ns);
  r = f->Step();
  CHECK(r.next == Forwarder::Next::kAgain);
  CHECK(up.sends == std::vector<Seqs>{{1, 2, 3}});
  CHECK(fx.real->Cursor("up") == 3);
  CHECK(f->State().state == "ok");
}

TEST_CASE(
    "a store that refuses an acknowledgement after a send: the records are not sent again "
    "in this run, and are sent again after a restart") {
  Fixture fx;
  fx.Append(3);
  {
    ScriptedUpstream up("up");
    auto f = fx.Make(up);
    fx.store->fail_ack = true;
    CHECK(f->Step().next == Forwarder::Next::kAgain);  // no back-off: the send succeeded
    CHECK(fx.store->acks == 1);
    CHECK(f->Acked() == 3);
    CHECK(f->State().cursor == 3);
    CHECK(f->State().sent == 3);
    CHECK(fx.real->Cursor("up") == 0);
    CHECK(f->Step().next == Forwarder::Next::kCaughtUp);
    CHECK(up.sends.size() == 1);
  }
  fx.store->fail_ack = false;
  ScriptedUpstream up("up");
  auto f = fx.Make(up);
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(up.sends == std::vector<Seqs>{{1, 2, 3}});  // at-least-once
  CHECK(fx.real->Cursor("up") == 3);
}

TEST_CASE(
    "records the store dropped are skipped, and a refused acknowledgement of the skip "
    "backs off") {
  Fixture fx;
  fx.Append(3);
  ScriptedUpstream up("up");
  auto f = fx.Make(up);
  fx.store->hold_nothing = true;  // committed up to 3, but nothing held
  fx.store->fail_ack = true;

  auto r = f->Step();
  REQUIRE(r.next == Forwarder::Next::kBackOff);
  CHECK(r.until_ns == fx.clock.MonotonicNs() + 100 * kMs);
  CHECK(f->Acked() == 0);
  CHECK(fx.real->Cursor("up") == 0);

  fx.store->fail_ack = false;
  fx.clock.Set(r.until_ns);
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(f->Acked() == 3);
  CHECK(f->State().cursor == 3);
  CHECK(f->State().sent == 0);
  CHECK(fx.real->Cursor("up") == 3);
  CHECK(f->Step().next == Forwarder::Next::kCaughtUp);
  CHECK(up.sends.empty());
}

TEST_CASE("caught up: nothing to send until new records come, and finish stops the upstream once") {
  Fixture fx;
  ScriptedUpstream up("up");
  auto f = fx.Make(up);
  CHECK(f->Step().next == Forwarder::Next::kCaughtUp);
  CHECK(f->Step().next == Forwarder::Next::kCaughtUp);
  CHECK(up.starts == 1);
  CHECK(up.sends.empty());
  fx.Append(4);
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(f->Step().next == Forwarder::Next::kCaughtUp);
  CHECK(up.sends == std::vector<Seqs>{{1, 2, 3}, {4}});
  f->Finish();
  CHECK(up.stops == 1);
  CHECK(f->State().state == "stopped");
  CHECK(f->State().name == "up");
}

TEST_CASE(
    "the default jitter takes at most half off the back-off, the same way for the same name") {
  std::vector<std::int64_t> waits[2];
  for (auto& w : waits) {
    Fixture fx;
    fx.Append(1);
    ScriptedUpstream up("up");
    for (int i = 0; i < 8; ++i) up.script.push_back({SendCode::kRetry, 0, "down"});
    ForwarderOptions o = fx.Options();
    o.retry_jitter = ForwarderOptions{}.retry_jitter;
    Forwarder f(*fx.store, up, fx.clock, o);
    std::int64_t backoff = 100;
    for (int i = 0; i < 8; ++i) {
      auto r = f.Step();
      REQUIRE(r.next == Forwarder::Next::kBackOff);
      const std::int64_t wait_ms = (r.until_ns - fx.clock.MonotonicNs()) / kMs;
      CHECK(wait_ms >= backoff / 2);
      CHECK(wait_ms <= backoff);
      w.push_back(wait_ms);
      backoff = std::min<std::int64_t>(500, backoff * 2);
      fx.clock.Set(r.until_ns);
    }
  }
  CHECK(waits[0] == waits[1]);
}

namespace {

// Pipelines (Upstream::EnablePipelining): Send() and Collect() return the scripted results
// (kOk with nothing delivered once a script is used up), `delivered` counting from the oldest
// record in flight.
class PipeliningUpstream final : public Upstream {
 public:
  const std::string& name() const override { return name_; }
  Status Start() override { return Status::Ok(); }
  SendResult Send(std::span<const Record> records) override {
    Seqs seqs;
    for (const Record& r : records) seqs.push_back(r.seq);
    sends.push_back(seqs);
    return Next(send_script);
  }
  void Stop() override { ++stops; }
  bool EnablePipelining(std::function<void()> acknowledged) override {
    wake = std::move(acknowledged);
    return true;
  }
  SendResult Collect() override {
    ++collects;
    return Next(collect_script);
  }

  static SendResult Next(std::deque<SendResult>& script) {
    if (script.empty()) return {SendCode::kOk, 0, {}};
    SendResult r = script.front();
    script.pop_front();
    return r;
  }

  std::string name_ = "up";
  std::deque<SendResult> send_script, collect_script;
  std::vector<Seqs> sends;
  std::function<void()> wake;
  int collects = 0;
  int stops = 0;
};

std::unique_ptr<Forwarder> MakePipelined(Fixture& fx, Upstream& up) {
  ForwarderOptions o = fx.Options();
  o.acknowledged = [] {};
  return std::make_unique<Forwarder>(*fx.store, up, fx.clock, o);
}

}  // namespace

TEST_CASE(
    "pipelining: the next batch goes before the last one is acknowledged, and the store "
    "acknowledges delivered records only") {
  Fixture fx;
  fx.Append(7);
  PipeliningUpstream up;
  auto f = MakePipelined(fx, up);
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(f->Pipelined());
  CHECK(up.wake);  // the forwarder handed its wake-up over
  CHECK(f->Sent() == 3);
  CHECK(f->Acked() == 0);
  CHECK(up.collects == 0);  // nothing was in flight before the first send

  // The second batch goes at once; two of the first batch's records come back with it.
  up.send_script.push_back({SendCode::kOk, 2, {}});
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(up.sends == std::vector<Seqs>{{1, 2, 3}, {4, 5, 6}});
  CHECK(f->Sent() == 6);
  CHECK(f->Acked() == 2);
  CHECK(fx.real->Cursor("up") == 2);

  // The collect before the third send reports three more: up to record 5.
  up.collect_script.push_back({SendCode::kOk, 3, {}});
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(up.sends.back() == Seqs{7});
  CHECK(f->Acked() == 5);
  CHECK(fx.real->Cursor("up") == 5);

  // Nothing new, two records in flight: wait for their acknowledgements, not for new records.
  CHECK(f->Step().next == Forwarder::Next::kAwaitAcks);
  CHECK(f->Step().next == Forwarder::Next::kAwaitAcks);
  up.collect_script.push_back({SendCode::kOk, 2, {}});
  CHECK(f->Step().next == Forwarder::Next::kCaughtUp);
  CHECK(f->Acked() == 7);
  CHECK(fx.real->Cursor("up") == 7);
  UpstreamState st = f->State();
  CHECK(st.sent == 7);
  CHECK(st.errors == 0);
  CHECK(up.sends.size() == 3);  // nothing sent twice
  // Caught up with nothing in flight: no more collects.
  const int collects = up.collects;
  CHECK(f->Step().next == Forwarder::Next::kCaughtUp);
  CHECK(up.collects == collects);
}

TEST_CASE(
    "pipelining: a failed send sends every record in flight again from the last one "
    "acknowledged") {
  Fixture fx;
  fx.Append(6);
  PipeliningUpstream up;
  auto f = MakePipelined(fx, up);
  CHECK(f->Step().next == Forwarder::Next::kAgain);  // 1 2 3 in flight
  up.send_script.push_back({SendCode::kRetry, 1, "connection to the broker lost"});
  auto r = f->Step();  // 4 5 6 fail; record 1 had been acknowledged
  REQUIRE(r.next == Forwarder::Next::kBackOff);
  CHECK(r.until_ns == fx.clock.MonotonicNs() + 100 * kMs);
  CHECK(f->Acked() == 1);
  CHECK(f->Sent() == 1);
  CHECK(fx.real->Cursor("up") == 1);
  CHECK(f->State().state == "retrying");
  CHECK(f->State().last_error == "connection to the broker lost");
  fx.clock.Set(r.until_ns);
  up.send_script.push_back({SendCode::kOk, 3, {}});
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(up.sends.back() == Seqs{2, 3, 4});  // read again after the last acknowledged record
  CHECK(f->Acked() == 4);
  CHECK(f->State().state == "ok");
}

TEST_CASE(
    "pipelining: no acknowledgement in time (Collect fails) backs off and sends the records "
    "in flight again") {
  Fixture fx;
  fx.Append(2);
  PipeliningUpstream up;
  auto f = MakePipelined(fx, up);
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(f->Step().next == Forwarder::Next::kAwaitAcks);
  up.collect_script.push_back(
      {SendCode::kRetry, 0, "no acknowledgement within publish_timeout_ms"});
  auto r = f->Step();
  REQUIRE(r.next == Forwarder::Next::kBackOff);
  CHECK(f->Acked() == 0);
  CHECK(f->State().errors == 1);
  fx.clock.Set(r.until_ns);
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(up.sends == std::vector<Seqs>{{1, 2}, {1, 2}});
  up.collect_script.push_back({SendCode::kOk, 2, {}});
  CHECK(f->Step().next == Forwarder::Next::kCaughtUp);
  CHECK(fx.real->Cursor("up") == 2);
  CHECK(f->State().sent == 2);
}

TEST_CASE("an upstream that cannot pipeline is used as before when the forwarder asks") {
  Fixture fx;
  fx.Append(3);
  ScriptedUpstream up("up");
  up.script.push_back({SendCode::kRetry, 1, "timeout"});
  auto f = MakePipelined(fx, up);
  auto r = f->Step();
  REQUIRE(r.next == Forwarder::Next::kBackOff);
  CHECK_FALSE(f->Pipelined());
  CHECK(f->Acked() == 1);
  const int reads = fx.store->reads;
  fx.clock.Set(r.until_ns);
  CHECK(f->Step().next == Forwarder::Next::kAgain);
  CHECK(up.sends.back() == Seqs{2, 3});  // the rest of the batch held, not read again
  CHECK(fx.store->reads == reads);
  CHECK(f->Step().next == Forwarder::Next::kCaughtUp);
}
