#include "gateway/upstream/mqtt/mqtt_upstream.h"

#include <fmt/format.h>
#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "gateway/connect/paho_tls.h"

namespace pn::mqtt_upstream {

namespace {

using config::KeySpec;
using config::ValueType;
using std::chrono::milliseconds;

constexpr std::array<Placeholder, 2> kStatusPlaceholders = {Placeholder::kGateway,
                                                            Placeholder::kUpstream};

const config::TableSpec& Spec() {
  static const config::TableSpec spec = ConnectionTableSpec(
      "Publishes records to an MQTT broker (Paho MQTT C++).",
      {
          {.name = "clean_session",
           .type = ValueType::kBool,
           .default_value = true,
           .description = "Start a clean session on every connect. With false the broker keeps "
                          "the session and the client resends its unacknowledged messages after "
                          "a reconnect (the store resends them anyway: delivery is at-least-once "
                          "either way)."},
          {.name = "qos",
           .type = ValueType::kInt,
           .default_value = std::int64_t{1},
           .description = "MQTT quality of service of the data messages. 1 (at least once) is "
                          "the default; 0 acknowledges a message once it is written to the "
                          "socket, so records can be lost if the connection drops; 2 costs a "
                          "second round trip per message.",
           .min = 0,
           .max = 2},
          {.name = "retain",
           .type = ValueType::kBool,
           .default_value = false,
           .description = "Publish data messages with the retain flag."},
          {.name = "topic",
           .type = ValueType::kString,
           .default_value = std::string("{gateway}/{device}/{series}"),
           .description = "Topic template of the data messages. Placeholders: {gateway}, "
                          "{upstream}, {device}, {series}, {type} (reading or event), {kind} "
                          "(reading, or the event kind: anomaly, alarm, clear, health, rul). "
                          "'+' and '#' in a value become '_'."},
          {.name = "event_topic",
           .type = ValueType::kString,
           .default_value = std::string(""),
           .description = "Topic template of the events from the rules. Empty means `topic`."},
          {.name = "payload",
           .type = ValueType::kString,
           .default_value = std::string("json"),
           .description = "Payload format: \"json\" (one record per message), \"json_batch\" "
                          "(a JSON array of records per message, grouped by topic) or "
                          "\"influx\" (InfluxDB line protocol, one line per record, lines "
                          "grouped by topic).",
           .choices = {"json", "json_batch", "influx"}},
          {.name = "batch_max_records",
           .type = ValueType::kInt,
           .default_value = std::int64_t{500},
           .description = "json_batch and influx: most records in one message.",
           .min = 1,
           .max = 100000},
          {.name = "influx_events_measurement",
           .type = ValueType::kString,
           .default_value = std::string("events"),
           .description = "influx: measurement name of the events (readings use their series "
                          "name)."},
          {.name = "status_topic",
           .type = ValueType::kString,
           .default_value = std::string("{gateway}/status"),
           .description = "Topic of the retained birth message (published after every connect) "
                          "and of the last will (published by the broker when the connection "
                          "dies, and by the gateway before a clean disconnect). Placeholders: "
                          "{gateway}, {upstream}. Empty disables both."},
          {.name = "birth_payload",
           .type = ValueType::kString,
           .default_value = std::string("online"),
           .description = "Payload of the birth message."},
          {.name = "will_payload",
           .type = ValueType::kString,
           .default_value = std::string("offline"),
           .description = "Payload of the last will."},
      });
  return spec;
}

Result<PayloadFormat> ParseFormat(const std::string& s) {
  if (s == "json") return PayloadFormat::kJson;
  if (s == "json_batch") return PayloadFormat::kJsonBatch;
  if (s == "influx") return PayloadFormat::kInflux;
  return Err(Status::Config("unknown payload format " + s));
}

// An AWS IoT Core data endpoint: HOST.iot.REGION.amazonaws.com[.cn].
bool IsAwsIotUri(const std::string& uri) {
  std::string_view host = uri;
  if (auto p = host.find("://"); p != std::string_view::npos) host.remove_prefix(p + 3);
  host = host.substr(0, host.find_first_of(":/"));
  return host.find(".iot.") != std::string_view::npos &&
         (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"));
}

// AWS IoT Core's message broker limits that the configuration alone decides (see README.md,
// "AWS IoT Core"). Topic values ({device}, ...) can only add to the topic's length and levels.
void CheckAwsIot(const config::Section& s, config::ErrorList& errors) {
  const char* aws = "AWS IoT Core";
  if (s.GetInt("qos") > 1)
    s.AddError(errors, "qos", fmt::format("{} supports QoS 0 and 1 only", aws));
  if (s.GetInt("max_inflight") > 100) {
    s.AddError(errors, "max_inflight",
               fmt::format("{} allows at most 100 unacknowledged messages per client", aws));
  }
  if (s.GetString("client_id").size() > 128) {
    s.AddError(errors, "client_id", fmt::format("{} allows at most 128 bytes", aws));
  }
  for (const char* key : {"topic", "event_topic", "status_topic"}) {
    std::string text = s.GetString(key);
    if (text.empty()) continue;
    auto t = TopicTemplate::Parse(text);
    if (!t) continue;  // reported above
    // The shortest topic it can give: one-character values without '/'.
    std::string shortest = t->Expand(TopicValues{
        .gateway = "g", .upstream = "u", .device = "d", .series = "s", .type = "t", .kind = "k"});
    auto slashes = std::count(shortest.begin(), shortest.end(), '/');
    if (slashes > 7) {
      s.AddError(errors, key,
                 fmt::format("{} allows at most 7 '/' in a topic; \"{}\" has {} before any "
                             "value is filled in",
                             aws, text, slashes));
    }
    if (shortest.size() > 256) {
      s.AddError(errors, key, fmt::format("{} allows topics of at most 256 bytes", aws));
    }
  }
}

}  // namespace

void Check(const config::Section& s, config::ErrorList& errors) {
  CheckConnection(s, errors);
  for (const char* key : {"topic", "event_topic"}) {
    std::string text = s.GetString(key);
    if (text.empty() && std::string_view(key) == "event_topic") continue;
    auto t = TopicTemplate::Parse(text);
    if (!t) s.AddError(errors, key, t.error().message());
  }
  if (std::string st = s.GetString("status_topic"); !st.empty()) {
    auto t = TopicTemplate::Parse(st, kStatusPlaceholders);
    if (!t) s.AddError(errors, "status_topic", t.error().message());
  }
  auto servers = s.GetStringList("servers");
  if (std::any_of(servers.begin(), servers.end(), IsAwsIotUri)) CheckAwsIot(s, errors);
}

MqttUpstream::MqttUpstream(std::string name, Options options)
    : name_(std::move(name)), options_(std::move(options)) {
  WarnAboutTls(name_, options_.conn, *options_.clock);
}

MqttUpstream::~MqttUpstream() { Stop(); }

Status MqttUpstream::Connect() {
  connected_ = false;
  const ConnectionOptions& c = options_.conn;
  try {
    if (!client_) {
      // No offline buffering (a publish while disconnected fails), and room in Paho's command
      // queue for the whole window (its default of 100 would refuse larger windows).
      mqtt::create_options co;
      co.set_send_while_disconnected(false);
      co.set_max_buffered_messages(c.max_inflight + 16);
      connect::InitPaho();
      client_ = std::make_unique<mqtt::async_client>(
          c.servers.front(), c.client_id, co, static_cast<mqtt::iclient_persistence*>(nullptr));
      client_->set_connection_lost_handler([this](const std::string& cause) {
        connected_ = false;
        if (acknowledged_) acknowledged_();  // a pipelining forwarder waiting learns of it
        spdlog::warn("upstream {}: connection to the broker lost{}{}", name_,
                     cause.empty() ? "" : ": ", cause);
      });
    }
    mqtt::connect_options co = BuildConnectOptions(c, options_.clean_session, &diagnosis_);
    if (!options_.status_topic.empty()) {
      co.set_will(mqtt::will_options(options_.status_topic, options_.will_payload, 1, true));
    }
    mqtt::token_ptr tok = client_->connect(co);
    if (!tok->wait_for(c.connect_timeout + milliseconds(2000))) {
      client_.reset();  // a hung attempt: start over with a fresh client next time
      return Status::Unavailable("connecting to the broker timed out");
    }
    std::string uri = tok->get_connect_response().get_server_uri();
    connected_ = true;
    spdlog::info("upstream {}: connected to {}", name_, uri.empty() ? "the broker" : uri);
  } catch (const std::exception& e) {
    return Status::Unavailable(diagnosis_.Describe(e.what()));
  }
  diagnosis_.Clear();
  if (!options_.status_topic.empty()) {
    Status s = PublishStatus(options_.birth_payload, c.publish_timeout);
    if (!s.ok()) spdlog::warn("upstream {}: birth message failed: {}", name_, s.message());
  }
  return Status::Ok();
}

Status MqttUpstream::PublishStatus(const std::string& payload, milliseconds timeout) {
  try {
    auto tok = client_->publish(options_.status_topic, payload.data(), payload.size(), 1, true);
    if (!tok->wait_for(timeout)) return Status::Unavailable("timed out");
  } catch (const std::exception& e) {
    return Status::Unavailable(e.what());
  }
  return Status::Ok();
}

Status MqttUpstream::Start() {
  if (connected_) return Status::Ok();
  return Connect();
}

namespace {

// Pipelining's wake-up: the last message of each send carries it and calls `acknowledged` when
// that message is acknowledged or fails (the others' failures wake the forwarder through the
// connection-lost handler, or show at the next collect).
class AckListener final : public virtual mqtt::iaction_listener {
 public:
  explicit AckListener(std::function<void()> acknowledged)
      : acknowledged_(std::move(acknowledged)) {}
  void on_success(const mqtt::token&) override { acknowledged_(); }
  void on_failure(const mqtt::token&) override { acknowledged_(); }

