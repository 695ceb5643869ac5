// kafka_forward_bench: how much the Kafka forwarder costs over a bare librdkafka producer.
//
// All send the same messages (key = device, headers gateway + seq, value = the record's wire
// JSON, ~150 bytes) with the same settings (acks=all, enable.idempotence=true, lz4,
// murmur2_random, no Nagle) to librdkafka's mock cluster (3 brokers, 6 partitions) in this
// process:
//   bare       values encoded beforehand; produce everything (serving delivery reports with
//              rd_kafka_poll(0) every 1000 messages), one flush at the end
//   bare/B     the same, but rd_kafka_flush() after every B messages: the forwarder's rhythm
//              without its work (so the ratio to it is the forwarder's own overhead)
//   forwarder  KafkaUpstream::Send() over batches of B records, the pipeline's way: encode each
//              record, produce the batch, wait for every delivery report, next batch
// Every run gets a fresh cluster and producer (warmed up by one message); the variants alternate
// within a repetition so that drift on the machine hits all. Prints a markdown table of median
// messages/s (wall clock), the ratios of the medians, and the median process CPU time per
// message (producer + librdkafka threads + mock cluster), which a busy machine disturbs less.
//
// Usage: kafka_forward_bench [--records N] [--reps R]   (defaults: 200000 records, 5 reps)
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/reading.h"
#include "core/record.h"
#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"
#include "gateway/upstream/kafka/kafka_upstream.h"
#include "tests/unit/upstream/kafka/mock_cluster.h"

namespace {

using Clock = std::chrono::steady_clock;
using pn::kafka_testing::MockCluster;
constexpr const char* kGateway = "bench-gw";
constexpr const char* kTopic = "bench.readings";
constexpr int kPartitions = 6;

// CPU seconds of the whole process (producer, librdkafka's threads and the mock cluster):
// less disturbed than wall time by other work on a shared machine.
double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Run {
  double rate = 0;    // messages/s, wall clock
  double cpu_us = 0;  // process CPU microseconds per message
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "kafka_forward_bench: %s\n", what.c_str());
  std::exit(1);
}

std::vector<pn::Record> MakeRecords(std::size_t n) {
  static const char* kSeries[] = {"pressure", "temperature", "flow", "vibration_rms"};
  static const char* kUnits[] = {"bar", "degC", "m3/h", "mm/s"};
  std::vector<pn::Record> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    pn::Reading r;
    r.device = "pump-" + std::to_string(i % 16);
    r.series = kSeries[i % 4];
    r.unit = kUnits[i % 4];
    r.value = 3.0 + static_cast<double>(i % 1000) * 0.0137;
    r.ts_ns = 1764072000000000000 + static_cast<std::int64_t>(i) * 10000000;
    pn::NewRecord nr = pn::ToRecord(r);
    out.push_back(pn::Record{i + 1, nr.kind, nr.ts_ns, nr.device, nr.series, nr.body});
  }
  return out;
}

int delivered_ok = 0;
int delivered_failed = 0;
void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  (m->err ? delivered_failed : delivered_ok)++;
}

