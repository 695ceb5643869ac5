// mqtt_bare_pub: the baseline of bench/mqtt_forward. A bare Paho MQTT C++ async publisher sends
// json_batch payloads of the same shape as the gateway's (arrays of wire-JSON readings built
// with pn::AppendWireJson), at the same QoS, with the same in-flight window, and reports the
// rate in messages/s and readings/s. No store, no rules: the ceiling of MQTT on this machine.
//
//   mqtt_bare_pub URI READINGS RECORDS_PER_MESSAGE MAX_INFLIGHT [QOS] [MESSAGES_PER_S]
// MESSAGES_PER_S paces the messages (0, the default: as fast as it can).
// Prints one line: "messages=N readings=N bytes_per_message=N seconds=S readings_per_s=R".
#include <mqtt/async_client.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <thread>

#include "core/reading.h"
#include "core/record.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: %s URI READINGS RECORDS_PER_MESSAGE MAX_INFLIGHT [QOS] "
                 "[MESSAGES_PER_S]\n",
                 argv[0]);
    return 2;
  }
  const std::string uri = argv[1];
  const long readings = std::atol(argv[2]);
  const long per_msg = std::atol(argv[3]);
  const long window = std::atol(argv[4]);
  const int qos = argc > 5 ? std::atoi(argv[5]) : 1;
  const double rate = argc > 6 ? std::atof(argv[6]) : 0.0;
  const long messages = (readings + per_msg - 1) / per_msg;
  try {
    mqtt::async_client cli(uri, "pn-bench-bare-pub",
                           static_cast<mqtt::iclient_persistence*>(nullptr));
    cli.connect(mqtt::connect_options_builder()
                    .clean_session(true)
                    .max_inflight(static_cast<int>(window))
                    .finalize())
        ->wait();
    // Payloads built as the gateway builds them: readings of 3 pumps x 5 series.
    const char* series[] = {"temperature", "vibration_rms", "current", "pressure", "flow"};
    std::uint64_t seq = 1;
    auto make_payload = [&](long n) {
      std::string p = "[";
      for (long i = 0; i < n; ++i, ++seq) {
        pn::Reading r{.device = "pump-" + std::to_string(seq % 3 + 1),
                      .series = series[seq % 5],
                      .value = 40.0 + static_cast<double>(seq % 1000) / 7.0,
                      .unit = "degC",
                      .quality = pn::Quality::kGood,
                      .ts_ns = 1767225600000000000 + static_cast<std::int64_t>(seq) * 1000000};
        pn::NewRecord nr = pn::ToRecord(r);
        pn::Record rec{seq, nr.kind, nr.ts_ns, nr.device, nr.series, nr.body};
        if (i > 0) p += ',';
        pn::AppendWireJson(p, "bench", rec);
      }
      return p + "]";
    };
    std::size_t bytes = 0;
    std::deque<mqtt::delivery_token_ptr> inflight;
    auto start = std::chrono::steady_clock::now();
    long left = readings;
    for (long m = 0; m < messages; ++m) {
      long n = std::min(left, per_msg);
      left -= n;
      if (rate > 0) {
        std::this_thread::sleep_until(start + std::chrono::microseconds(static_cast<long>(
                                                  static_cast<double>(m) / rate * 1e6)));
      }
      std::string payload = make_payload(n);
      bytes += payload.size();
      while (static_cast<long>(inflight.size()) >= window) {
        inflight.front()->wait();
        inflight.pop_front();
      }
      inflight.push_back(
          cli.publish(mqtt::make_message("bench/batch", std::move(payload), qos, false)));
    }
    while (!inflight.empty()) {
      inflight.front()->wait();
      inflight.pop_front();
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "messages=%ld readings=%ld bytes_per_message=%zu seconds=%.3f readings_per_s=%.0f\n",
        messages, readings, bytes / static_cast<std::size_t>(messages), secs,
        static_cast<double>(readings) / secs);
    cli.disconnect()->wait();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqtt_bare_pub: %s\n", e.what());
    return 1;
  }
  return 0;
}
