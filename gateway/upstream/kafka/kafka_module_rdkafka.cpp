// processnow-kafka.so: the `kafka` upstream's producer and librdkafka's configuration checks,
// loaded by the binary with dlopen (kafka_module.h says why). The only file that includes
// rdkafka.h; the keys and their checks are in kafka_upstream.cpp, in the binary.
//
// Every record becomes one Kafka message, produced with librdkafka (acks=all,
// enable.idempotence=true), keyed by device (per-device ordering), with headers `gateway` and
// `seq` and the record's wire JSON as the value. Delivery reports drive the cursor: Send()
// returns only once every message of the batch has its delivery report (or the batch's time is
// up), and `delivered` counts the records, from the first, that the cluster acknowledged.
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <sys/types.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "gateway/upstream/kafka/kafka_module.h"

namespace pn::kafka_upstream {
namespace {

constexpr std::int64_t kGraceMs = 3000;      // beyond message.timeout.ms for the last reports
constexpr std::int64_t kPurgeWaitMs = 2000;  // after a purge, for the purge reports
constexpr std::int64_t kStopFlushMs = 5000;

// Deadlines on librdkafka's own real-time waits (flush, purge, a full queue): steady_clock,
// not a Clock, since a FakeClock would never end them (the one exception core/clock.h names).
std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};

class RdKafkaConf final : public KafkaConf {
 public:
  std::string Set(const std::string& name, const std::string& value) override {
    char errstr[512];
    if (rd_kafka_conf_set(conf_.get(), name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      return errstr[0] != '\0' ? std::string(errstr) : "rejected";
    }
    return {};
  }

 private:
  std::unique_ptr<rd_kafka_conf_t, ConfDeleter> conf_{rd_kafka_conf_new()};
};

// Thread-safety: one forwarder thread owns an instance and calls Start/Send/Stop. librdkafka's
// own threads only call the log callback, which touches nothing but immutable members.
class KafkaUpstream final : public Upstream {
 public:
  // Creates the producer (rd_kafka_new: no network yet). Fails with Code::kConfig when
  // librdkafka rejects the combination of properties.
  static Result<std::unique_ptr<KafkaUpstream>> Create(std::string name, std::string gateway_id,
                                                       Settings settings,
                                                       AppendWireJsonFn wire_json);
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
  void OnDelivery(const rd_kafka_message_t& msg);
  void OnError(int err, const char* reason);

 private:
  enum class State : std::uint8_t { kPending, kDelivered, kTransient, kPermanent };
  KafkaUpstream(std::string name, std::string gateway_id, Settings settings,
                AppendWireJsonFn wire_json);
  Status CreateProducer();
  void DestroyProducer();
  void Produce(std::span<const Record> records, std::int64_t deadline_ns);
  void AwaitReports(std::int64_t deadline_ns);
  SendResult Outcome(std::span<const Record> records);

  const std::string name_;
  const std::string gateway_id_;
  const Settings settings_;
  const AppendWireJsonFn wire_json_;

