// sparkplug_encode_bench: bytes and CPU per metric of the Sparkplug B encoder against the JSON
// encodings of the mqtt upstream, on the same records (issue 11).
//
// Records: 20 pumps x 5 series with units (values with sim-like noise, so every number has its
// full shortest round-trip form), one tick per second, plus rule events: an anomaly score for one
// pump every tick, an alarm raised and cleared for one pump every 20 ticks, a health index every
// 10 ticks (1.2% of the records are events). Made with pn::ToRecord, as the pipeline
// does, then numbered as the store numbers them.
//
// Encoders, each over the same batches of `--batch` records (default 1000):
//   sparkplug   pn::sparkplug::Session::Encode (protobuf-c); one session: its births come with a
//               first warm-up pass over every batch that is not timed, then every timed pass is
//               DDATA only (aliases, timestamps, values), as in a live session;
//   json        pn::mqtt_upstream::Encode, payload "json": one message per record, the wire JSON
//               object (pn::AppendWireJson), topic "{gateway}/{device}";
//   json_batch  the same with payload "json_batch", batch_max_records 500 (JSON arrays).
//   wire_json   pn::AppendWireJson alone into one buffer (no topics, no messages): the floor of
//               the JSON forms.
// Bytes per metric: payload bytes / records, and payload + topic bytes / records. CPU: thread
// CPU time (CLOCK_THREAD_CPUTIME_ID) of the pass, ns per metric, median of `--reps`; the variants
// alternate within a repetition, and the ratio sparkplug/json is taken per repetition, then the
// median of the ratios.
//
// Callgrind (instructions per metric, insensitive to load): under valgrind --tool=callgrind the
// bench zeroes the counters before each pass of the first repetition and dumps them after it
// (callgrind.h client requests), one file per encoder named by the pass: see README.md.
//
// Usage: sparkplug_encode_bench [--records N] [--batch B] [--reps R]
//        (defaults: 100000 records, batches of 1000, 7 reps)
#include <time.h>
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(x) ((void)(x))
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/reading.h"
#include "core/record.h"
#include "gateway/upstream/mqtt/mqtt_encoding.h"
#include "gateway/upstream/sparkplug/sparkplug_session.h"

