// The `kafka` upstream: every record becomes one Kafka message, produced with librdkafka
// (acks=all, enable.idempotence=true), keyed by device (per-device ordering), with headers
// `gateway` and `seq` and the record's wire JSON as the value. Delivery reports drive the
// cursor: Send() returns only once every message of the batch has its delivery report (or the
// batch's time is up), and `delivered` counts the records, from the first, that the cluster
// acknowledged. Schema and consumer examples: README.md in this folder.
//
// Thread-safety: one forwarder thread owns an instance and calls Start/Send/Stop. librdkafka's
// own threads only call the log callback, which touches nothing but immutable members.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "gateway/upstream/upstream.h"

// librdkafka's handle types (rdkafka.h stays out of this header).
struct rd_kafka_s;
struct rd_kafka_conf_s;
struct rd_kafka_topic_s;
struct rd_kafka_message_s;

namespace pn::kafka_upstream {

// The settings of one [upstreams.NAME] table of type "kafka", resolved: templates expanded for
// this gateway, the password read. Built from a validated Section by FromSection().
struct Settings {
  std::string reading_topic;  // topic for readings ("processnow.readings")
  std::string event_topic;    // topic for events ("processnow.events")
  std::int64_t delivery_timeout_ms = 10000;
  // librdkafka properties, in the order they are applied (ours first, then `properties`).
  // Values of secret properties (sasl.password) are never logged or echoed.
  std::vector<std::pair<std::string, std::string>> properties;
};

// Checks the table (semantic checks beyond the spec) and, with `gateway_id` set, resolves it.
// Every problem is appended to `errors` against its key, librdkafka's own message included
// (each property is applied with rd_kafka_conf_set). `read_secrets`: read password_file /
// password_env (false for `processnow check`, which only checks they are readable / set).
Settings FromSection(const config::Section& s, std::string_view gateway_id, bool read_secrets,
                     config::ErrorList& errors);

class KafkaUpstream final : public Upstream {
 public:
  // Creates the producer (rd_kafka_new: no network yet). Fails with Code::kConfig when
  // librdkafka rejects the combination of properties.
  static Result<std::unique_ptr<KafkaUpstream>> Create(std::string name, std::string gateway_id,
                                                       Settings settings);
  ~KafkaUpstream() override;
  KafkaUpstream(const KafkaUpstream&) = delete;
  KafkaUpstream& operator=(const KafkaUpstream&) = delete;

  const std::string& name() const override { return name_; }
  // Re-creates the producer if a fatal (idempotence) error or Stop() destroyed it.
  Status Start() override;
  // Produces every record, then serves delivery reports until all are in, bounded by
  // delivery_timeout_ms (librdkafka's message.timeout.ms) plus a grace period. kOk: all
  // delivered. kRetry: the first undelivered record failed for a transient reason (broker down,
  // timeout, authorisation, unknown topic); `delivered` is the acknowledged prefix. kError: the
  // first undelivered record was refused for good (too large, invalid) and no record after it
  // failed transiently. Records delivered beyond the returned prefix are remembered and not
  // produced again by the next Send (fewer duplicates on retry).
  SendResult Send(std::span<const Record> records) override;
  // Waits (up to 5 s) for outstanding reports, then destroys the producer.
  void Stop() override;

  // librdkafka callbacks (public for the C trampolines; not part of the interface).
  void OnDelivery(const rd_kafka_message_s& msg);
  void OnError(int err, const char* reason);

 private:
  enum class State : std::uint8_t { kPending, kDelivered, kTransient, kPermanent };
  KafkaUpstream(std::string name, std::string gateway_id, Settings settings);
  Status CreateProducer();
  void DestroyProducer();
  void Produce(std::span<const Record> records, std::int64_t deadline_ns);
  void AwaitReports(std::int64_t deadline_ns);
  SendResult Outcome(std::span<const Record> records);

  const std::string name_;
  const std::string gateway_id_;
  const Settings settings_;

  rd_kafka_s* rk_ = nullptr;
  rd_kafka_topic_s* reading_rkt_ = nullptr;
  rd_kafka_topic_s* event_rkt_ = nullptr;
  bool fatal_ = false;             // set by OnError: the producer must be re-created
  bool refresh_metadata_ = false;  // a topic-level produce error: refresh before retrying

  // The batch in flight (valid during Send only).
  std::vector<State> state_;
  std::vector<std::string> reason_;  // per record, for failures
  std::size_t outstanding_ = 0;      // produced, no report yet
  std::string value_;                // scratch for the wire JSON
  std::string last_error_;           // last error_cb message, for SendResult::error
  // Records (by seq) delivered after the prefix returned by the previous Send.
  std::unordered_set<std::uint64_t> delivered_beyond_;
};

UpstreamType UpstreamTypeEntry();

}  // namespace pn::kafka_upstream