  rd_kafka_t* rk_ = nullptr;
  rd_kafka_topic_t* reading_rkt_ = nullptr;
  rd_kafka_topic_t* event_rkt_ = nullptr;
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

void DeliveryTrampoline(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  static_cast<KafkaUpstream*>(opaque)->OnDelivery(*msg);
}

void ErrorTrampoline(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  static_cast<KafkaUpstream*>(opaque)->OnError(err, reason);
}

void LogTrampoline(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // Called from librdkafka's threads: touches only the upstream's immutable name (the producer
  // is destroyed before the upstream) and spdlog (thread-safe).
  // Syslog levels. 3 (connection refused, "all brokers are down") is a warning here: the
  // forwarder reports failed sends itself, as errors of the upstream.
  spdlog::level::level_enum lvl = level <= 2   ? spdlog::level::err
                                  : level <= 4 ? spdlog::level::warn
                                  : level <= 6 ? spdlog::level::info
                                               : spdlog::level::debug;
  const auto* up = static_cast<const KafkaUpstream*>(rd_kafka_opaque(rk));
  spdlog::log(lvl, "upstream {}: librdkafka {}: {}", up != nullptr ? up->name() : "?", fac, buf);
}

bool Permanent(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return true;
    default:
      return false;
  }
}

KafkaUpstream::KafkaUpstream(std::string name, std::string gateway_id, Settings settings,
                             AppendWireJsonFn wire_json)
    : name_(std::move(name)),
      gateway_id_(std::move(gateway_id)),
      settings_(std::move(settings)),
      wire_json_(wire_json) {}

KafkaUpstream::~KafkaUpstream() { DestroyProducer(); }

Result<std::unique_ptr<KafkaUpstream>> KafkaUpstream::Create(std::string name,
                                                             std::string gateway_id,
                                                             Settings settings,
                                                             AppendWireJsonFn wire_json) {
  std::unique_ptr<KafkaUpstream> up(
      new KafkaUpstream(std::move(name), std::move(gateway_id), std::move(settings), wire_json));
  Status s = up->CreateProducer();
  if (!s.ok()) return Err(s);
  return up;
}

Status KafkaUpstream::CreateProducer() {
  if (rk_ != nullptr) return Status::Ok();
  std::unique_ptr<rd_kafka_conf_t, ConfDeleter> conf(rd_kafka_conf_new());
  char errstr[512];
  for (const auto& [prop, value] : settings_.properties) {
    if (rd_kafka_conf_set(conf.get(), prop.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      return Status::Config(
          prop + ": " + (IsSecretProperty(prop) ? std::string("rejected") : std::string(errstr)));
    }
  }
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), DeliveryTrampoline);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorTrampoline);
  rd_kafka_conf_set_log_cb(conf.get(), LogTrampoline);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) return Status::Config(std::string("cannot create the producer: ") + errstr);
  conf.release();  // rd_kafka_new took it
  rk_ = rk;
  reading_rkt_ = rd_kafka_topic_new(rk_, settings_.reading_topic.c_str(), nullptr);
  event_rkt_ = settings_.event_topic == settings_.reading_topic
                   ? reading_rkt_
                   : rd_kafka_topic_new(rk_, settings_.event_topic.c_str(), nullptr);
  if (reading_rkt_ == nullptr || event_rkt_ == nullptr) {
    Status st = Status::Internal(std::string("cannot create topic handles: ") +
                                 rd_kafka_err2str(rd_kafka_last_error()));
    DestroyProducer();
    return st;
  }
  fatal_ = false;
  return Status::Ok();
}

void KafkaUpstream::DestroyProducer() {
  if (rk_ == nullptr) return;
  // Reports that arrive from here on belong to no batch: OnDelivery ignores them.
  state_.clear();
  outstanding_ = 0;
  if (event_rkt_ != nullptr && event_rkt_ != reading_rkt_) rd_kafka_topic_destroy(event_rkt_);
  if (reading_rkt_ != nullptr) rd_kafka_topic_destroy(reading_rkt_);
  reading_rkt_ = event_rkt_ = nullptr;
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_poll(rk_, 0);
  rd_kafka_destroy(rk_);
  rk_ = nullptr;
}

Status KafkaUpstream::Start() { return CreateProducer(); }

void KafkaUpstream::OnDelivery(const rd_kafka_message_t& msg) {
  auto i = reinterpret_cast<std::uintptr_t>(msg._private);
  if (i >= state_.size() || state_[i] != State::kPending) return;  // not of this batch
  --outstanding_;
  if (msg.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    state_[i] = State::kDelivered;
    return;
  }
  state_[i] = Permanent(msg.err) ? State::kPermanent : State::kTransient;
  reason_[i] = rd_kafka_err2str(msg.err);
}

void KafkaUpstream::OnError(int err, const char* reason) {
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL && rk_ != nullptr) {
    char buf[512];
    rd_kafka_fatal_error(rk_, buf, sizeof buf);
    fatal_ = true;
    last_error_ = std::string("fatal producer error: ") + buf;
    spdlog::error("upstream {}: {}; re-creating the producer", name_, last_error_);
    return;
  }
  last_error_ = reason;
  spdlog::debug("upstream {}: {}: {}", name_, rd_kafka_err2name(code), reason);
}

