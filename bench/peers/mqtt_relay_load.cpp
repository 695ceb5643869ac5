// mqtt_relay_load: the load side of bench/peers. Publishes JSON readings at a fixed rate, QoS 0,
// on in/<device>/<series> ({"value": V, "ts": MS}) for a bounded time, and counts what a relay
// under test publishes back on out/#. The relay is the gateway (MQTT driver -> rule -> store ->
// MQTT upstream), the bare Paho relay (mqtt_bare_relay) or any peer with the same topics.
//
//   mqtt_relay_load URI RATE SECONDS [DEVICES]
//
// Paced in 1 ms ticks (the messages due by now are sent, so a slow tick catches up). One
// message in six carries a value above 5.0 (the threshold the bench's rule uses). After the
// last publish it waits until nothing has arrived for 1 s (at most 10 s), then prints:
//   "sent=N received=N data_received=N seconds=S sent_per_s=R lag_s=L"
// lag_s: how long after the last publish the last message came back.
// data_received counts out/ messages that are readings (not events: their topic ends in a
// series name, events' topics in "anomaly" or another kind; the runner knows the topics).
#include <mqtt/async_client.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

class Counter : public virtual mqtt::callback {
 public:
  void message_arrived(mqtt::const_message_ptr msg) override {
    received.fetch_add(1, std::memory_order_relaxed);
    last_ns.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                  std::memory_order_relaxed);
    const std::string& t = msg->get_topic();
    if (t.size() >= 12 && t.compare(t.size() - 12, 12, "/temperature") == 0)
      data.fetch_add(1, std::memory_order_relaxed);
  }
  std::atomic<long> received{0};
  std::atomic<long> data{0};
  std::atomic<std::int64_t> last_ns{0};  // steady_clock time of the latest arrival
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s URI RATE SECONDS [DEVICES]\n", argv[0]);
    return 2;
  }
  const std::string uri = argv[1];
  const double rate = std::atof(argv[2]);
  const double seconds = std::atof(argv[3]);
  const int devices = argc > 4 ? std::atoi(argv[4]) : 10;
  if (rate <= 0 || seconds <= 0 || seconds > 600 || devices <= 0) {
    std::fprintf(stderr, "mqtt_relay_load: RATE > 0, 0 < SECONDS <= 600, DEVICES > 0\n");
    return 2;
  }
  try {
    // The sink: its own connection, so that its reading does not slow the publisher.
    mqtt::async_client sink(uri, "pn-bench-relay-sink",
                            static_cast<mqtt::iclient_persistence*>(nullptr));
    Counter counter;
    sink.set_callback(counter);
    sink.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
    sink.subscribe("out/#", 0)->wait();

    mqtt::create_options co;
    co.set_max_buffered_messages(100000);
    mqtt::async_client pub(uri, "pn-bench-relay-load", co,
                           static_cast<mqtt::iclient_persistence*>(nullptr));
    pub.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();

    const long total = static_cast<long>(rate * seconds);
    const auto start = std::chrono::steady_clock::now();
    long sent = 0;
    char payload[96];
    while (sent < total) {
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      long due = std::min(total, static_cast<long>(elapsed * rate) + 1);
      for (; sent < due; ++sent) {
        const long ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
        const double value = (sent % 6 == 5) ? 7.5 : static_cast<double>(sent % 5);
        int n = std::snprintf(payload, sizeof payload, "{\"value\":%.1f,\"ts\":%ld}", value, ms);
        std::string topic = "in/dev-" + std::to_string(sent % devices) + "/temperature";
        pub.publish(topic, payload, static_cast<std::size_t>(n), 0, false);
      }
      std::this_thread::sleep_until(start + std::chrono::microseconds(static_cast<long>(
                                                (static_cast<double>(sent) / rate) * 1e6)));
    }
    const auto end = std::chrono::steady_clock::now();
    const double secs = std::chrono::duration<double>(end - start).count();
    // Drain: until nothing arrived for 1 s, at most 10 s.
    long last = -1;
    for (int i = 0; i < 10 && counter.received.load() != last; ++i) {
      last = counter.received.load();
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    // How long after the last publish the last message came back: a relay that keeps up
    // answers within its batching latency; one that falls behind drains a backlog.
    const double lag = std::max(
        0.0, static_cast<double>(counter.last_ns.load() - end.time_since_epoch().count()) / 1e9);
    std::printf("sent=%ld received=%ld data_received=%ld seconds=%.3f sent_per_s=%.0f lag_s=%.3f\n",
                sent, counter.received.load(), counter.data.load(), secs,
                static_cast<double>(sent) / secs, lag);
    pub.disconnect()->wait();
    sink.disconnect()->wait();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqtt_relay_load: %s\n", e.what());
    return 1;
  }
  return 0;
}
