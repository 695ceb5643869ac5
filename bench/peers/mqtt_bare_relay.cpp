// mqtt_bare_relay: the floor of bench/peers' MQTT relay. A bare Paho MQTT C++ client subscribes
// to in/# at QoS 0 and publishes every message again on out/<rest of the topic> at QoS 0, with
// its payload unchanged: no parsing, no rules, no store. What Paho and the broker cost per
// message on this machine.
//
//   mqtt_bare_relay URI
// Prints "ready" once subscribed; runs until SIGTERM or SIGINT.
#include <mqtt/async_client.h>
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <string>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

class Relay : public virtual mqtt::callback {
 public:
  explicit Relay(mqtt::async_client& c) : client_(c) {}
  void message_arrived(mqtt::const_message_ptr msg) override {
    const std::string& t = msg->get_topic();
    const mqtt::binary& p = msg->get_payload();
    try {
      client_.publish("out/" + t.substr(3), p.data(), p.size(), 0, false);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mqtt_bare_relay: publish: %s\n", e.what());
    }
  }

 private:
  mqtt::async_client& client_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URI\n", argv[0]);
    return 2;
  }
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  // Blocked until sigsuspend(): a signal between the check and the wait is not lost.
  sigset_t stop_signals, waiting;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &waiting);
  try {
    mqtt::create_options co;
    co.set_max_buffered_messages(100000);
    mqtt::async_client client(argv[1], "pn-bench-bare-relay", co,
                              static_cast<mqtt::iclient_persistence*>(nullptr));
    Relay relay(client);
    client.set_callback(relay);
    client.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
    client.subscribe("in/#", 0)->wait();
    std::printf("ready\n");
    std::fflush(stdout);
    while (!g_stop) sigsuspend(&waiting);
    client.disconnect()->wait();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqtt_bare_relay: %s\n", e.what());
    return 1;
  }
  return 0;
}