// The bare producer: pre-encoded values; batch 0: produce all, flush once; else flush after
// every `batch` messages (the forwarder's rhythm without its work). Returns messages/s.
Run RunBare(const std::vector<pn::Record>& records, const std::vector<std::string>& values,
            std::size_t batch) {
  MockCluster mc(3);
  mc.CreateTopic(kTopic, kPartitions, 1);
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] :
       std::vector<std::pair<const char*, std::string>>{{"bootstrap.servers", mc.bootstraps()},
                                                        {"acks", "all"},
                                                        {"enable.idempotence", "true"},
                                                        {"compression.codec", "lz4"},
                                                        {"partitioner", "murmur2_random"},
                                                        {"socket.nagle.disable", "true"},
                                                        {"message.timeout.ms", "10000"}}) {
    MockCluster::Set(conf, k, v);
  }
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) Die(err);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, kTopic, nullptr);
  auto produce = [&](std::size_t i) {
    std::string seq = std::to_string(records[i].seq);
    for (;;) {
      rd_kafka_headers_t* h = rd_kafka_headers_new(2);
      rd_kafka_header_add(h, "gateway", -1, kGateway, static_cast<ssize_t>(std::strlen(kGateway)));
      rd_kafka_header_add(h, "seq", -1, seq.data(), static_cast<ssize_t>(seq.size()));
      rd_kafka_vu_t vu[5];
      vu[0].vtype = RD_KAFKA_VTYPE_RKT;
      vu[0].u.rkt = rkt;
      vu[1].vtype = RD_KAFKA_VTYPE_KEY;
      vu[1].u.mem.ptr = const_cast<char*>(records[i].device.data());
      vu[1].u.mem.size = records[i].device.size();
      vu[2].vtype = RD_KAFKA_VTYPE_VALUE;
      vu[2].u.mem.ptr = const_cast<char*>(values[i].data());
      vu[2].u.mem.size = values[i].size();
      vu[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vu[3].u.i = RD_KAFKA_MSG_F_COPY;
      vu[4].vtype = RD_KAFKA_VTYPE_HEADERS;
      vu[4].u.headers = h;
      rd_kafka_error_t* e = rd_kafka_produceva(rk, vu, 5);
      if (e == nullptr) return;
      rd_kafka_headers_destroy(h);
      bool full = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__QUEUE_FULL;
      std::string what = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      if (!full) Die("produce: " + what);
      rd_kafka_poll(rk, 1);
    }
  };
  produce(0);  // warm-up: connections, producer id, metadata
  rd_kafka_flush(rk, 10000);
  delivered_ok = delivered_failed = 0;
  double cpu0 = CpuSeconds();
  auto start = Clock::now();
  for (std::size_t i = 0; i < records.size(); ++i) {
    produce(i);
    if (batch != 0 && (i + 1) % batch == 0) {
      rd_kafka_flush(rk, 60000);
    } else if (i % 1000 == 999) {
      rd_kafka_poll(rk, 0);  // serve delivery reports as they come
    }
  }
  rd_kafka_flush(rk, 60000);
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  double cpu = CpuSeconds() - cpu0;
  if (delivered_ok != static_cast<int>(records.size()) || delivered_failed != 0) {
    Die("bare: " + std::to_string(delivered_ok) + " delivered, " +
        std::to_string(delivered_failed) + " failed");
  }
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  const double n = static_cast<double>(records.size());
  return {n / secs, cpu * 1e6 / n};
}

