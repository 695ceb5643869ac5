// The mqtt driver against a real mosquitto started by the test on a free loopback port: a
// persistent session whose queued backlog is larger than the driver's inbox bound arrives in
// full while the pipeline is stalled (no deadlock between the subscribe and the bounded inbox,
// no loss), and a stop is prompt.
#include "drivers/mqtt/mqtt_driver.h"

#include <doctest/doctest.h>
#include <fcntl.h>
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
#include <mutex>
#include <thread>

#include "tests/unit/loopback_util.h"

extern char** environ;

namespace pn::mqtt {
namespace {

namespace fs = std::filesystem;

using pn::testing::CanConnect;
using pn::testing::FreePort;

// A mosquitto on 127.0.0.1:port() that queues QoS 0 messages for offline persistent sessions.
class Mosquitto {
 public:
  Mosquitto() {
    char tmpl[] = "/tmp/pn-mqtt-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    // Started as root, mosquitto drops to its own user, which must read the config.
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    port_ = FreePort();
    const std::string conf = (dir_ / "mosquitto.conf").string();
    std::ofstream(conf) << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\n"
                        << "persistence false\nqueue_qos0_messages true\n"
                        << "max_queued_messages 0\nmax_queued_bytes 0\n";
    const char* args[] = {"mosquitto", "-c", conf.c_str(), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid_, "mosquitto", &fa, nullptr, const_cast<char**>(args), environ) != 0) {
      pid_ = 0;
    }
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 400 && pid_ != 0 && !CanConnect(port_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  ~Mosquitto() {
    if (pid_ != 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool ok() const { return pid_ != 0 && CanConnect(port_); }
  int port() const { return port_; }

  // Publishes `n` JSON messages {"v": i} to `topic` with mosquitto_pub -l.
  bool Publish(const std::string& topic, int n) const {
    const std::string cmd =
        "mosquitto_pub -h 127.0.0.1 -p " + std::to_string(port_) + " -q 0 -l -t " + topic;
    FILE* p = ::popen(cmd.c_str(), "w");
    if (p == nullptr) return false;
    for (int i = 0; i < n; ++i) std::fprintf(p, "{\"v\": %d}\n", i);
    return ::pclose(p) == 0;
  }

 private:
  fs::path dir_;
  int port_ = 0;
  pid_t pid_ = 0;
};

// Counts readings and checks their order; blocks in Deliver until released.
class StallingSink final : public ReadingSink {
 public:
  bool Deliver(std::vector<Reading>& batch) override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return released_; });
    for (const auto& r : batch) {
      if (r.value != static_cast<double>(next_)) in_order_ = false;
      ++next_;
    }
    count_ += batch.size();
    return true;
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  std::size_t count() const { return count_.load(); }
  bool in_order() const {
    std::lock_guard lock(mu_);
    return in_order_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  bool in_order_ = true;
  int next_ = 0;
  std::atomic<std::size_t> count_{0};
};

MqttSettings Settings(int port) {
  MqttSettings s;
  s.broker = "tcp://127.0.0.1:" + std::to_string(port);
  s.client_id = "pn-driver-test";
  s.topics = {"t/{device}/{series}"};
  s.qos = 0;
  s.clean_session = false;
  s.payload = "json";
  s.json.value = "v";
  s.batch = 500;  // inbox bound: max(16 * 500, 16384) = 16384 readings
  s.connect_timeout_ms = 5000;
  s.retry_initial_ms = 50;
  return s;
}

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::seconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace

TEST_CASE(
    "mqtt driver: a queued backlog beyond the inbox bound arrives whole while the pipeline "
    "stalls, and a stop is prompt") {
  Mosquitto broker;
  REQUIRE_MESSAGE(broker.ok(), "mosquitto did not start");
  {  // Create the persistent session (subscription), then go offline.
    auto d = MqttDriver::Create("prime", Settings(broker.port()), &SystemClock::Instance());
    REQUIRE(d.has_value());
    StallingSink sink;
    sink.Release();
    std::jthread t([&](std::stop_token st) { (*d)->Run(st, sink); });
    REQUIRE(WaitFor([&] { return (*d)->connects() == 1; }, std::chrono::seconds(20)));
  }
  constexpr int kMessages = 40000;  // > the inbox bound: the callback must wait for room
  REQUIRE(broker.Publish("t/dev/level", kMessages));

  // The SUBACK arrives only after the whole backlog has been decoded: under qemu on a busy
  // machine that takes more than the default 5 s, and a timed-out subscribe loses QoS 0 messages.
  MqttSettings backlog = Settings(broker.port());
  backlog.connect_timeout_ms = 60000;
  auto d = MqttDriver::Create("backlog", backlog, &SystemClock::Instance());
  REQUIRE(d.has_value());
  StallingSink sink;
  std::jthread t([&](std::stop_token st) { (*d)->Run(st, sink); });
  // A failed REQUIRE below must not leave the driver blocked in the sink: the jthread's join
  // would then wait forever. This releases it first (destroyed before `t`).
  struct ReleaseOnExit {
    StallingSink& s;
    ~ReleaseOnExit() { s.Release(); }
  } release_on_exit{sink};
  // The backlog floods in right after CONNACK, before the SUBACK: the subscribe must still
  // complete while the pipeline is stalled.
  REQUIRE(WaitFor([&] { return (*d)->connects() == 1; }, std::chrono::seconds(20)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(sink.count() == 0);
  sink.Release();
  REQUIRE(WaitFor([&] { return sink.count() == kMessages; }, std::chrono::seconds(30)));
  CHECK(sink.in_order());
  CHECK((*d)->stats().errors.load() == 0);
  CHECK((*d)->connects() == 1);
  const auto t0 = std::chrono::steady_clock::now();
  t.request_stop();
  t.join();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(1500));
}

TEST_CASE("mqtt driver: a broker that is not there is retried with backoff until a stop") {
  MqttSettings s = Settings(FreePort());
  auto d = MqttDriver::Create("nobody", s, &SystemClock::Instance());
  REQUIRE(d.has_value());
  StallingSink sink;
  std::jthread t([&](std::stop_token st) { (*d)->Run(st, sink); });
  REQUIRE(WaitFor([&] { return (*d)->stats().errors.load() >= 2; }, std::chrono::seconds(20)));
  CHECK((*d)->connects() == 0);
  const auto t0 = std::chrono::steady_clock::now();
  t.request_stop();
  t.join();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(1500));
}

TEST_CASE("mqtt driver: the password comes from the file or the environment, missing is an error") {
  MqttSettings s = Settings(1883);
  s.username = "u";
  s.password_env = "PN_MQTT_TEST_PASSWORD_UNSET_42";
  CHECK_FALSE(MqttDriver::Create("x", s, &SystemClock::Instance()).has_value());
  s.password_env.clear();
  s.password_file = "/nonexistent/password";
  auto e = MqttDriver::Create("x", s, &SystemClock::Instance());
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().code() == Code::kConfig);
}

}  // namespace pn::mqtt
