// mqtt_subscribe_bench: JSON readings ingested per second through the mqtt driver (Paho, decoder,
// simdjson, batching) into a counting sink, beside the rate mosquitto delivers the same messages
// to a bare Paho subscriber (a message callback that only counts), in the same run.
//
// Setup: a mosquitto broker started by the bench on a free loopback port, pinned to one CPU; the
// bench process (driver or bare subscriber, with all their threads) pinned to the other, so
// ingestion runs on one core. Each subscriber has a persistent session (clean_session = false,
// QoS 0 with queue_qos0_messages): while it is offline, mosquitto_pub -l publishes N identical
// JSON messages ({"value": 21.53, "ts": ...}) to its topic and the broker queues them; then the
// subscriber connects and the time from connect to the N-th message (reading) is measured. So
// the publisher's speed does not enter the measurement: it is the broker's delivery rate and
// the subscriber's ingestion rate. Rounds alternate which subscriber goes first; medians.
//
// Usage: mqtt_subscribe_bench [messages_per_round=200000] [rounds=5]
#include <fcntl.h>
#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "drivers/mqtt/mqtt_driver.h"
#include "tests/unit/loopback_util.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

using pn::testing::CanConnect;
using pn::testing::FreePort;

void Pin(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  ::sched_setaffinity(pid, sizeof set, &set);
}

// Publishes `n` JSON messages to `topic` through `mosquitto_pub -l` (one message per line).
bool Publish(int port, const std::string& topic, std::size_t n) {
  const std::string cmd =
      "mosquitto_pub -h 127.0.0.1 -p " + std::to_string(port) + " -q 0 -l -t " + topic;
  FILE* p = ::popen(cmd.c_str(), "w");
  if (p == nullptr) return false;
  char line[96];
  for (std::size_t i = 0; i < n; ++i) {
    const int len =
        std::snprintf(line, sizeof line, "{\"value\": 21.53, \"ts\": %zu}\n", 1767225600000 + i);
    std::fwrite(line, 1, static_cast<std::size_t>(len), p);
  }
  return ::pclose(p) == 0;
}

class CountingSink final : public pn::ReadingSink {
 public:
  bool Deliver(std::vector<pn::Reading>& batch) override {
    count.fetch_add(batch.size(), std::memory_order_relaxed);
    return true;
  }
  std::atomic<std::size_t> count{0};
};

// CPU seconds (user + system) used by this process so far: the subscriber's own cost, which
// the load of other processes on the machine does not inflate as much as wall time.
double CpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Rate {
  double wall = 0;  // messages (readings) per wall second
  double cpu = 0;   // per CPU second of this process
};