// The forwarder: Send() over batches, advancing over `delivered` as the pipeline does.
Run RunForwarder(const std::vector<pn::Record>& records, std::size_t batch) {
  MockCluster mc(3);
  mc.CreateTopic(kTopic, kPartitions, 1);
  std::string servers;
  std::string all = mc.bootstraps() + ",";
  for (std::size_t pos = 0, comma; (comma = all.find(',', pos)) != std::string::npos;
       pos = comma + 1) {
    servers += (servers.empty() ? "\"" : ", \"") + all.substr(pos, comma - pos) + "\"";
  }
  std::string toml = "bootstrap_servers = [" + servers + "]\ntopic = \"" + kTopic +
                     "\"\nevent_topic = \"" + kTopic + "\"\ncompression = \"lz4\"\n";
  auto doc = pn::config::ParseString(toml, "bench.toml");
  if (!doc) Die(doc.error().message());
  pn::UpstreamType entry = pn::kafka_upstream::UpstreamTypeEntry();
  pn::config::ErrorList errors;
  pn::config::Validate(doc->root, *entry.spec, "upstreams.kafka", doc->file, errors);
  pn::config::Section section(&doc->root, entry.spec, "upstreams.kafka", doc->file);
  pn::kafka_upstream::Settings settings =
      pn::kafka_upstream::FromSection(section, kGateway, true, errors);
  if (!errors.empty()) Die(errors.ToString());
  auto up = pn::kafka_upstream::Create("kafka", kGateway, std::move(settings));
  if (!up) Die(up.error().ToString());
  pn::Upstream& u = **up;
  if (u.Send(std::span<const pn::Record>(records.data(), 1)).code != pn::SendCode::kOk) {
    Die("forwarder warm-up failed");
  }
  double cpu0 = CpuSeconds();
  auto start = Clock::now();
  std::size_t pos = 0;
  while (pos < records.size()) {
    std::size_t n = std::min(batch, records.size() - pos);
    pn::SendResult r = u.Send(std::span<const pn::Record>(records.data() + pos, n));
    if (r.code != pn::SendCode::kOk) Die("forwarder: " + r.error);
    pos += r.delivered;
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  double cpu = CpuSeconds() - cpu0;
  u.Stop();
  const double n = static_cast<double>(records.size());
  return {n / secs, cpu * 1e6 / n};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 200000;
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--records" && i + 1 < argc) {
      n = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else {
      Die("usage: kafka_forward_bench [--records N] [--reps R]");
    }
  }
  spdlog::set_level(spdlog::level::warn);
  auto records = MakeRecords(n);
  std::vector<std::string> values;
  values.reserve(n);
  for (const auto& r : records) values.push_back(pn::WireJson(kGateway, r));
  const std::vector<std::size_t> batches = {1000, 10000};
  // Index 0: bare streaming; then per batch size: bare flushing per batch, forwarder.
  std::vector<std::vector<Run>> runs(1 + 2 * batches.size());
  for (int rep = 0; rep < reps; ++rep) {
    runs[0].push_back(RunBare(records, values, 0));
    for (std::size_t b = 0; b < batches.size(); ++b) {
      runs[1 + 2 * b + 1].push_back(RunForwarder(records, batches[b]));
      runs[1 + 2 * b].push_back(RunBare(records, values, batches[b]));
    }
    std::fprintf(stderr, "rep %d: bare %.0f/s", rep + 1, runs[0].back().rate);
    for (std::size_t b = 0; b < batches.size(); ++b) {
      std::fprintf(stderr, ", bare(%zu) %.0f/s, forwarder(%zu) %.0f/s", batches[b],
                   runs[1 + 2 * b].back().rate, batches[b], runs[1 + 2 * b + 1].back().rate);
    }
    std::fprintf(stderr, "\n");
  }
  auto med = [](const std::vector<Run>& v, bool cpu) {
    std::vector<double> x;
    for (const auto& r : v) x.push_back(cpu ? r.cpu_us : r.rate);
    return Median(x);
  };
  const double base = med(runs[0], false);
  std::printf("%zu records (~%zu B values), %d reps, 3-broker mock cluster, %d partitions\n\n", n,
              values[0].size(), reps, kPartitions);
  std::printf(
      "| producer | batch | median msg/s | vs bare streaming | vs bare, same batches | "
      "median CPU us/msg |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  std::printf("| bare librdkafka, streaming | all, one flush | %.0f | 1.00 | | %.2f |\n", base,
              med(runs[0], true));
  for (std::size_t b = 0; b < batches.size(); ++b) {
    const double bb = med(runs[1 + 2 * b], false);
    const double fw = med(runs[1 + 2 * b + 1], false);
    std::printf("| bare librdkafka, flush per batch | %zu | %.0f | %.2f | 1.00 | %.2f |\n",
                batches[b], bb, bb / base, med(runs[1 + 2 * b], true));
    std::printf("| forwarder (KafkaUpstream::Send) | %zu | %.0f | %.2f | %.2f | %.2f |\n",
                batches[b], fw, fw / base, fw / bb, med(runs[1 + 2 * b + 1], true));
  }
  return 0;
}