namespace {

constexpr const char* kGateway = "gw-bench";
constexpr std::int64_t kStartNs = 1'796'083'200'000'000'000;  // 2026-12-01T00:00:00Z
constexpr int kDevices = 20;

struct SeriesDef {
  const char* name;
  const char* unit;
  double base;
  double noise;
};
constexpr SeriesDef kSeries[] = {{"temperature", "degC", 42.0, 0.15},
                                 {"vibration_rms", "mm/s", 2.1, 0.04},
                                 {"current", "A", 31.0, 0.25},
                                 {"pressure", "bar", 5.6, 0.02},
                                 {"flow", "m3/h", 88.0, 0.8}};

std::vector<pn::Record> MakeRecords(std::size_t n) {
  std::vector<pn::Record> out;
  out.reserve(n);
  std::mt19937_64 rng(11);
  std::normal_distribution<double> gauss(0.0, 1.0);
  std::uint64_t seq = 1;
  auto push = [&](pn::NewRecord nr) {
    pn::Record r;
    r.seq = seq++;
    r.kind = nr.kind;
    r.ts_ns = nr.ts_ns;
    r.device = std::move(nr.device);
    r.series = std::move(nr.series);
    r.body = std::move(nr.body);
    out.push_back(std::move(r));
  };
  for (std::int64_t tick = 0; out.size() < n; ++tick) {
    const std::int64_t ts = kStartNs + tick * 1'000'000'000;
    const double load = 0.65 + 0.2 * std::sin(static_cast<double>(tick) / 3600.0);
    for (int d = 1; d <= kDevices && out.size() < n; ++d) {
      const std::string device = "pump-" + std::to_string(d);
      for (const SeriesDef& s : kSeries) {
        if (out.size() >= n) break;
        pn::Reading r;
        r.device = device;
        r.series = s.name;
        r.unit = s.unit;
        r.value = s.base * (0.7 + 0.5 * load) + s.noise * gauss(rng);
        r.ts_ns = ts;
        push(pn::ToRecord(r));
      }
    }
    auto event = [&](pn::EventKind kind, int d, const char* series, const char* rule) {
      if (out.size() >= n) return;
      pn::Event e;
      e.ts_ns = ts;
      e.device = "pump-" + std::to_string(d);
      e.series = series;
      e.rule = rule;
      e.kind = kind;
      e.value = 40.0 + gauss(rng);
      if (kind == pn::EventKind::kAnomaly) e.score = 0.5 + 0.1 * gauss(rng);
      if (kind == pn::EventKind::kHealth) e.health = 0.9 + 0.01 * gauss(rng);
      if (kind == pn::EventKind::kAlarm || kind == pn::EventKind::kClear) {
        e.severity = "critical";
        e.message = kind == pn::EventKind::kAlarm ? "temperature above 90 for 3 readings"
                                                  : "temperature back below 90";
      }
      push(pn::ToRecord(e));
    };
    const int d = static_cast<int>(tick % kDevices) + 1;
    event(pn::EventKind::kAnomaly, d, "vibration_rms", "vibration_anomaly");
    if (tick % 20 == 5) event(pn::EventKind::kAlarm, d, "temperature", "temperature_high");
    if (tick % 20 == 15) event(pn::EventKind::kClear, d, "temperature", "temperature_high");
    if (tick % 10 == 0) event(pn::EventKind::kHealth, d, "vibration_rms", "bearing_health");
  }
  return out;
}

std::int64_t ThreadCpuNs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

struct Bytes {
  std::size_t payload = 0;
  std::size_t topic = 0;
  std::size_t messages = 0;
};

using Batches = std::vector<std::span<const pn::Record>>;

// The timed passes: noinline so that callgrind_annotate shows each one's inclusive cost.
__attribute__((noinline)) Bytes PassSparkplug(pn::sparkplug::Session& s, const Batches& batches,
                                              std::int64_t now_ms) {
  Bytes b;
  std::vector<pn::sparkplug::Outgoing> out;
  std::vector<std::size_t> record_msg;
  for (const auto& batch : batches) {
    out.clear();
    s.Encode(batch, now_ms, 0, out, record_msg);
    for (const auto& m : out) {
      b.payload += m.payload.size();
      b.topic += m.topic.size();
      ++b.messages;
      if (m.birth) std::fprintf(stderr, "unexpected birth in a timed pass\n"), std::exit(1);
    }
  }
  return b;
}

__attribute__((noinline)) Bytes PassMqtt(const pn::mqtt_upstream::EncoderOptions& o,
                                         const Batches& batches) {
  Bytes b;
  pn::mqtt_upstream::Encoded enc;
  for (const auto& batch : batches) {
    enc.messages.clear();
    enc.message_of.clear();
    pn::mqtt_upstream::Encode(batch, o, enc);
    for (const auto& m : enc.messages) {
      b.payload += m.payload.size();
      b.topic += m.topic.size();
      ++b.messages;
    }
  }
  return b;
}
__attribute__((noinline)) Bytes PassJson(const pn::mqtt_upstream::EncoderOptions& o,
                                         const Batches& batches) {
  return PassMqtt(o, batches);
}
__attribute__((noinline)) Bytes PassJsonBatch(const pn::mqtt_upstream::EncoderOptions& o,
                                              const Batches& batches) {
  return PassMqtt(o, batches);
}

__attribute__((noinline)) Bytes PassWireJson(const Batches& batches) {
  Bytes b;
  std::string buf;
  for (const auto& batch : batches) {
    buf.clear();
    for (const pn::Record& r : batch) pn::AppendWireJson(buf, kGateway, r);
    b.payload += buf.size();
    b.messages += batch.size();
  }
  return b;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

pn::mqtt_upstream::EncoderOptions MqttOptions(pn::mqtt_upstream::PayloadFormat f) {
  pn::mqtt_upstream::EncoderOptions o;
  o.gateway_id = kGateway;
  o.upstream = "out";
  auto t = pn::mqtt_upstream::TopicTemplate::Parse("{gateway}/{device}");
  if (!t) std::fprintf(stderr, "topic template\n"), std::exit(1);
  o.topic = std::move(*t);
  o.format = f;
  o.batch_max_records = 500;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t records = 100000, batch = 1000;
  int reps = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--records") == 0)
      records = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--batch") == 0)
      batch = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--reps") == 0)
      reps = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--records N] [--batch B] [--reps R]\n", argv[0]);
      return 2;
    }
  }
  if (records == 0 || batch == 0 || reps < 1 || reps > 1000) return 2;

  const std::vector<pn::Record> recs = MakeRecords(records);
  std::size_t events = 0, body_bytes = 0;
  for (const auto& r : recs) {
    events += r.kind == pn::RecordKind::kEvent;
    body_bytes += r.body.size();
  }
  Batches batches;
  for (std::size_t i = 0; i < recs.size(); i += batch) {
    batches.emplace_back(recs.data() + i, std::min(batch, recs.size() - i));
  }

  pn::sparkplug::SessionOptions so;
  so.group_id = "plant-1";
  so.edge_node_id = kGateway;
  pn::sparkplug::Session session(so);
  session.Begin(0, kStartNs, 0);
  const std::int64_t now_ms = kStartNs / 1'000'000;
  {  // Warm-up, not timed: NBIRTH, every DBIRTH (and the first DDATA).
    std::vector<pn::sparkplug::Outgoing> out;
    std::vector<std::size_t> record_msg;
    std::size_t births = 0, birth_bytes = 0;
    for (const auto& b : batches) {
      out.clear();
      session.Encode(b, now_ms, 0, out, record_msg);
      for (const auto& m : out) {
        if (m.birth) ++births, birth_bytes += m.payload.size();
      }
    }
    std::printf(
        "records %zu (%zu events), batches of %zu, %d reps; births once: %zu messages, "
        "%zu bytes\n",
        recs.size(), events, batch, reps, births, birth_bytes);
  }
  const auto json_opts = MqttOptions(pn::mqtt_upstream::PayloadFormat::kJson);
  const auto batch_opts = MqttOptions(pn::mqtt_upstream::PayloadFormat::kJsonBatch);

  enum { kSpb, kJson, kJsonBatch, kWire, kN };
  static const char* const kPassNames[kN] = {"pass-sparkplug", "pass-json", "pass-json_batch",
                                             "pass-wire_json"};
  const char* names[kN] = {"sparkplug (protobuf-c, DDATA)", "json (1 record per message)",
                           "json_batch (500 per message)", "AppendWireJson alone"};
  std::vector<double> ns[kN], ratio_json, ratio_batch;
  Bytes bytes[kN];
  for (int rep = 0; rep < reps; ++rep) {
    double t[kN];
    for (int v = 0; v < kN; ++v) {
      if (rep == 0) CALLGRIND_ZERO_STATS;
      const std::int64_t t0 = ThreadCpuNs();
      Bytes b;
      switch (v) {
        case kSpb:
          b = PassSparkplug(session, batches, now_ms);
          break;
        case kJson:
          b = PassJson(json_opts, batches);
          break;
        case kJsonBatch:
          b = PassJsonBatch(batch_opts, batches);
          break;
        default:
          b = PassWireJson(batches);
          break;
      }
      t[v] = static_cast<double>(ThreadCpuNs() - t0) / static_cast<double>(recs.size());
      if (rep == 0) CALLGRIND_DUMP_STATS_AT(kPassNames[v]);
      ns[v].push_back(t[v]);
      bytes[v] = b;
    }
    ratio_json.push_back(t[kSpb] / t[kJson]);
    ratio_batch.push_back(t[kSpb] / t[kJsonBatch]);
  }
  const double n = static_cast<double>(recs.size());
  std::printf("record bodies (the store's JSON): %.1f bytes per record\n\n", body_bytes / n);
  std::printf(
      "| encoder | messages | payload bytes/metric | + topic bytes/metric | "
      "CPU ns/metric (median) | min | max |\n|---|---:|---:|---:|---:|---:|---:|\n");
  for (int v = 0; v < kN; ++v) {
    std::printf("| %s | %zu | %.1f | %.1f | %.0f | %.0f | %.0f |\n", names[v], bytes[v].messages,
                bytes[v].payload / n, (bytes[v].payload + bytes[v].topic) / n, Median(ns[v]),
                *std::min_element(ns[v].begin(), ns[v].end()),
                *std::max_element(ns[v].begin(), ns[v].end()));
  }
  std::printf("\nsparkplug / json: bytes %.2f, CPU %.2f (median of per-rep ratios)\n",
              static_cast<double>(bytes[kSpb].payload) / bytes[kJson].payload, Median(ratio_json));
  std::printf("sparkplug / json_batch: bytes %.2f, CPU %.2f\n",
              static_cast<double>(bytes[kSpb].payload) / bytes[kJsonBatch].payload,
              Median(ratio_batch));
  return 0;
}
