#include "drivers/mqtt/mqtt_driver.h"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "drivers/deliver.h"
#include "drivers/serial/bad_input_log.h"
#include "gateway/connect/backoff.h"
#include "gateway/connect/paho_tls.h"
#include "gateway/connect/secret.h"
#include "gateway/connect/sleep.h"

namespace pn::mqtt {

namespace {

using config::KeySpec;
using config::TableSpec;
using config::ValueType;

constexpr std::int64_t kNsPerMs = 1'000'000;
// The longest a decoded reading waits in the driver before it is handed to the pipeline.
constexpr std::chrono::milliseconds kMaxLatency{10};
// An idle receive loop (nothing pending) sleeps until a message comes, a stop, or this long to
// look at the connection: an idle gateway does not wake every kMaxLatency.
constexpr std::chrono::milliseconds kIdleCheck{1000};

const TableSpec& BuildSpec() {
  static const TableSpec spec = [] {
    TableSpec t;
    t.description =
        "Readings from an MQTT broker: topic filters with device and series taken "
        "from topic levels, plain, JSON or line protocol payloads.";
    auto key = [&t](std::string name, ValueType type, config::DefaultValue def,
                    std::string desc) -> KeySpec& {
      return config::AddKey(t, std::move(name), type, std::move(def), std::move(desc));
    };
    auto range = [](KeySpec& k, double lo, double hi) {
      k.min = lo;
      k.max = hi;
    };
    KeySpec& broker = key("broker", ValueType::kString, {},
                          "The broker URI: tcp://HOST:PORT (or mqtt://) in clear, ssl://HOST:PORT "
                          "(or mqtts://) with TLS.");
    broker.required = true;
    broker.example = "\"tcp://127.0.0.1:1883\"";
    key("client_id", ValueType::kString, std::string(""),
        "The MQTT client id; empty means \"processnow-<instance name>\". Must be unique per "
        "broker.");
    KeySpec& topics = key("topics", ValueType::kStringList, {},
                          "Topic templates to subscribe to. A level may be {device} or {series} "
                          "(taken from the topic), + or a final #.");
    topics.required = true;
    topics.example = "[\"plant/{device}/{series}\"]";
    range(key("qos", ValueType::kInt, std::int64_t{1},
              "The subscription QoS: 0 (at most once) or 1 (at least once)."),
          0, 1);
    key("clean_session", ValueType::kBool, true,
        "Start with a clean session. false keeps the subscriptions and queued QoS 1 messages at "
        "the broker while the gateway is away (needs a fixed client_id).");
    key("payload", ValueType::kString, std::string("plain"),
        "The payload format: plain (one number), json (field mapping) or line_protocol "
        "(InfluxDB line protocol).")
        .choices = {"plain", "json", "line_protocol"};
    key("device_name", ValueType::kString, std::string(""),
        "The device when neither the topic nor the payload names one; empty means the "
        "driver's instance name.");
    key("series", ValueType::kString, std::string(""),
        "The series when neither the topic nor the payload names one.");
    key("json_value", ValueType::kString, std::string("value"),
        "payload = \"json\": the field holding the value (a key or a JSON pointer such as "
        "\"/data/v\"), when json_fields is empty.");
    key("json_fields", ValueType::kStringList, std::vector<std::string>{},
        "payload = \"json\": several series from one object, each \"name\" (series and key the "
        "same) or \"series=key-or-pointer\".");
    key("json_text_series", ValueType::kStringList, std::vector<std::string>{},
        "payload = \"json\": series delivered as text (string readings), such as a machine "
        "state; their JSON strings are taken as is. Other series need numbers or booleans.");
    key("json_time", ValueType::kString, std::string(""),
        "payload = \"json\": the field holding the time as a number; empty means the time of "
        "arrival.");
    key("json_time_unit", ValueType::kString, std::string("ms"),
        "payload = \"json\": the unit of json_time since the epoch.")
        .choices = {"s", "ms", "us", "ns"};
    key("json_device", ValueType::kString, std::string(""),
        "payload = \"json\": the field naming the device; empty means from the topic.");
    key("json_series", ValueType::kString, std::string(""),
        "payload = \"json\": the field naming the series (single-value mode); empty means from "
        "the topic.");
    key("lp_device_tag", ValueType::kString, std::string("device"),
        "payload = \"line_protocol\": the tag naming the device; lines without it take the "
        "device from the topic.");
    key("lp_series_with_measurement", ValueType::kBool, false,
        "payload = \"line_protocol\": name series \"measurement_field\" instead of \"field\".");
    key("lp_precision", ValueType::kString, std::string("ns"),
        "payload = \"line_protocol\": the unit of the timestamps.")
        .choices = {"s", "ms", "us", "ns"};
    key("username", ValueType::kString, std::string(""), "The user name; empty means none.");
    key("password_file", ValueType::kString, std::string(""),
        "A file holding the password (one trailing newline is removed; an empty password is an "
        "error). Never logged.");
    key("password_env", ValueType::kString, std::string(""),
        "An environment variable holding the password, instead of password_file; unset or "
        "empty is an error. Never logged.");
    key("ca_file", ValueType::kString, std::string(""),
        "TLS: PEM file of the CA certificates that sign the broker's certificate; empty means "
        "the system's default CAs.");
    key("cert_file", ValueType::kString, std::string(""),
        "TLS: PEM file with the client certificate (client authentication).");
    key("key_file", ValueType::kString, std::string(""),
        "TLS: PEM file with the client certificate's private key.");
    key("tls_verify_hostname", ValueType::kBool, true,
        "TLS: check that the broker's certificate names the host in broker. Turn off only for "
        "testing.");
    range(key("keep_alive_s", ValueType::kInt, std::int64_t{30},
              "The MQTT keep-alive interval in seconds."),
          1, 65535);
    range(key("connect_timeout_ms", ValueType::kInt, std::int64_t{5000},
              "How long a connect or subscribe may take, in milliseconds."),
          100, 600000);
    KeySpec& retry_initial =
        key("retry_initial_ms", ValueType::kInt, std::int64_t{500},
            "First wait before reconnecting after a failed connect or a lost connection, in "
            "milliseconds; doubles on each further failure up to retry_max_ms, each wait drawn "
            "between half and all of it (equal jitter).");
    range(retry_initial, 10, 3600000);
    retry_initial.aliases = {"reconnect_min_ms"};
    KeySpec& retry_max = key("retry_max_ms", ValueType::kInt, std::int64_t{30000},
                             "Longest wait between two reconnect attempts, in milliseconds.");
    range(retry_max, 10, 3600000);
    retry_max.aliases = {"reconnect_max_ms"};
    range(key("log_interval_ms", ValueType::kInt, std::int64_t{10000},
              "Bad payloads are logged at most once per this interval, with a count."),
          0, 3600000);
    range(key("batch", ValueType::kInt, std::int64_t{1000},
              "At most this many readings per hand-over to the pipeline."),
          1, 1000000);
    return t;
  }();
  return spec;
}

bool IsTls(std::string_view uri) {
  return uri.rfind("ssl://", 0) == 0 || uri.rfind("mqtts://", 0) == 0;
}
bool IsClear(std::string_view uri) {
  return uri.rfind("tcp://", 0) == 0 || uri.rfind("mqtt://", 0) == 0;
}

}  // namespace

const config::TableSpec& Spec() { return BuildSpec(); }

void Check(const config::Section& s, config::ErrorList& errors) {
  const std::string broker = s.GetString("broker");
  const bool tls = IsTls(broker);
  if (!tls && !IsClear(broker)) {
    s.AddError(errors, "broker",
               "\"" + broker +
                   "\" is not a broker URI: expected tcp://, mqtt://, ssl:// or "
                   "mqtts:// followed by HOST:PORT");
  }
  const std::vector<std::string> topics = s.GetStringList("topics");
  if (topics.empty()) s.AddError(errors, "topics", "must name at least one topic");
  const std::string payload = s.GetString("payload");
  const bool has_series_default = !s.GetString("series").empty();
  for (std::size_t i = 0; i < topics.size(); ++i) {
    auto t = TopicTemplate::Parse(topics[i]);
    const std::string at = "topics[" + std::to_string(i) + "]";
    if (!t) {
      s.AddError(errors, "topics", at + ": " + t.error().message());
    } else if (payload == "plain" && !t->has_series() && !has_series_default) {
      s.AddError(errors, "topics",
                 at + ": a plain payload needs {series} in the topic or a series key");
    }
  }
  struct Owned {
    const char* key;
    const char* payload;
  };
  static constexpr Owned kOwned[] = {{"json_value", "json"},
                                     {"json_fields", "json"},
                                     {"json_text_series", "json"},
                                     {"json_time", "json"},
                                     {"json_time_unit", "json"},
                                     {"json_device", "json"},
                                     {"json_series", "json"},
                                     {"lp_device_tag", "line_protocol"},
                                     {"lp_series_with_measurement", "line_protocol"},
                                     {"lp_precision", "line_protocol"}};
  for (const auto& o : kOwned) {
    if (s.Has(o.key) && payload != o.payload) {
      s.AddError(errors, o.key,
                 std::string("is only used by payload = \"") + o.payload + "\" (payload is \"" +
                     payload + "\")");
    }
  }
  std::vector<std::string> mapped;
  for (const std::string& f : s.GetStringList("json_fields")) {
    auto [series, location] = ParseFieldMapping(f);
    if (series.empty() || location.empty()) {
      s.AddError(errors, "json_fields", "\"" + f + "\" is not \"name\" or \"series=key\"");
    }
    mapped.push_back(series);
  }
  if (!mapped.empty()) {
    for (const std::string& t : s.GetStringList("json_text_series")) {
      if (std::find(mapped.begin(), mapped.end(), t) == mapped.end()) {
        s.AddError(errors, "json_text_series",
                   "\"" + t + "\" is not a series of json_fields, so it never has a value");
      }
    }
  }
  if (!s.GetString("password_file").empty() && !s.GetString("password_env").empty()) {
    s.AddError(errors, "password_env",
               "give the password by password_file or password_env, not both");
  }
  if ((!s.GetString("password_file").empty() || !s.GetString("password_env").empty()) &&
      s.GetString("username").empty()) {
    s.AddError(errors, s.GetString("password_file").empty() ? "password_env" : "password_file",
               "a password needs a username");
  }
  if (!tls) {
    for (const char* k : {"ca_file", "cert_file", "key_file", "tls_verify_hostname"}) {
      if (s.Has(k)) s.AddError(errors, k, "TLS settings need an ssl:// or mqtts:// broker");
    }
  }
  if (!s.GetString("key_file").empty() && s.GetString("cert_file").empty()) {
    s.AddError(errors, "key_file", "a client key needs cert_file");
  }
  if (s.GetInt("retry_initial_ms") > s.GetInt("retry_max_ms")) {
    s.AddError(errors, "retry_initial_ms", "must not exceed retry_max_ms");
  }
  if (!s.GetBool("clean_session") && s.GetString("client_id").empty()) {
    s.AddError(errors, "clean_session", "a persistent session (false) needs a fixed client_id");
  }
}

MqttSettings SettingsFromSection(const config::Section& s) {
  MqttSettings o;
  o.broker = s.GetString("broker");
  o.client_id = s.GetString("client_id");
  o.topics = s.GetStringList("topics");
  o.qos = static_cast<int>(s.GetInt("qos"));
  o.clean_session = s.GetBool("clean_session");
  o.payload = s.GetString("payload");
  o.device_name = s.GetString("device_name");
  o.series = s.GetString("series");
  o.json.value = s.GetString("json_value");
  for (const std::string& f : s.GetStringList("json_fields")) {
    o.json.fields.push_back(ParseFieldMapping(f));
  }
  o.json.text_series = s.GetStringList("json_text_series");
  o.json.time = s.GetString("json_time");
  ParseTimeUnit(s.GetString("json_time_unit"), o.json.time_unit);
  o.json.device = s.GetString("json_device");
  o.json.series = s.GetString("json_series");
  o.line_protocol.device_tag = s.GetString("lp_device_tag");
  o.line_protocol.series_with_measurement = s.GetBool("lp_series_with_measurement");
  ParseTimeUnit(s.GetString("lp_precision"), o.line_protocol.precision);
  o.username = s.GetString("username");
  o.password_file = s.GetString("password_file");
  o.password_env = s.GetString("password_env");
  o.ca_file = s.GetString("ca_file");
  o.cert_file = s.GetString("cert_file");
  o.key_file = s.GetString("key_file");
  o.tls_verify_hostname = s.GetBool("tls_verify_hostname");
  o.keep_alive_s = s.GetInt("keep_alive_s");
  o.connect_timeout_ms = s.GetInt("connect_timeout_ms");
  o.retry_initial_ms = s.GetInt("retry_initial_ms");
  o.retry_max_ms = s.GetInt("retry_max_ms");
  o.log_interval_ms = s.GetInt("log_interval_ms");
  o.batch = static_cast<std::size_t>(s.GetInt("batch"));
  return o;
}

Result<std::unique_ptr<MessageDecoder>> MakeDecoder(const MqttSettings& s,
                                                    const std::string& instance_name) {
  std::vector<TopicTemplate> topics;
  for (const auto& t : s.topics) {
    auto parsed = TopicTemplate::Parse(t);
    if (!parsed) return Err(Status::Config("topic \"" + t + "\": " + parsed.error().message()));
    topics.push_back(std::move(*parsed));
  }
  if (topics.empty()) return Err(Status::Config("no topics"));
  std::unique_ptr<PayloadParser> parser;
  if (s.payload == "json") {
    parser = MakeJsonParser(s.json);
  } else if (s.payload == "line_protocol") {
    parser = MakeLineProtocolParser(s.line_protocol);
  } else if (s.payload == "plain") {
    parser = MakePlainParser();
  } else {
    return Err(Status::Config("unknown payload \"" + s.payload + "\""));
  }
  return std::make_unique<MessageDecoder>(std::move(topics),
                                          s.device_name.empty() ? instance_name : s.device_name,
                                          s.series, std::move(parser));
}

MqttDriver::MqttDriver(std::string name, MqttSettings settings, std::string password,
                       std::unique_ptr<MessageDecoder> decoder, Clock* clock)
    : name_(std::move(name)),
      settings_(std::move(settings)),
      password_(std::move(password)),
      decoder_(std::move(decoder)),
      clock_(clock) {
  if (settings_.client_id.empty()) settings_.client_id = "processnow-" + name_;
}

Result<std::unique_ptr<MqttDriver>> MqttDriver::Create(std::string name, MqttSettings settings,
                                                       Clock* clock) {
  auto decoder = MakeDecoder(settings, name);
  if (!decoder) return Err(decoder.error());
  auto password =
      connect::ReadSecret({.file = settings.password_file, .env = settings.password_env});
  if (!password) return Err(password.error());
  return std::unique_ptr<MqttDriver>(new MqttDriver(
      std::move(name), std::move(settings), std::move(*password), std::move(*decoder), clock));
}

void MqttDriver::Run(std::stop_token stop, ReadingSink& sink) {
  std::unique_ptr<::mqtt::async_client> client;
  try {
    connect::InitPaho();
    client = std::make_unique<::mqtt::async_client>(
        settings_.broker, settings_.client_id, static_cast<::mqtt::iclient_persistence*>(nullptr));
  } catch (const std::exception& e) {
    spdlog::error("driver {}: cannot create an MQTT client for {}: {}", name_, settings_.broker,
                  e.what());
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }

  ::mqtt::connect_options_builder cb;
  cb.keep_alive_interval(std::chrono::seconds(settings_.keep_alive_s))
      .clean_session(settings_.clean_session)
      .connect_timeout(std::chrono::milliseconds(settings_.connect_timeout_ms))
      .automatic_reconnect(false)
      .mqtt_version(MQTTVERSION_3_1_1);
  if (!settings_.username.empty()) cb.user_name(settings_.username);
  if (!password_.empty()) cb.password(password_);
  if (IsTls(settings_.broker)) {
    const std::string name = name_;
    cb.ssl(connect::PahoSslOptions(
        {.ca_file = settings_.ca_file,
         .cert_file = settings_.cert_file,
         .key_file = settings_.key_file,
         .verify_hostname = settings_.tls_verify_hostname},
        [name](const std::string& msg) { spdlog::warn("driver {}: TLS: {}", name, msg); }));
  }
  const ::mqtt::connect_options options = cb.finalize();
  const auto timeout = std::chrono::milliseconds(settings_.connect_timeout_ms);
  std::vector<std::string> filters;
  for (const auto& t : decoder_->topics()) filters.push_back(t.filter());
  const ::mqtt::iasync_client::qos_collection qos(filters.size(), settings_.qos);

  // Paho calls the message callback on its receive thread, one message at a time: it decodes
  // there, straight into `inbox.pending`, and wakes this thread when a batch is full; this
  // thread also takes what is there every kMaxLatency. When the pipeline is slower than
  // the broker, the callback waits for room (only while this thread is in its receive loop),
  // which stops Paho reading the socket: TCP and the broker's queues then hold the rest. The
  // decoder and `bad` are used by that thread only.
  struct Inbox {
    std::mutex mu;
    std::condition_variable ready;  // readings pending (or closing)
    std::condition_variable room;   // pending below the bound (or closing)
    std::vector<Reading> pending;
    bool draining = false;  // this thread is in its receive loop (not connecting)
    bool idle = false;      // this thread sleeps until the first message
    bool closing = false;
    bool lost = false;  // Paho reported the connection lost
  } inbox;
  // A stop wakes the receive loop at once (under the lock: no lost wake-up).
  std::stop_callback wake_on_stop(stop, [&inbox] {
    std::lock_guard lock(inbox.mu);
    inbox.ready.notify_all();
  });
  const std::size_t max_pending = std::max<std::size_t>(settings_.batch * 16, 16384);
  serial::BadInputLog bad(name_, "bad payload", clock_, settings_.log_interval_ms * kNsPerMs);
  client->set_message_callback([&](::mqtt::const_message_ptr msg) {
    try {
      if (!msg) return;
      const std::string& payload = msg->get_payload();
      std::unique_lock lock(inbox.mu);
      // Waits only while this thread drains the inbox: during a connect or subscribe (a
      // persistent session's queued messages arrive before the SUBACK) it must not block, or the
      // SUBACK behind them could never be read.
      inbox.room.wait(lock, [&] {
        return inbox.closing || !inbox.draining || inbox.pending.size() < max_pending;
      });
      if (inbox.closing) return;
      const bool below = inbox.pending.size() < settings_.batch;
      const bool was_empty = inbox.pending.empty();
      Status st = decoder_->Decode(msg->get_topic(), payload, clock_->NowNs(), inbox.pending);
      if ((below && inbox.pending.size() >= settings_.batch) ||
          (inbox.idle && was_empty && !inbox.pending.empty())) {
        inbox.ready.notify_one();
      }
      lock.unlock();
      if (!st.ok()) {
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
        bad.Record(st.message() + " (topic " + msg->get_topic() + ")", payload);
      }
    } catch (const std::exception& e) {  // nothing may escape into Paho's thread
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("driver {}: handling a message failed: {}", name_, e.what());
    }
  });

  // The receive loop learns of a lost connection from this handler, never by asking Paho
  // (is_connected): the message callback holds Paho's lock while it waits for room in a full
  // inbox, so asking would wait for this thread to drain the inbox, which it then never does.
  client->set_connection_lost_handler([&inbox](const std::string&) {
    std::lock_guard lock(inbox.mu);
    inbox.lost = true;
    inbox.ready.notify_all();
  });

  std::vector<Reading> taken;
  std::vector<Reading> chunk;
  connect::Backoff backoff(
      {.initial_ms = settings_.retry_initial_ms, .max_ms = settings_.retry_max_ms},
      connect::SeedFromName(name_.c_str()));
  std::string last_error;
  bool connected = false;
  bool lost = false;

  while (!stop.stop_requested()) {
    stats_.heartbeat_ns.store(clock_->MonotonicNs(), std::memory_order_relaxed);
    if (!connected) {
      {
        std::lock_guard lock(inbox.mu);
        inbox.draining = false;
        inbox.lost = false;
      }
      inbox.room.notify_all();
      std::string error;
      try {
        auto tok = client->connect(options);
        if (!tok->wait_for(timeout)) {
          error = "connect timed out";
        } else {
          auto sub = client->subscribe(::mqtt::string_collection::create(filters), qos);
          if (!sub->wait_for(timeout)) {
            error = "subscribe timed out";
          } else {
            const ::mqtt::subscribe_response response = sub->get_subscribe_response();
            for (int rc : response.get_reason_codes()) {
              if (rc >= 0x80) {
                error = "the broker refused a subscription (code " + std::to_string(rc) + ")";
              }
            }
          }
        }
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (!error.empty()) {
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
        if (error != last_error) {
          spdlog::warn("driver {}: {}: {}; retrying with backoff up to {} ms", name_,
                       settings_.broker, error, settings_.retry_max_ms);
          last_error = error;
        } else {
          spdlog::debug("driver {}: {}: {}", name_, settings_.broker, error);
        }
        try {
          if (client->is_connected()) client->disconnect()->wait_for(std::chrono::seconds(1));
        } catch (const std::exception&) {
        }
        if (!connect::SleepFor(stop, std::chrono::milliseconds(backoff.NextMs()))) break;
        continue;
      }
      connected = true;
      {
        std::lock_guard lock(inbox.mu);
        inbox.draining = true;
      }
      last_error.clear();
      backoff.Reset();
      connects_.fetch_add(1, std::memory_order_relaxed);
      std::string list;
      for (const auto& f : filters) list += (list.empty() ? "" : ", ") + f;
      spdlog::info("driver {}: connected to {} as {}, subscribed to {} (QoS {})", name_,
                   settings_.broker, settings_.client_id, list, settings_.qos);
    }

    {
      std::unique_lock lock(inbox.mu);
      if (inbox.pending.empty()) {
        // Idle: sleep until the first message (the callback wakes this thread), a lost
        // connection, a stop, or kIdleCheck (the heartbeat).
        inbox.idle = true;
        inbox.ready.wait_for(lock, kIdleCheck, [&] {
          return !inbox.pending.empty() || inbox.lost || stop.stop_requested();
        });
        inbox.idle = false;
      }
      if (!inbox.pending.empty()) {
        // Wakes when a full batch is waiting, else after kMaxLatency with what there is: one
        // wake-up per batch at high rates, at most kMaxLatency added delay at low rates.
        inbox.ready.wait_for(lock, kMaxLatency, [&] {
          return inbox.pending.size() >= settings_.batch || stop.stop_requested();
        });
      }
      taken.swap(inbox.pending);  // `pending` keeps the old capacity of `taken`
      lost = inbox.lost;
    }
    inbox.room.notify_one();
    bool sink_open = true;
    if (taken.size() <= settings_.batch) {
      sink_open = DeliverBatch(sink, taken, stats_, *clock_);
    } else {
      for (std::size_t i = 0; i < taken.size() && sink_open; i += settings_.batch) {
        const auto first = taken.begin() + static_cast<std::ptrdiff_t>(i);
        const auto last = taken.begin() +
                          static_cast<std::ptrdiff_t>(std::min(taken.size(), i + settings_.batch));
        chunk.assign(std::make_move_iterator(first), std::make_move_iterator(last));
        sink_open = DeliverBatch(sink, chunk, stats_, *clock_);
      }
    }
    taken.clear();
    if (!sink_open) break;
    if (lost) {
      spdlog::warn("driver {}: lost the connection to {}; reconnecting", name_, settings_.broker);
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      connected = false;
      if (!connect::SleepFor(stop, std::chrono::milliseconds(backoff.NextMs()))) break;
    }
  }
  {
    std::lock_guard lock(inbox.mu);
    inbox.closing = true;
  }
  inbox.room.notify_all();
  try {
    if (client->is_connected()) client->disconnect()->wait_for(std::chrono::seconds(1));
  } catch (const std::exception& e) {
    spdlog::debug("driver {}: disconnect: {}", name_, e.what());
  }
  client.reset();  // no callback may run once `inbox` and `bad` are gone
}

DriverType DriverTypeEntry() {
  DriverType t;
  t.type = "mqtt";
  t.summary = "Subscribe to MQTT topics: plain, JSON or line protocol payloads";
  t.spec = &Spec();
  t.check = [](const config::Section& s, config::ErrorList& e) { Check(s, e); };
  t.create = [](const config::Section& s,
                const DriverContext& ctx) -> Result<std::unique_ptr<Driver>> {
    auto d = MqttDriver::Create(ctx.name, SettingsFromSection(s), ctx.clock);
    if (!d) return Err(d.error());
    return std::unique_ptr<Driver>(std::move(*d));
  };
  return t;
}

}  // namespace pn::mqtt