void KafkaUpstream::Produce(std::span<const Record> records, std::int64_t deadline_ns) {
  char seq_text[24];
  for (std::size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    if (!delivered_beyond_.empty() && delivered_beyond_.count(r.seq) != 0) {
      state_[i] = State::kDelivered;  // acknowledged in the previous send already
      continue;
    }
    value_.clear();
    wire_json_(value_, gateway_id_, r);
    auto [end, ec] = std::to_chars(seq_text, seq_text + sizeof seq_text, r.seq);
    (void)ec;
    // App-owned headers (VTYPE_HEADERS): librdkafka 2.0's produceva double-frees headers it
    // built itself (VTYPE_HEADER) when partitioning fails; a failed produce leaves these with us.
    rd_kafka_headers_t* headers = rd_kafka_headers_new(2);
    rd_kafka_header_add(headers, "gateway", -1, gateway_id_.data(),
                        static_cast<ssize_t>(gateway_id_.size()));
    rd_kafka_header_add(headers, "seq", -1, seq_text, static_cast<ssize_t>(end - seq_text));
    rd_kafka_vu_t all[6];
    all[0].vtype = RD_KAFKA_VTYPE_RKT;
    all[0].u.rkt = r.kind == RecordKind::kEvent ? event_rkt_ : reading_rkt_;
    all[1].vtype = RD_KAFKA_VTYPE_KEY;
    all[1].u.mem.ptr = const_cast<char*>(r.device.data());
    all[1].u.mem.size = r.device.size();
    all[2].vtype = RD_KAFKA_VTYPE_VALUE;
    all[2].u.mem.ptr = value_.data();
    all[2].u.mem.size = value_.size();
    all[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    all[3].u.i = RD_KAFKA_MSG_F_COPY;
    all[4].vtype = RD_KAFKA_VTYPE_HEADERS;
    all[4].u.headers = headers;
    all[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
    all[5].u.ptr = reinterpret_cast<void*>(static_cast<std::uintptr_t>(i));
    for (;;) {
      rd_kafka_error_t* error = rd_kafka_produceva(rk_, all, 6);
      if (error == nullptr) {
        ++outstanding_;  // librdkafka owns the headers now
        break;
      }
      rd_kafka_resp_err_t code = rd_kafka_error_code(error);
      std::string what = rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
      if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL && NowNs() < deadline_ns) {
        rd_kafka_poll(rk_, 10);  // serves reports, which frees room
        continue;
      }
      rd_kafka_headers_destroy(headers);
      if (Permanent(code)) {
        state_[i] = State::kPermanent;
        reason_[i] = what;
        break;
      }
      // Transient (queue full until the deadline, fatal, unknown topic): what follows waits
      // for the next send.
      for (std::size_t k = i; k < records.size(); ++k) {
        if (state_[k] != State::kPending) continue;
        state_[k] = State::kTransient;
        reason_[k] = k == i ? what : "not sent: an earlier record failed";
      }
      if (code == RD_KAFKA_RESP_ERR__FATAL) {
        fatal_ = true;
      } else if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        // A topic-level error (authorisation, unknown topic) sticks to librdkafka's cached
        // topic state until its next metadata refresh (minutes): refresh before the retry.
        refresh_metadata_ = true;
      }
      return;
    }
  }
}

void KafkaUpstream::AwaitReports(std::int64_t deadline_ns) {
  while (outstanding_ > 0) {
    std::int64_t left_ms = (deadline_ns - NowNs()) / 1'000'000;
    if (left_ms <= 0) break;
    // flush() sends what lingers at once and serves delivery reports.
    if (rd_kafka_flush(rk_, static_cast<int>(std::min<std::int64_t>(left_ms, 100))) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        outstanding_ > 0) {
      rd_kafka_poll(rk_, 10);
    }
  }
  if (outstanding_ == 0) return;
  // Past the deadline (librdkafka should have timed them out first): purge what is left, so
  // that no report of this batch can arrive during a later one.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  const std::int64_t purge_end = NowNs() + kPurgeWaitMs * 1'000'000;
  while (outstanding_ > 0 && NowNs() < purge_end) rd_kafka_poll(rk_, 50);
  if (outstanding_ > 0) {
    spdlog::warn(
        "upstream {}: {} delivery reports missing after a purge; re-creating the "
        "producer",
        name_, outstanding_);
    for (std::size_t i = 0; i < state_.size(); ++i) {
      if (state_[i] == State::kPending) {
        state_[i] = State::kTransient;
        reason_[i] = "no delivery report";
      }
    }
    std::vector<State> keep = std::move(state_);
    DestroyProducer();
    state_ = std::move(keep);
  }
}