bool WaitCount(const std::atomic<std::size_t>& c, std::size_t n, double timeout_s) {
  const auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (c.load(std::memory_order_relaxed) < n) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

std::unique_ptr<pn::mqtt::MqttDriver> MakeDriver(int port) {
  pn::mqtt::MqttSettings s;
  s.broker = "tcp://127.0.0.1:" + std::to_string(port);
  s.client_id = "bench-driver";
  s.topics = {"bench/driver/{device}/{series}"};
  s.qos = 0;
  s.clean_session = false;
  s.payload = "json";
  s.json.time = "ts";
  s.retry_initial_ms = 50;
  auto d = pn::mqtt::MqttDriver::Create("bench", s, &pn::SystemClock::Instance());
  if (!d) {
    std::fprintf(stderr, "driver: %s\n", d.error().message().c_str());
    std::exit(1);
  }
  return std::move(*d);
}

// Driver round: readings per second (0 on failure).
Rate DriverRound(int port, std::size_t n, bool prime_only) {
  auto driver = MakeDriver(port);
  CountingSink sink;
  const double c0 = CpuSeconds();
  const auto t0 = Clock::now();
  std::jthread t([&](std::stop_token st) { driver->Run(st, sink); });
  if (prime_only) {
    while (driver->connects() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return {};
  }
  const bool ok = WaitCount(sink.count, n, 120);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = CpuSeconds() - c0;
  t.request_stop();
  t.join();
  if (!ok || driver->stats().errors.load() != 0) {
    std::fprintf(stderr, "driver round: %zu of %zu readings, %llu errors\n", sink.count.load(), n,
                 static_cast<unsigned long long>(driver->stats().errors.load()));
    return {};
  }
  return {static_cast<double>(n) / s, static_cast<double>(n) / cpu};
}

// Bare Paho round: a callback that only counts.
Rate BareRound(int port, std::size_t n, bool prime_only) {
  mqtt::async_client cli("tcp://127.0.0.1:" + std::to_string(port), "bench-bare",
                         static_cast<mqtt::iclient_persistence*>(nullptr));
  std::atomic<std::size_t> count{0};
  cli.set_message_callback(
      [&count](mqtt::const_message_ptr) { count.fetch_add(1, std::memory_order_relaxed); });
  auto opts = mqtt::connect_options_builder()
                  .clean_session(false)
                  .mqtt_version(MQTTVERSION_3_1_1)
                  .finalize();
  const double c0 = CpuSeconds();
  const auto t0 = Clock::now();
  try {
    cli.connect(opts)->wait();
    if (prime_only) {
      cli.subscribe("bench/bare/+/+", 0)->wait();
      cli.disconnect()->wait();
      return {};
    }
    const bool ok = WaitCount(count, n, 120);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = CpuSeconds() - c0;
    cli.disconnect()->wait();
    if (!ok) {
      std::fprintf(stderr, "bare round: %zu of %zu messages\n", count.load(), n);
      return {};
    }
    return {static_cast<double>(n) / s, static_cast<double>(n) / cpu};
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bare: %s\n", e.what());
    return {};
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/pn-mqtt-bench-XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl);
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);
  const int port = FreePort();
  const fs::path conf = dir / "mosquitto.conf";
  std::ofstream(conf) << "listener " << port << " 127.0.0.1\nallow_anonymous true\n"
                      << "persistence false\nqueue_qos0_messages true\n"
                      << "max_queued_messages 0\nmax_queued_bytes 0\n";
  const std::string conf_s = conf.string();
  const char* args[] = {"mosquitto", "-c", conf_s.c_str(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t broker = 0;
  if (posix_spawnp(&broker, "mosquitto", &fa, nullptr, const_cast<char**>(args), environ) != 0) {
    std::fprintf(stderr, "cannot start mosquitto\n");
    return 1;
  }
  const int cpus = static_cast<int>(std::thread::hardware_concurrency());
  if (cpus >= 2) {
    Pin(broker, 1);
    Pin(0, 0);  // this process and every thread it starts from now on
  }
  for (int i = 0; i < 200 && !CanConnect(port); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  std::printf(
      "mqtt_subscribe_bench: %zu JSON messages per round, %d rounds, broker on CPU 1, "
      "subscriber on CPU 0 (%d CPUs)\n",
      n, rounds, cpus);
  BareRound(port, n, true);
  DriverRound(port, n, true);
  std::vector<double> bare, drv, ratio, bare_cpu, drv_cpu;
  for (int r = 0; r < rounds; ++r) {
    Rate b, d;
    for (int k = 0; k < 2; ++k) {
      const bool bare_turn = (k == 0) == (r % 2 == 0);
      if (!Publish(port,
                   bare_turn ? "bench/bare/dev-1/temperature" : "bench/driver/dev-1/temperature",
                   n)) {
        std::fprintf(stderr, "mosquitto_pub failed\n");
      }
      if (bare_turn) {
        b = BareRound(port, n, false);
      } else {
        d = DriverRound(port, n, false);
      }
    }
    std::printf(
        "round %d: bare Paho %.0f msg/s (%.0f per CPU s), driver %.0f readings/s (%.0f "
        "per CPU s), ratio %.2f\n",
        r + 1, b.wall, b.cpu, d.wall, d.cpu, b.wall > 0 ? d.wall / b.wall : 0);
    bare.push_back(b.wall);
    drv.push_back(d.wall);
    bare_cpu.push_back(b.cpu);
    drv_cpu.push_back(d.cpu);
    ratio.push_back(b.wall > 0 ? d.wall / b.wall : 0);
  }
  std::printf(
      "median: bare Paho subscriber %.0f msg/s, mqtt driver %.0f readings/s, "
      "driver/bare %.2f (median of per-round ratios)\n",
      Median(bare), Median(drv), Median(ratio));
  std::printf(
      "median per CPU second of the subscriber process: bare %.0f msg, driver %.0f "
      "readings (%.2f)\n",
      Median(bare_cpu), Median(drv_cpu),
      Median(bare_cpu) > 0 ? Median(drv_cpu) / Median(bare_cpu) : 0);
  ::kill(broker, SIGTERM);
  ::waitpid(broker, nullptr, 0);
  fs::remove_all(dir);
  return 0;
}
