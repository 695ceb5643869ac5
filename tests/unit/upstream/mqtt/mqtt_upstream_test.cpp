// MqttUpstream against a real mosquitto started by the test on a free loopback port.
#include "gateway/upstream/mqtt/mqtt_upstream.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/record.h"
#include "tests/unit/loopback_util.h"

extern char** environ;

namespace pn::mqtt_upstream {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using pn::testing::CanConnect;
using pn::testing::FreePort;

// False, saying so, where mosquitto is not installed (scripts/install-deps.sh installs it).
bool HaveMosquitto() {
  for (const char* p : {"/usr/sbin/mosquitto", "/usr/bin/mosquitto"}) {
    if (::access(p, X_OK) == 0) return true;
  }
  MESSAGE("not run: mosquitto is not installed (scripts/install-deps.sh installs it)");
  return false;
}

// A mosquitto process on 127.0.0.1:port, persistence off.
class Broker {
 public:
  Broker() : dir_(fs::temp_directory_path() / ("pn-mqtt-ut-" + std::to_string(::getpid()))) {
    fs::create_directories(dir_);
    port_ = FreePort();
  }
  ~Broker() {
    Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  int port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

  bool Start() {
    std::string conf = (dir_ / "mosquitto.conf").string();
    {
      std::ofstream f(conf);
      f << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\npersistence false\n";
    }
    const char* bin =
        ::access("/usr/sbin/mosquitto", X_OK) == 0 ? "/usr/sbin/mosquitto" : "/usr/bin/mosquitto";
    std::vector<std::string> args = {bin, "-c", conf};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, (dir_ / "mosquitto.log").c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    int rc = posix_spawn(&pid_, bin, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    for (int i = 0; i < 200; ++i) {  // up to 10 s on a loaded machine
      if (CanConnect(port_)) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // Freezes the broker (SIGSTOP): connections stay open, nothing is answered.
  void Pause() { ::kill(pid_, SIGSTOP); }
  void Resume() { ::kill(pid_, SIGCONT); }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  fs::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A Paho subscriber collecting what arrives.
class Subscriber {
 public:
  Subscriber(const std::string& uri, const std::string& topic)
      : client_(uri, "pn-ut-sub-" + std::to_string(::getpid())) {
    client_.set_message_callback([this](mqtt::const_message_ptr m) {
      std::lock_guard lock(mu_);
      messages_.emplace_back(m->get_topic(), m->to_string(), m->is_retained());
    });
    client_.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
    client_.subscribe(topic, 1)->wait();
  }
  ~Subscriber() {
    try {
      client_.disconnect()->wait_for(2s);
    } catch (const std::exception&) {
    }
  }
  struct Msg {
    Msg(std::string t, std::string p, bool r)
        : topic(std::move(t)), payload(std::move(p)), retained(r) {}
    std::string topic, payload;
    bool retained;
  };
  std::vector<Msg> Wait(std::size_t n, std::chrono::seconds timeout = 20s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (messages_.size() >= n || std::chrono::steady_clock::now() > end) return messages_;
      }
      std::this_thread::sleep_for(20ms);
    }
  }

 private:
  mqtt::async_client client_;
  std::mutex mu_;
  std::vector<Msg> messages_;
};

std::vector<Record> Records(std::uint64_t first, std::size_t n) {
  std::vector<Record> out;
  for (std::size_t i = 0; i < n; ++i) {
    Reading r{.device = "pump-" + std::to_string(i % 3),
              .series = "flow",
              .value = static_cast<double>(i),
              .unit = "",
              .quality = Quality::kGood,
              .ts_ns = static_cast<std::int64_t>(i)};
    NewRecord nr = ToRecord(r);
    out.push_back(Record{first + i, nr.kind, nr.ts_ns, nr.device, nr.series, nr.body});
  }
  return out;
}

Options MakeOptions(const std::string& uri, PayloadFormat format) {
  Options o;
  o.conn.servers = {uri};
  o.conn.client_id = "pn-ut-pub-" + std::to_string(::getpid());
  o.encoder.gateway_id = "gw";
  o.encoder.upstream = "up";
  o.encoder.topic = *TopicTemplate::Parse("{gateway}/{device}/{series}");
  o.encoder.format = format;
  o.encoder.batch_max_records = 7;
  o.status_topic = "gw/status";
  o.conn.max_inflight = 2;
  o.conn.publish_timeout = 5000ms;
  o.conn.connect_timeout = 2000ms;
  return o;
}

TEST_CASE("no broker: Start is Unavailable and Send retries with nothing delivered") {
  std::string uri = "tcp://127.0.0.1:" + std::to_string(FreePort());
  MqttUpstream up("up", MakeOptions(uri, PayloadFormat::kJson));
  Status s = up.Start();
  CHECK(s.code() == Code::kUnavailable);
  auto recs = Records(1, 5);
  SendResult r = up.Send(recs);
  CHECK(r.code == SendCode::kRetry);
  CHECK(r.delivered == 0);
  CHECK_FALSE(r.error.empty());
  up.Stop();
}

TEST_CASE("a send through a small window is acknowledged whole and every record arrives") {
  if (!HaveMosquitto()) return;
  Broker broker;
  REQUIRE(broker.Start());
  Subscriber sub(broker.uri(), "gw/+/flow");
  MqttUpstream up("up", MakeOptions(broker.uri(), PayloadFormat::kJsonBatch));
  REQUIRE(up.Start().ok());
  auto recs = Records(1, 100);
  SendResult r = up.Send(recs);
  CHECK(r.code == SendCode::kOk);
  CHECK(r.delivered == 100);
  // 3 devices, batches of at most 7: 34 + 33 + 33 records -> 5 + 5 + 5 messages.
  auto got = sub.Wait(15);
  REQUIRE(got.size() == 15);
  std::set<std::string> seqs;
  for (const auto& m : got) {
    CHECK(m.payload.front() == '[');
    for (std::size_t pos = 0; (pos = m.payload.find("\"seq\":", pos)) != std::string::npos;) {
      pos += 6;
      seqs.insert(m.payload.substr(pos, m.payload.find(',', pos) - pos));
    }
  }
  CHECK(seqs.size() == 100);
  up.Stop();
}

TEST_CASE("a window larger than Paho's default buffer of 100 messages works") {
  if (!HaveMosquitto()) return;
  Broker broker;
  REQUIRE(broker.Start());
  Options o = MakeOptions(broker.uri(), PayloadFormat::kJson);
  o.conn.max_inflight = 1000;
  MqttUpstream up("up", o);
  REQUIRE(up.Start().ok());
  auto recs = Records(1, 2000);
  SendResult r = up.Send(recs);
  CHECK(r.code == SendCode::kOk);
  CHECK(r.delivered == 2000);
  CHECK(r.error.empty());
  up.Stop();
}

TEST_CASE("servers are tried in order and a persistent session works") {
  if (!HaveMosquitto()) return;
  Broker broker;
  REQUIRE(broker.Start());
  Options o = MakeOptions(broker.uri(), PayloadFormat::kInflux);
  o.conn.servers = {"tcp://127.0.0.1:" + std::to_string(FreePort()), broker.uri()};
  o.clean_session = false;
  MqttUpstream up("up", o);
  REQUIRE(up.Start().ok());
  auto recs = Records(1, 50);
  SendResult r = up.Send(recs);
  CHECK(r.code == SendCode::kOk);
  CHECK(r.delivered == 50);
  up.Stop();
}

TEST_CASE("birth message is retained online and a clean stop leaves offline retained") {
  if (!HaveMosquitto()) return;
  Broker broker;
  REQUIRE(broker.Start());
  {
    MqttUpstream up("up", MakeOptions(broker.uri(), PayloadFormat::kJson));
    REQUIRE(up.Start().ok());
    Subscriber sub(broker.uri(), "gw/status");  // joins later: sees the retained message
    auto got = sub.Wait(1);
    REQUIRE(got.size() >= 1);
    CHECK(got[0].payload == "online");
    CHECK(got[0].retained);
    up.Stop();
  }
  Subscriber late(broker.uri(), "gw/status");
  auto got = late.Wait(1);
  REQUIRE(got.size() >= 1);
  CHECK(got[0].payload == "offline");
}

TEST_CASE("broker restart: Send retries while it is down and delivers after it is back") {
  if (!HaveMosquitto()) return;
  Broker broker;
  REQUIRE(broker.Start());
  MqttUpstream up("up", MakeOptions(broker.uri(), PayloadFormat::kJson));
  REQUIRE(up.Start().ok());
  auto recs = Records(1, 10);
  CHECK(up.Send(recs).code == SendCode::kOk);
  broker.Stop();
  SendResult down{};
  for (int i = 0; i < 50; ++i) {  // the lost connection is noticed within a few tries
    down = up.Send(recs);
    if (down.code == SendCode::kRetry) break;
    std::this_thread::sleep_for(100ms);
  }
  CHECK(down.code == SendCode::kRetry);
  CHECK(down.delivered == 0);
  CHECK_FALSE(up.connected());
  REQUIRE(broker.Start());
  SendResult back{SendCode::kRetry, 0, {}};
  for (int i = 0; i < 50 && back.code != SendCode::kOk; ++i) {
    back = up.Send(recs);
    if (back.code != SendCode::kOk) std::this_thread::sleep_for(200ms);
  }
  CHECK(back.code == SendCode::kOk);
  CHECK(back.delivered == 10);
  up.Stop();
}

// Pipelining's wake-up, counted; Wait() returns once it was called after `seen`.
struct Wakes {
  std::mutex mu;
  std::condition_variable cv;
  int count = 0;
  std::function<void()> Callback() {
    return [this] {
      {
        std::lock_guard lock(mu);
        ++count;
      }
      cv.notify_all();
    };
  }
  bool WaitPast(int seen, std::chrono::seconds timeout = 20s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return count > seen; });
  }
  int Count() {
    std::lock_guard lock(mu);
    return count;
  }
};

// Collects until `want` records are delivered in all (or a failure, or 20 s), waiting on the
// wake-up between collects; returns the total, which must never pass `want`.
std::size_t CollectUntil(MqttUpstream& up, Wakes& wakes, std::size_t delivered, std::size_t want) {
  auto end = std::chrono::steady_clock::now() + 20s;
  while (delivered < want && std::chrono::steady_clock::now() < end) {
    const int seen = wakes.Count();
    SendResult r = up.Collect();
    delivered += r.delivered;
    if (r.code != SendCode::kOk) break;
    if (delivered < want) wakes.WaitPast(seen, 1s);
  }
  return delivered;
}

TEST_CASE(
    "pipelining: sends return with records in flight, collects report each record once, and "
    "every record arrives") {
  if (!HaveMosquitto()) return;
  Broker broker;
  REQUIRE(broker.Start());
  Subscriber sub(broker.uri(), "gw/+/flow");
  MqttUpstream up("up", MakeOptions(broker.uri(), PayloadFormat::kJsonBatch));
  Wakes wakes;
  REQUIRE(up.EnablePipelining(wakes.Callback()));
  REQUIRE(up.Start().ok());
  std::size_t delivered = 0;
  for (std::uint64_t first : {1, 51, 101}) {
    auto recs = Records(first, 50);
    SendResult r = up.Send(recs);
    REQUIRE(r.code == SendCode::kOk);
    delivered += r.delivered;
    CHECK(delivered <= first + 49);  // never more than was sent
  }
  delivered = CollectUntil(up, wakes, delivered, 150);
  CHECK(delivered == 150);
  CHECK(wakes.Count() >= 1);
  // Nothing left in flight: a collect reports nothing more.
  SendResult after = up.Collect();
  CHECK(after.code == SendCode::kOk);
  CHECK(after.delivered == 0);
  // 3 sends x 3 devices, batches of at most 7: 17 + 17 + 16 records -> 3 + 3 + 3 per send.
  auto got = sub.Wait(27);
  REQUIRE(got.size() == 27);
  std::set<std::string> seqs;
  for (const auto& m : got) {
    for (std::size_t pos = 0; (pos = m.payload.find("\"seq\":", pos)) != std::string::npos;) {
      pos += 6;
      seqs.insert(m.payload.substr(pos, m.payload.find(',', pos) - pos));
    }
  }
  CHECK(seqs.size() == 150);
  up.Stop();
}

TEST_CASE(
    "pipelining: a broker that stops answering leaves records in flight, undelivered, until "
    "publish_timeout on the upstream's clock makes the collect fail") {
  if (!HaveMosquitto()) return;
  Broker broker;
  REQUIRE(broker.Start());
  FakeClock clock(1'000'000'000'000);
  Options o = MakeOptions(broker.uri(), PayloadFormat::kJson);
  o.conn.max_inflight = 100;
  o.conn.publish_timeout = 1000ms;
  o.clock = &clock;
  MqttUpstream up("up", o);
  Wakes wakes;
  REQUIRE(up.EnablePipelining(wakes.Callback()));
  REQUIRE(up.Start().ok());
  broker.Pause();
  auto recs = Records(1, 10);
  SendResult r = up.Send(recs);
  CHECK(r.code == SendCode::kOk);  // handed over, not waited for
  CHECK(r.delivered == 0);
  // No PUBACK can come from a stopped broker: in flight, undelivered, until the timeout.
  for (int i = 0; i < 3; ++i) {
    SendResult c = up.Collect();
    CHECK(c.code == SendCode::kOk);
    CHECK(c.delivered == 0);
  }
  clock.Advance(999'000'000);
  CHECK(up.Collect().code == SendCode::kOk);
  clock.Advance(1'000'000);
  SendResult c = up.Collect();
  CHECK(c.code == SendCode::kRetry);
  CHECK(c.delivered == 0);
  CHECK(c.error == "no acknowledgement within publish_timeout_ms");
  broker.Resume();
  // Sent again after the failure, they are delivered (the forwarder resends them this way).
  SendResult again{SendCode::kRetry, 0, {}};
  for (int i = 0; i < 50 && again.code != SendCode::kOk; ++i) {
    again = up.Send(recs);
    if (again.code != SendCode::kOk) std::this_thread::sleep_for(200ms);
  }
  REQUIRE(again.code == SendCode::kOk);
  CHECK(CollectUntil(up, wakes, again.delivered, 10) == 10);
  up.Stop();
}

struct FrozenSend {
  SendResult result;
  std::int64_t fake_ns_waited = 0;  // on the upstream's clock, from the send to its return
};

// Sends 5 records (one message each, window of 2) to a SIGSTOPped broker, with or without
// pipelining, publish_timeout at an hour, while another thread moves the upstream's FakeClock
// forward 10 minutes every 5 ms of real time (at most 4,000 steps). A send waiting for
// acknowledgements that never come ends within a second of real time only through the clock's
// deadline; one that read real time would wait the whole hour. REQUIRES: mosquitto.
FrozenSend SendToFrozenBroker(bool pipelined) {
  Broker broker;
  REQUIRE(broker.Start());
  FakeClock clock(1'000'000'000'000);
  Options o = MakeOptions(broker.uri(), PayloadFormat::kJson);
  o.conn.max_inflight = 2;  // with pipelining, the third message waits for room in the window
  o.conn.publish_timeout = 3600s;
  o.clock = &clock;
  MqttUpstream up("up", o);
  Wakes wakes;
  if (pipelined) REQUIRE(up.EnablePipelining(wakes.Callback()));
  REQUIRE(up.Start().ok());
  broker.Pause();
  std::atomic<bool> done{false};
  std::thread advancer([&] {
    for (int i = 0; i < 4000 && !done; ++i) {
      clock.Advance(600'000'000'000);
      std::this_thread::sleep_for(5ms);
    }
  });
  const std::int64_t start = clock.MonotonicNs();
  FrozenSend out;
  out.result = up.Send(Records(1, 5));
  out.fake_ns_waited = clock.MonotonicNs() - start;
  done = true;
  advancer.join();
  broker.Resume();
  up.Stop();
  return out;
}

TEST_CASE(
    "pipelining: a full window waits for a stopped broker until publish_timeout on the "
    "upstream's clock, then the send fails") {
  if (!HaveMosquitto()) return;
  FrozenSend s = SendToFrozenBroker(/*pipelined=*/true);
  CHECK(s.result.code == SendCode::kRetry);
  CHECK(s.result.delivered == 0);
  CHECK(s.result.error == "no acknowledgement within publish_timeout_ms");
  CHECK(s.fake_ns_waited >= 3600'000'000'000);  // not before the deadline on the upstream's clock
}

TEST_CASE(
    "without pipelining, a send to a stopped broker fails at publish_timeout on the upstream's "
    "clock") {
  if (!HaveMosquitto()) return;
  FrozenSend s = SendToFrozenBroker(/*pipelined=*/false);
  CHECK(s.result.code == SendCode::kRetry);
  CHECK(s.result.delivered == 0);
  CHECK(s.result.error == "no acknowledgement within publish_timeout_ms");
  CHECK(s.fake_ns_waited >= 3600'000'000'000);
}

}  // namespace
}  // namespace pn::mqtt_upstream