SendResult KafkaUpstream::Outcome(std::span<const Record> records) {
  const std::size_t n = records.size();
  std::size_t d = 0;
  while (d < n && state_[d] == State::kDelivered) ++d;
  std::unordered_set<std::uint64_t> beyond;
  std::size_t delivered_after = 0, permanent = 0, transient = 0;
  for (std::size_t i = d; i < n; ++i) {
    switch (state_[i]) {
      case State::kDelivered:
        beyond.insert(records[i].seq);
        ++delivered_after;
        break;
      case State::kPermanent:
        ++permanent;
        break;
      default:
        if (state_[i] == State::kPending) reason_[i] = "no delivery report in time";
        ++transient;
        break;
    }
  }
  SendResult r;
  r.delivered = d;
  if (d == n) {
    delivered_beyond_.clear();
    r.code = SendCode::kOk;
    return r;
  }
  const Record& first = records[d];
  std::string where =
      "record seq " + std::to_string(first.seq) + " (device \"" + first.device + "\")";
  if (transient == 0) {
    // Everything left was refused for good or delivered: the engine skips the rest.
    delivered_beyond_.clear();
    r.code = SendCode::kError;
    r.error = std::to_string(permanent) + " of " + std::to_string(n) +
              " records refused for good (" + std::to_string(delivered_after) +
              " after the first were delivered), first " + where + ": " + reason_[d];
    return r;
  }
  delivered_beyond_ = std::move(beyond);
  r.code = SendCode::kRetry;
  r.error = std::to_string(transient) + " of " + std::to_string(n) +
            " records not delivered, first " + where + ": " + reason_[d];
  if (!last_error_.empty()) r.error += " (last broker error: " + last_error_ + ")";
  return r;
}

SendResult KafkaUpstream::Send(std::span<const Record> records) {
  if (records.empty()) return {SendCode::kOk, 0, {}};
  if (rk_ == nullptr || fatal_) {
    DestroyProducer();
    Status s = CreateProducer();
    if (!s.ok()) return {SendCode::kRetry, 0, s.message()};
  }
  if (refresh_metadata_) {
    refresh_metadata_ = false;
    const int timeout_ms =
        static_cast<int>(std::min<std::int64_t>(settings_.delivery_timeout_ms, 5000));
    for (rd_kafka_topic_t* rkt : {reading_rkt_, event_rkt_}) {
      const rd_kafka_metadata_t* md = nullptr;
      if (rd_kafka_metadata(rk_, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
      }
      if (event_rkt_ == reading_rkt_) break;
    }
  }
  const std::int64_t deadline = NowNs() + (settings_.delivery_timeout_ms + kGraceMs) * 1'000'000;
  last_error_.clear();
  state_.assign(records.size(), State::kPending);
  reason_.assign(records.size(), std::string());
  outstanding_ = 0;
  Produce(records, deadline);
  AwaitReports(deadline);
  SendResult r = Outcome(records);
  state_.clear();
  if (fatal_) DestroyProducer();
  return r;
}

void KafkaUpstream::Stop() {
  if (rk_ != nullptr) rd_kafka_flush(rk_, static_cast<int>(kStopFlushMs));
  DestroyProducer();
  delivered_beyond_.clear();
}

std::unique_ptr<KafkaConf> NewConf() { return std::make_unique<RdKafkaConf>(); }

Result<std::unique_ptr<Upstream>> CreateUpstream(std::string name, std::string gateway_id,
                                                 Settings settings, AppendWireJsonFn wire_json) {
  auto up =
      KafkaUpstream::Create(std::move(name), std::move(gateway_id), std::move(settings), wire_json);
  if (!up) return Err(up.error());
  return std::unique_ptr<Upstream>(std::move(*up));
}

}  // namespace
}  // namespace pn::kafka_upstream

extern "C" __attribute__((visibility("default"))) const pn::kafka_upstream::KafkaModuleApi*
pn_kafka_module_v1() {
  static const pn::kafka_upstream::KafkaModuleApi api{
      .version = PN_VERSION,
      .librdkafka_version = rd_kafka_version_str(),
      .new_conf = &pn::kafka_upstream::NewConf,
      .create = &pn::kafka_upstream::CreateUpstream,
  };
  return &api;
}
