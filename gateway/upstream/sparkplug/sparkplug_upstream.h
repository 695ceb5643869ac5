// The `sparkplug` upstream: the gateway as a Sparkplug B 3.0 edge node (Paho MQTT C++).
//
// Session (sparkplug_session.h builds the messages): every CONNECT carries the NDEATH as its
// will (QoS 1, not retained) with the next bdSeq, read from and persisted to `bdseq_file` before
// the CONNECT (0 the first time, +1 on every CONNECT, 255 wraps to 0). After the CONNECT the
// upstream subscribes to its NCMD topic and publishes NBIRTH (seq 0, the same bdSeq,
// `Node Control/Rebirth` = false) and a DBIRTH of every device it knows; then DDATA.
// An NCMD with `Node Control/Rebirth` = true publishes NBIRTH and every DBIRTH again on the same
// connection (same bdSeq); a control thread does it, so it works while no data flows.
//
// Primary host (`primary_host_id`): the upstream also subscribes to spBv1.0/STATE/<id> and
// publishes no birth and no data until that host's latest STATE says online (Send() returns
// RETRY: records stay buffered). A STATE offline makes it publish NDEATH and disconnect at once;
// the next Send() connects again (new bdSeq) and waits for online again.
//
// Devices: the control thread publishes a DDEATH for a device with no record for
// `device_timeout` (the session publishes one for a device whose series are all "bad").
//
// Delivery: as the mqtt upstream. Send() publishes the messages of a batch with at most
// `max_inflight` unacknowledged and reports as delivered the longest prefix of records whose
// messages were all acknowledged (PUBACK at QoS 1). Any failure drops the connection (publishing
// NDEATH first when it still can): the next Send() reconnects with a new bdSeq and fresh births,
// so a host never sees a seq gap inside one session.
//
// Thread-safety: one forwarder thread calls Start/Send/Stop; the control thread and Paho's
// callbacks share the session under mu_. No exception leaves this class.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/upstream/mqtt/mqtt_connection.h"
#include "gateway/upstream/sparkplug/sparkplug_session.h"
#include "gateway/upstream/upstream.h"

namespace mqtt {
class async_client;
}

namespace pn::sparkplug {

struct Options {
  mqtt_upstream::ConnectionOptions conn;  // servers, client id, window, timeouts, credentials, TLS
  SessionOptions session;
  std::string bdseq_file;
  std::string primary_host_id;                  // empty: no primary host
  std::chrono::milliseconds device_timeout{0};  // 0: no DDEATH for silence
  int qos = 1;
  Clock* clock = &SystemClock::Instance();  // message timestamps, device silence
};

class SparkplugUpstream final : public Upstream {
 public:
  SparkplugUpstream(std::string name, Options options);
  ~SparkplugUpstream() override;
  SparkplugUpstream(const SparkplugUpstream&) = delete;
  SparkplugUpstream& operator=(const SparkplugUpstream&) = delete;

  const std::string& name() const override { return name_; }
  Status Start() override;
  SendResult Send(std::span<const Record> records) override;
  void Stop() override;

 private:
  // Times from options_.clock: epoch ns and ms (Sparkplug timestamps), monotonic ns (silence).
  std::int64_t NowNs() const { return options_.clock->NowNs(); }
  std::int64_t NowMs() const { return NowNs() / 1'000'000; }
  std::int64_t MonoNs() const { return options_.clock->MonotonicNs(); }
  Status Connect();                                  // REQUIRES: mu_ held
  void Disconnect(std::chrono::milliseconds bound);  // REQUIRES: mu_ held
  // Publishes `out` in order with the inflight window; acked[i] for each acknowledged message.
  std::string PublishAll(std::vector<Outgoing>& out, std::vector<bool>& acked);
  void ControlLoop();
  void OnMessage(const std::string& topic, const std::string& payload);
  std::string StateTopic() const;

  std::string name_;
  Options options_;
  mqtt_upstream::ConnectDiagnosis diagnosis_{options_.conn, *options_.clock};
  std::mutex mu_;  // session_, client_ (connect/publish), out_
  Session session_;
  std::unique_ptr<mqtt::async_client> client_;
  std::atomic<bool> connected_{false};
  std::vector<Outgoing> out_;
  std::vector<std::size_t> record_msg_;

  std::mutex control_mu_;
  std::condition_variable control_cv_;
  bool rebirth_requested_ = false;        // guarded by control_mu_
  bool stopping_ = false;                 // guarded by control_mu_
  HostTracker host_;                      // guarded by control_mu_
  bool host_event_ = false;               // guarded by control_mu_: host_ changed
  std::atomic<bool> host_online_{false};  // host_.online() since the last CONNECT
  std::thread control_;
};

void Check(const config::Section& s, config::ErrorList& errors);
UpstreamType UpstreamTypeEntry();

}  // namespace pn::sparkplug
