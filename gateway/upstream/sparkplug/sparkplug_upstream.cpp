#include "gateway/upstream/sparkplug/sparkplug_upstream.h"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "gateway/connect/paho_tls.h"

namespace pn::sparkplug {

namespace {

using config::ValueType;
using std::chrono::milliseconds;

const config::TableSpec& Spec() {
  static const config::TableSpec spec = mqtt_upstream::ConnectionTableSpec(
      "Publishes records as a Sparkplug B 3.0 edge node (Paho MQTT C++, protobuf-c).",
      {
          {.name = "group_id",
           .type = ValueType::kString,
           .description = "Sparkplug group id: the second level of every topic "
                          "(spBv1.0/GROUP/...). No '/', '+' or '#'.",
           .required = true,
           .example = "\"plant-1\""},
          {.name = "edge_node_id",
           .type = ValueType::kString,
           .default_value = std::string(""),
           .description = "Sparkplug edge node id. Empty means gateway.id. No '/', '+' or '#'. "
                          "Each gateway device is a Sparkplug device of this node (its name with "
                          "'/', '+' and '#' turned into '_')."},
          {.name = "bdseq_file",
           .type = ValueType::kString,
           .description = "File that keeps the next bdSeq (birth/death sequence number) across "
                          "restarts; written before every MQTT CONNECT. Put it in "
                          "gateway.data_dir.",
           .required = true,
           .example = "\"/var/lib/processnow/sparkplug.bdseq\""},
          {.name = "primary_host_id",
           .type = ValueType::kString,
           .default_value = std::string(""),
           .description = "Sparkplug host id of the primary host application (for example "
                          "Ignition's). When set, nothing is published until its STATE message "
                          "(spBv1.0/STATE/ID) says online; when it says offline the node "
                          "publishes NDEATH, disconnects and waits for it again, keeping records "
                          "buffered. Empty: no primary host.",
           .example = "\"scada-host-1\""},
          {.name = "device_timeout_ms",
           .type = ValueType::kInt,
           .default_value = std::int64_t{0},
           .description = "A device with no record for this long gets a DDEATH (a new DBIRTH when "
                          "it reports again). Set it above the slowest poll interval of the "
                          "devices. 0: only a device whose every series has quality \"bad\" "
                          "gets a DDEATH.",
           .min = 0,
           .max = 86400000},
          {.name = "qos",
           .type = ValueType::kInt,
           .default_value = std::int64_t{1},
           .description = "MQTT QoS of births and data. 1 (the default) acknowledges records "
                          "only on PUBACK (at-least-once); the specification asks for 0, which "
                          "acknowledges them once written to the socket, so records can be lost "
                          "when the connection drops. The NDEATH will is always QoS 1.",
           .min = 0,
           .max = 1},
          {.name = "historical_grace_ms",
           .type = ValueType::kInt,
           .default_value = std::int64_t{5000},
           .description = "A record whose timestamp is older than the start of the current MQTT "
                          "session minus this is sent with is_historical = true (buffered data "
                          "replayed after an outage, or data from a source with a past clock).",
           .min = 0,
           .max = 86400000},
          {.name = "max_metrics_per_message",
           .type = ValueType::kInt,
           .default_value = std::int64_t{1000},
           .description = "Most metrics in one DDATA message.",
           .min = 1,
           .max = 100000},
      });
  return spec;
}

bool ValidId(std::string_view id) {
  return !id.empty() && id.find_first_of("/+#") == std::string_view::npos;
}

}  // namespace

void Check(const config::Section& s, config::ErrorList& errors) {
  mqtt_upstream::CheckConnection(s, errors);
  if (!ValidId(s.GetString("group_id"))) {
    s.AddError(errors, "group_id", "must be non-empty without '/', '+' or '#'");
  }
  if (std::string e = s.GetString("edge_node_id"); !e.empty() && !ValidId(e)) {
    s.AddError(errors, "edge_node_id", "must not contain '/', '+' or '#'");
  }
  if (s.GetString("bdseq_file").empty()) s.AddError(errors, "bdseq_file", "must not be empty");
  if (std::string h = s.GetString("primary_host_id"); !h.empty() && !ValidId(h)) {
    s.AddError(errors, "primary_host_id", "must not contain '/', '+' or '#'");
  }
}

SparkplugUpstream::SparkplugUpstream(std::string name, Options options)
    : name_(std::move(name)), options_(std::move(options)), session_(options_.session) {
  mqtt_upstream::WarnAboutTls(name_, options_.conn, *options_.clock);
}

SparkplugUpstream::~SparkplugUpstream() { Stop(); }

Status SparkplugUpstream::Connect() {
  connected_ = false;
  const std::uint64_t bd_seq = ReadBdSeq(options_.bdseq_file);
  std::string error;
  if (!WriteBdSeq(options_.bdseq_file, bd_seq + 1, &error)) {
    // Connecting anyway would reuse this bdSeq after a restart; a host could then match an old
    // NDEATH to the new session. Stay offline (records stay buffered) until the file works.
    return Status::Unavailable("bdseq_file: " + error);
  }
  try {
    if (!client_) {
      mqtt::create_options co;
      co.set_send_while_disconnected(false);
      co.set_max_buffered_messages(options_.conn.max_inflight + 1024);
      connect::InitPaho();
      client_ = std::make_unique<mqtt::async_client>(
          options_.conn.servers.front(), options_.conn.client_id, co,
          static_cast<mqtt::iclient_persistence*>(nullptr));
      client_->set_connection_lost_handler([this](const std::string& cause) {
        connected_ = false;
        spdlog::warn("upstream {}: connection to the broker lost{}{}", name_,
                     cause.empty() ? "" : ": ", cause);
      });
      client_->set_message_callback(
          [this](mqtt::const_message_ptr m) { OnMessage(m->get_topic(), m->get_payload_str()); });
    }
    // Clean session: Sparkplug 3.0 over MQTT 3.1.1.
    mqtt::connect_options co = mqtt_upstream::BuildConnectOptions(options_.conn, true, &diagnosis_);
    co.set_will(mqtt::will_options(session_.NodeTopic("NDEATH"),
                                   session_.DeathPayload(bd_seq, NowMs()), 1, false));
    mqtt::token_ptr tok = client_->connect(co);
    if (!tok->wait_for(options_.conn.connect_timeout + milliseconds(2000))) {
      client_.reset();
      return Status::Unavailable("connecting to the broker timed out");
    }
    // A new session learns the primary host's state again (its retained STATE comes on
    // subscribing); until then nothing is born.
    host_online_ = false;
    auto sub = client_->subscribe(session_.NodeTopic("NCMD"), 1);
    if (!sub->wait_for(options_.conn.publish_timeout)) {
      client_.reset();  // start over with a fresh client next time
      return Status::Unavailable("subscribing to NCMD timed out");
    }
    if (!options_.primary_host_id.empty()) {
      auto st = client_->subscribe(StateTopic(), 1);
      if (!st->wait_for(options_.conn.publish_timeout)) {
        client_.reset();
        return Status::Unavailable("subscribing to " + StateTopic() + " timed out");
      }
    }
  } catch (const std::exception& e) {
    return Status::Unavailable(diagnosis_.Describe(e.what()));
  }
  diagnosis_.Clear();
  connected_ = true;
  session_.Begin(bd_seq, NowNs(), MonoNs());
  spdlog::info("upstream {}: connected as Sparkplug edge node {} with bdSeq {}", name_,
               session_.NodeTopic("NBIRTH"), bd_seq);
  if (!options_.primary_host_id.empty() && !host_online_) {
    spdlog::info("upstream {}: waiting for primary host {} to be online ({})", name_,
                 options_.primary_host_id, StateTopic());
    return Status::Ok();  // births when the host's STATE says online
  }
  // Births before anything else; their acknowledgements are checked like data's.
  out_.clear();
  session_.Births(NowMs(), out_);
  std::vector<bool> acked;
  std::string err = PublishAll(out_, acked);
  if (!err.empty()) {
    Disconnect(milliseconds(500));
    return Status::Unavailable("births: " + err);
  }
  return Status::Ok();
}

std::string SparkplugUpstream::PublishAll(std::vector<Outgoing>& out, std::vector<bool>& acked) {
  std::function<std::string()> host_gate;
  if (!options_.primary_host_id.empty()) {
    // The host's offline STATE arrived mid-batch: stop now; the caller drops the session.
    host_gate = [this]() -> std::string {
      return host_online_ ? "" : "primary host " + options_.primary_host_id + " went offline";
    };
  }
  return mqtt_upstream::PublishWindow(
      *client_, out.size(),
      [this, &out](std::size_t i) {
        return mqtt::make_message(out[i].topic, std::move(out[i].payload), options_.qos, false);
      },
      static_cast<std::size_t>(options_.conn.max_inflight), options_.conn.publish_timeout,
      *options_.clock, connected_, acked, host_gate);
}

void SparkplugUpstream::Disconnect(milliseconds bound) {
  if (!client_) return;
  try {
    if (connected_ && client_->is_connected()) {
      // A clean disconnect does not fire the will: publish the NDEATH ourselves.
      auto tok = client_->publish(session_.NodeTopic("NDEATH"),
                                  session_.DeathPayload(session_.bd_seq(), NowMs()), 1, false);
      tok->wait_for(bound);
      client_->disconnect(static_cast<int>(bound.count()))->wait_for(bound + milliseconds(500));
    }
  } catch (const std::exception& e) {
    spdlog::debug("upstream {}: disconnect: {}", name_, e.what());
  }
  connected_ = false;
  try {
    client_.reset();
  } catch (const std::exception&) {
  }
}

Status SparkplugUpstream::Start() {
  {
    std::lock_guard lock(control_mu_);
    if (!control_.joinable() && !stopping_) {
      control_ = std::thread([this] { ControlLoop(); });
    }
  }
  std::lock_guard lock(mu_);
  if (connected_) return Status::Ok();
  return Connect();
}

SendResult SparkplugUpstream::Send(std::span<const Record> records) {
  if (records.empty()) return {SendCode::kOk, 0, {}};
  std::lock_guard lock(mu_);
  if (!connected_) {
    if (client_) Disconnect(milliseconds(200));  // lost: start over with a fresh client
    Status s = Connect();
    if (!s.ok()) return {SendCode::kRetry, 0, s.message()};
  }
  if (!options_.primary_host_id.empty() && !host_online_) {
    return {SendCode::kRetry, 0,
            "primary host " + options_.primary_host_id + " is not online (" + StateTopic() +
                "): records stay buffered"};
  }
  out_.clear();
  session_.Encode(records, NowMs(), MonoNs(), out_, record_msg_);
  std::vector<bool> acked;
  std::string error = PublishAll(out_, acked);
  SendResult result;
  // Longest prefix of records whose messages, and every message before them, were acked.
  std::size_t acked_prefix = 0;
  while (acked_prefix < acked.size() && acked[acked_prefix]) ++acked_prefix;
  std::size_t delivered = 0;
  while (delivered < records.size() &&
         (record_msg_[delivered] == Session::kNoMessage || record_msg_[delivered] < acked_prefix)) {
    ++delivered;
  }
  result.delivered = delivered;
  if (error.empty() && delivered == records.size()) return result;
  // A failed send leaves a seq gap in this session: drop it, the next send starts a new one.
  Disconnect(std::min(options_.conn.publish_timeout, milliseconds(1000)));
  result.code = SendCode::kRetry;
  result.error = error.empty() ? "not every message was acknowledged" : error;
  return result;
}

std::string SparkplugUpstream::StateTopic() const {
  return std::string(kNamespace) + "/STATE/" + options_.primary_host_id;
}

// Paho's callback thread: never takes mu_ (a Send() holding it may be waiting for this very
// thread to deliver acknowledgements); it records what happened for the control thread.
void SparkplugUpstream::OnMessage(const std::string& topic, const std::string& payload) {
  if (!options_.primary_host_id.empty() && topic == StateTopic()) {
    std::optional<HostState> st = ParseHostState(payload);
    std::lock_guard lock(control_mu_);
    if (!st) {
      spdlog::warn(
          "upstream {}: ignoring a STATE message on {} that is not JSON with "
          "\"online\" (bool) and \"timestamp\" (ms)",
          name_, topic);
      return;
    }
    if (!host_.Observe(*st)) {
      spdlog::info("upstream {}: ignoring a STATE of {} older than the last one", name_,
                   options_.primary_host_id);
      return;
    }
    if (host_online_ != st->online) {
      host_online_ = st->online;
      host_event_ = true;
      control_cv_.notify_all();
    }
    return;
  }
  if (!IsRebirthCommand(payload.data(), payload.size())) return;
  std::lock_guard lock(control_mu_);
  rebirth_requested_ = true;
  control_cv_.notify_all();
}

void SparkplugUpstream::ControlLoop() {
  const std::int64_t silence_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.device_timeout).count();
  // When to look for silent devices next (monotonic ns); INT64_MAX: never.
  std::int64_t next_silence = silence_ns > 0 ? MonoNs() + silence_ns : INT64_MAX;
  for (;;) {
    bool rebirth = false, host_event = false;
    {
      std::unique_lock lock(control_mu_);
      auto woken = [this] { return rebirth_requested_ || host_event_ || stopping_; };
      if (next_silence == INT64_MAX) {
        control_cv_.wait(lock, woken);
      } else {
        // Wake when the next device may have fallen silent on the Clock (at most once a second
        // while devices report: their deadlines keep moving). A FakeClock moves without waking
        // anyone, so on it the wait is cut to Clock::MaxSleepNs() and the clock read again.
        const std::int64_t left = std::max<std::int64_t>(next_silence - MonoNs(), 1'000'000'000);
        control_cv_.wait_for(
            lock, std::chrono::nanoseconds(std::min(left, options_.clock->MaxSleepNs())), woken);
      }
      if (stopping_) return;
      rebirth = std::exchange(rebirth_requested_, false);
      host_event = std::exchange(host_event_, false);
    }
    std::lock_guard lock(mu_);
    std::vector<Outgoing> msgs;
    const bool host_gate = !options_.primary_host_id.empty();
    if (host_event && host_gate && !host_online_ && connected_) {
      // tck-id-message-flow-edge-node-birth-publish-phid-offline: NDEATH, disconnect, start over.
      spdlog::warn(
          "upstream {}: primary host {} went offline: NDEATH and reconnect; records "
          "stay buffered until it is back",
          name_, options_.primary_host_id);
      Disconnect(milliseconds(500));
    }
    if (connected_ && (!host_gate || host_online_)) {
      if (session_.births_due()) {
        spdlog::info("upstream {}: primary host {} is online: births", name_,
                     options_.primary_host_id);
        session_.Births(NowMs(), msgs);
      } else if (rebirth) {
        spdlog::info("upstream {}: rebirth requested by NCMD", name_);
        session_.Births(NowMs(), msgs);
      }
      if (silence_ns > 0) {
        session_.Deaths(MonoNs(), silence_ns, NowMs(), msgs);
      }
    }
    if (!msgs.empty()) {
      std::vector<bool> acked;
      std::string err = PublishAll(msgs, acked);
      if (!err.empty()) {
        spdlog::warn("upstream {}: births/deaths: {}", name_, err);
        Disconnect(milliseconds(500));
      }
    }
    next_silence = silence_ns > 0 && connected_ ? session_.NextSilenceNs(silence_ns) : INT64_MAX;
    if (silence_ns > 0 && next_silence == INT64_MAX) {
      // Not connected or no live device: look again in a while.
      next_silence = MonoNs() + silence_ns;
    }
  }
}

void SparkplugUpstream::Stop() {
  {
    std::lock_guard lock(control_mu_);
    stopping_ = true;
    control_cv_.notify_all();
  }
  if (control_.joinable()) control_.join();
  std::lock_guard lock(mu_);
  Disconnect(std::min(options_.conn.publish_timeout, milliseconds(2000)));
}

UpstreamType UpstreamTypeEntry() {
  return UpstreamType{
      .type = "sparkplug",
      .summary =
          "Sparkplug B 3.0 edge node over MQTT (Paho, protobuf-c): births, NDEATH will "
          "with bdSeq, aliases, rebirth on NCMD, DDEATH, primary host STATE.",
      .spec = &Spec(),
      .check = [](const config::Section& s, config::ErrorList& e) { Check(s, e); },
      .create = [](const config::Section& s,
                   const UpstreamContext& ctx) -> Result<std::unique_ptr<Upstream>> {
        Options o;
        auto conn = mqtt_upstream::ReadConnection(s, ctx);
        if (!conn) return Err(conn.error());
        o.conn = std::move(*conn);
        o.session.group_id = s.GetString("group_id");
        o.session.edge_node_id = s.GetString("edge_node_id");
        if (o.session.edge_node_id.empty()) o.session.edge_node_id = SanitizeId(ctx.gateway_id);
        if (!ValidId(o.session.group_id)) {
          return Err(Status::Config("group_id: must be non-empty without '/', '+' or '#'"));
        }
        o.session.historical_grace_ns = s.GetInt("historical_grace_ms") * 1'000'000;
        o.session.max_metrics_per_message =
            static_cast<std::size_t>(s.GetInt("max_metrics_per_message"));
        o.bdseq_file = s.GetString("bdseq_file");
        o.primary_host_id = s.GetString("primary_host_id");
        o.device_timeout = milliseconds(s.GetInt("device_timeout_ms"));
        o.qos = static_cast<int>(s.GetInt("qos"));
        o.clock = ctx.clock;
        return std::make_unique<SparkplugUpstream>(ctx.name, std::move(o));
      }};
}

}  // namespace pn::sparkplug