 private:
  std::function<void()> acknowledged_;
};

}  // namespace

bool MqttUpstream::EnablePipelining(std::function<void()> acknowledged) {
  pipelined_ = true;
  acknowledged_ = std::move(acknowledged);
  ack_listener_ = std::make_unique<AckListener>(acknowledged_);
  return true;
}

std::size_t MqttUpstream::Harvest(std::string& error) {
  std::size_t delivered = 0;
  while (!flights_.empty()) {
    Flight& f = flights_.front();
    while (f.reported < f.message_of.size()) {
      const std::uint32_t m = f.message_of[f.reported];
      if (!f.done[m]) {
        try {
          if (!f.tokens[m]->try_wait()) break;
        } catch (const std::exception& e) {
          error = std::string("publish failed: ") + e.what();
          return delivered;
        }
        f.done[m] = true;
      }
      ++f.reported;
      ++delivered;
    }
    if (f.reported < f.message_of.size()) break;
    flights_.pop_front();
  }
  while (!window_.empty()) {
    try {
      if (!window_.front()->try_wait()) break;
    } catch (const std::exception&) {
      // Failed, so no longer in flight; its flight reports the failure.
    }
    window_.pop_front();
  }
  return delivered;
}

void MqttUpstream::Forget() {
  flights_.clear();
  window_.clear();
}

SendResult MqttUpstream::Collect() {
  SendResult r;
  r.delivered = Harvest(r.error);
  if (r.error.empty() && !flights_.empty()) {
    if (!connected_) {
      r.error = "connection to the broker lost";
    } else if (options_.clock->MonotonicNs() >= flights_.front().deadline_ns) {
      r.error = "no acknowledgement within publish_timeout_ms";
    }
  }
  if (!r.error.empty()) {
    Forget();
    r.code = SendCode::kRetry;
  }
  return r;
}

void MqttUpstream::RecheckConnected() {
  try {
    if (!client_->is_connected()) connected_ = false;
  } catch (const std::exception&) {
    connected_ = false;
  }
}

SendResult MqttUpstream::SendPipelined(std::span<const Record> records) {
  if (!connected_) {
    Forget();
    Status s = Connect();
    if (!s.ok()) return {SendCode::kRetry, 0, s.message()};
  }
  Encode(records, options_.encoder, encoded_);
  const std::size_t n = encoded_.messages.size();
  const std::size_t window = static_cast<std::size_t>(options_.conn.max_inflight);
  Flight f;
  f.tokens.resize(n);
  f.done.assign(n, false);
  f.message_of = encoded_.message_of;
  f.deadline_ns = options_.clock->MonotonicNs() +
                  std::chrono::nanoseconds(options_.conn.publish_timeout).count();
  std::string error;
  for (std::size_t i = 0; i < n && error.empty(); ++i) {
    // A full window waits for its oldest message (the broker acknowledges in order), at most
    // until the oldest send's deadline.
    while (window_.size() >= window && error.empty()) {
      const std::int64_t deadline = flights_.empty() ? f.deadline_ns : flights_.front().deadline_ns;
      error = WaitForToken(*window_.front(), *options_.clock, deadline, connected_);
      if (error.empty()) window_.pop_front();
    }
    if (!error.empty()) break;
    Message& m = encoded_.messages[i];
    try {
      auto msg = mqtt::make_message(m.topic, std::move(m.payload), options_.qos, options_.retain);
      // Only the last message of the send wakes the forwarder: the broker acknowledges in
      // order, and a lost connection (which fails the others) wakes it through the
      // connection-lost handler.
      f.tokens[i] =
          i + 1 == n ? client_->publish(msg, nullptr, *ack_listener_) : client_->publish(msg);
      window_.push_back(f.tokens[i]);
    } catch (const std::exception& e) {
      error = std::string("publish failed: ") + e.what();
    }
  }
  // A send that failed part-way is not kept (its records go again); earlier ones may still
  // report deliveries before everything is forgotten.
  if (error.empty()) flights_.push_back(std::move(f));
  SendResult r;
  std::string harvest_error;
  r.delivered = Harvest(harvest_error);
  if (error.empty()) error = harvest_error;
  if (!error.empty()) {
    Forget();
    RecheckConnected();
    r.code = SendCode::kRetry;
    r.error = error;
  }
  return r;
}

SendResult MqttUpstream::Send(std::span<const Record> records) {
  if (records.empty()) return {SendCode::kOk, 0, {}};
  if (pipelined_) return SendPipelined(records);
  if (!connected_) {
    Status s = Connect();
    if (!s.ok()) return {SendCode::kRetry, 0, s.message()};
  }
  Encode(records, options_.encoder, encoded_);
  std::vector<bool> acked;
  std::string error = PublishWindow(
      *client_, encoded_.messages.size(),
      [this](std::size_t i) {
        Message& m = encoded_.messages[i];
        return mqtt::make_message(m.topic, std::move(m.payload), options_.qos, options_.retain);
      },
      static_cast<std::size_t>(options_.conn.max_inflight), options_.conn.publish_timeout,
      *options_.clock, connected_, acked);
  SendResult result;
  result.delivered = DeliveredPrefix(encoded_, acked);
  if (result.delivered == records.size()) {
    result.code = SendCode::kOk;
    return result;
  }
  RecheckConnected();
  result.code = SendCode::kRetry;
  result.error = error.empty() ? "not every message was acknowledged" : error;
  return result;
}

void MqttUpstream::Stop() {
  if (!client_) return;
  // Bounded: a stop must not outlast the gateway's shutdown deadline by much.
  const milliseconds bound = std::min(options_.conn.publish_timeout, milliseconds(2000));
  try {
    if (connected_ && client_->is_connected()) {
      if (!options_.status_topic.empty()) (void)PublishStatus(options_.will_payload, bound);
      client_->disconnect(static_cast<int>(bound.count()))->wait_for(bound + milliseconds(500));
    }
  } catch (const std::exception& e) {
    spdlog::debug("upstream {}: disconnect: {}", name_, e.what());
  }
  connected_ = false;
  Forget();  // unacknowledged records go again after a restart (at-least-once)
  try {
    client_.reset();
  } catch (const std::exception&) {
  }
}

UpstreamType UpstreamTypeEntry() {
  return UpstreamType{
      .type = "mqtt",
      .summary =
          "MQTT broker (Paho MQTT C++): JSON, JSON batches or InfluxDB line protocol, "
          "QoS 1, TLS, birth and last will.",
      .spec = &Spec(),
      .check = [](const config::Section& s, config::ErrorList& e) { Check(s, e); },
      .create = [](const config::Section& s,
                   const UpstreamContext& ctx) -> Result<std::unique_ptr<Upstream>> {
        Options o;
        auto conn = ReadConnection(s, ctx);
        if (!conn) return Err(conn.error());
        o.conn = std::move(*conn);
        o.clean_session = s.GetBool("clean_session");
        o.qos = static_cast<int>(s.GetInt("qos"));
        o.retain = s.GetBool("retain");
        EncoderOptions& e = o.encoder;
        e.gateway_id = ctx.gateway_id;
        e.upstream = ctx.name;
        auto topic = TopicTemplate::Parse(s.GetString("topic"));
        if (!topic) return Err(Status::Config("topic: " + topic.error().message()));
        e.topic = std::move(*topic);
        if (std::string et = s.GetString("event_topic"); !et.empty()) {
          auto t = TopicTemplate::Parse(et);
          if (!t) return Err(Status::Config("event_topic: " + t.error().message()));
          e.event_topic = std::move(*t);
        }
        auto format = ParseFormat(s.GetString("payload"));
        if (!format) return Err(format.error());
        e.format = *format;
        e.batch_max_records = static_cast<std::size_t>(s.GetInt("batch_max_records"));
        e.events_measurement = s.GetString("influx_events_measurement");
        if (std::string st = s.GetString("status_topic"); !st.empty()) {
          auto t = TopicTemplate::Parse(st, kStatusPlaceholders);
          if (!t) return Err(Status::Config("status_topic: " + t.error().message()));
          o.status_topic = t->Expand(TopicValues{.gateway = ctx.gateway_id, .upstream = ctx.name});
        }
        o.birth_payload = s.GetString("birth_payload");
        o.will_payload = s.GetString("will_payload");
        o.clock = ctx.clock;
        return std::make_unique<MqttUpstream>(ctx.name, std::move(o));
      }};
}

}  // namespace pn::mqtt_upstream
