// The `kafka` upstream against librdkafka's mock cluster (a real Kafka protocol cluster in this
// process, on loopback): what arrives (key, headers, value), delivery reports driving the
// result, broker outages and injected request errors; and the configuration checks.
#include "gateway/upstream/kafka/kafka_upstream.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"
#include "tests/unit/upstream/kafka/mock_cluster.h"

using namespace pn;
using kafka_testing::Consumed;
using kafka_testing::MockCluster;
namespace fs = std::filesystem;

namespace {

constexpr int kPartitions = 4;
const char* const kGateway = "gw-test";

// A parsed [upstreams.k] table: its checks' errors, and create() when they pass.
struct Table {
  config::Document doc;
  config::ErrorList errors;
  const UpstreamType* type = FindUpstreamType("kafka");

  explicit Table(const std::string& toml) {
    REQUIRE(type != nullptr);
    auto d = config::ParseString(toml, "test.toml");
    REQUIRE_MESSAGE(d.has_value(), (d ? "" : d.error().message()));
    doc = std::move(*d);
    config::Validate(doc.root, *type->spec, "upstreams.k", doc.file, errors);
    if (errors.empty()) type->check(section(), errors);
  }
  config::Section section() const {
    return config::Section(&doc.root, type->spec, "upstreams.k", doc.file);
  }
  std::string text() const { return errors.ToString(); }
  std::unique_ptr<Upstream> Create() const {
    auto up = type->create(section(), UpstreamContext{"k", kGateway});
    REQUIRE_MESSAGE(up.has_value(), (up ? "" : up.error().ToString()));
    return std::move(*up);
  }
};

std::string BaseToml(const MockCluster& mc, const std::string& extra = {}) {
  std::string list;
  std::string all = mc.bootstraps() + ",";
  for (std::size_t pos = 0, comma; (comma = all.find(',', pos)) != std::string::npos;
       pos = comma + 1) {
    list += (list.empty() ? "\"" : ", \"") + all.substr(pos, comma - pos) + "\"";
  }
  return "bootstrap_servers = [" + list + "]\n" +
         "topic = \"{gateway}.readings\"\nevent_topic = \"{gateway}.events\"\n" + extra;
}

std::vector<Record> MakeRecords(std::size_t n, std::uint64_t first_seq, int devices = 5) {
  std::vector<Record> out;
  for (std::size_t i = 0; i < n; ++i) {
    NewRecord nr;
    if (i % 50 == 49) {
      Event e;
      e.ts_ns = 1764072000000000000 + static_cast<std::int64_t>(i);
      e.device = "pump-" + std::to_string(i % devices);
      e.series = "temperature";
      e.rule = "hot";
      e.kind = EventKind::kAlarm;
      e.severity = "critical";
      nr = ToRecord(e);
    } else {
      Reading r{"pump-" + std::to_string(i % devices),
                "temperature",
                40.0 + static_cast<double>(i % 17),
                "degC",
                Quality::kGood,
                1764072000000000000 + static_cast<std::int64_t>(i) * 1000000};
      nr = ToRecord(r);
    }
    out.push_back(Record{first_seq + i, nr.kind, nr.ts_ns, nr.device, nr.series, nr.body});
  }
  return out;
}

std::vector<Consumed> ReadBack(const MockCluster& mc, std::size_t unique_expected) {
  return kafka_testing::Consume(
      mc.bootstraps(), {std::string(kGateway) + ".readings", std::string(kGateway) + ".events"},
      kPartitions, [&](const std::vector<Consumed>& got) {
        std::set<std::string> seqs;
        for (const auto& c : got) seqs.insert(c.seq);
        return seqs.size() >= unique_expected;
      });
}

// Checks every message against the record it came from; returns how often each seq arrived.
std::map<std::uint64_t, int> CheckMessages(const std::vector<Consumed>& got,
                                           const std::vector<Record>& sent) {
  std::map<std::uint64_t, const Record*> by_seq;
  for (const auto& r : sent) by_seq[r.seq] = &r;
  std::map<std::uint64_t, int> count;
  std::map<std::pair<std::string, std::int32_t>, std::string> partition_of_device;
  for (const auto& c : got) {
    REQUIRE_FALSE(c.seq.empty());
    std::uint64_t seq = std::stoull(c.seq);
    auto it = by_seq.find(seq);
    REQUIRE_MESSAGE(it != by_seq.end(), "unexpected seq " << seq);
    const Record& r = *it->second;
    CHECK(c.gateway == kGateway);
    CHECK(c.key == r.device);
    CHECK(c.value == WireJson(kGateway, r));
    CHECK(c.topic ==
          std::string(kGateway) + (r.kind == RecordKind::kEvent ? ".events" : ".readings"));
    ++count[seq];
  }
  return count;
}

// Sends `records` the way the pipeline does: the delivered prefix is acknowledged, the rest is
// sent again after kRetry. Seqs that were in a send but not acknowledged by it go to
// `unacked` (only they may arrive twice).
void SendLikeThePipeline(Upstream& up, const std::vector<Record>& records,
                         std::set<std::uint64_t>& unacked, int max_attempts = 30) {
  std::size_t pos = 0;
  for (int attempt = 0; pos < records.size() && attempt < max_attempts; ++attempt) {
    std::span<const Record> todo(records.data() + pos, records.size() - pos);
    SendResult r = up.Send(todo);
    REQUIRE(r.delivered <= todo.size());
    REQUIRE_MESSAGE(r.code != SendCode::kError, r.error);
    for (std::size_t i = r.delivered; i < todo.size(); ++i) unacked.insert(todo[i].seq);
    pos += r.delivered;
    if (r.code != SendCode::kOk) MESSAGE("attempt " << attempt << ": " << r.error);
  }
  REQUIRE(pos == records.size());
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

TEST_CASE("records arrive keyed by device with gateway and seq headers and the wire JSON") {
  MockCluster mc;
  mc.CreateTopic(std::string(kGateway) + ".readings", kPartitions, 3);
  mc.CreateTopic(std::string(kGateway) + ".events", kPartitions, 3);
  Table t(BaseToml(mc));
  REQUIRE_MESSAGE(t.errors.empty(), t.text());
  auto up = t.Create();
  REQUIRE(up->Start().ok());
  auto records = MakeRecords(2000, 1);
  for (std::size_t off = 0; off < records.size(); off += 500) {
    SendResult r = up->Send(std::span<const Record>(records.data() + off, 500));
    REQUIRE_MESSAGE(r.code == SendCode::kOk, r.error);
    CHECK(r.delivered == 500);
  }
  up->Stop();
  auto got = ReadBack(mc, records.size());
  auto count = CheckMessages(got, records);
  CHECK(count.size() == records.size());
  for (const auto& kv : count) {
    CHECK_MESSAGE(kv.second == 1, "seq " << kv.first << " arrived " << kv.second);
  }
  // Per-device ordering: a device's records sit in one partition, in sequence order.
  std::map<std::string, std::pair<std::string, std::int32_t>> where;
  std::map<std::string, std::uint64_t> last_seq;
  for (const auto& c : got) {
    auto [it, fresh] = where.try_emplace(c.topic + "/" + c.key, c.topic, c.partition);
    CHECK(it->second.second == c.partition);
    std::uint64_t seq = std::stoull(c.seq);
    CHECK(seq > last_seq[c.topic + "/" + c.key]);
    last_seq[c.topic + "/" + c.key] = seq;
  }
}

TEST_CASE(
    "with every broker down a send times out as kRetry, delivers nothing, and a resend "
    "after the outage delivers all") {
  MockCluster mc;
  mc.CreateTopic(std::string(kGateway) + ".readings", kPartitions, 3);
  mc.CreateTopic(std::string(kGateway) + ".events", kPartitions, 3);
  Table t(BaseToml(
      mc, "delivery_timeout_ms = 1500\n[properties]\n\"reconnect.backoff.max.ms\" = 500\n"));
  REQUIRE_MESSAGE(t.errors.empty(), t.text());
  auto up = t.Create();
  auto first = MakeRecords(300, 1);
  SendResult r = up->Send(first);
  REQUIRE_MESSAGE(r.code == SendCode::kOk, r.error);

  mc.SetAllDown();
  auto second = MakeRecords(300, 301);
  auto start = std::chrono::steady_clock::now();
  r = up->Send(second);
  double took = Seconds(start);
  CHECK(r.code == SendCode::kRetry);
  CHECK(r.delivered == 0);
  CHECK_FALSE(r.error.empty());
  MESSAGE("send with the cluster down: " << took << " s: " << r.error);
  CHECK(took >= 1.0);  // it waited for delivery reports ...
  CHECK(took < 15.0);  // ... bounded by delivery_timeout_ms plus the grace period

  mc.SetAllUp();
  std::set<std::uint64_t> unacked;
  for (const auto& rec : second) unacked.insert(rec.seq);
  SendLikeThePipeline(*up, second, unacked);
  up->Stop();

  std::vector<Record> all = first;
  all.insert(all.end(), second.begin(), second.end());
  auto count = CheckMessages(ReadBack(mc, all.size()), all);
  CHECK(count.size() == all.size());
  for (const auto& kv : count) {
    if (!unacked.count(kv.first)) {
      CHECK_MESSAGE(kv.second == 1, "seq " << kv.first << " arrived " << kv.second);
    }
  }
}

TEST_CASE(
    "injected Produce errors and a broker going down mid-run: everything still arrives, "
    "duplicates only from unacknowledged sends") {
  MockCluster mc;
  mc.CreateTopic(std::string(kGateway) + ".readings", kPartitions, 3);
  mc.CreateTopic(std::string(kGateway) + ".events", kPartitions, 3);
  Table t(BaseToml(
      mc, "delivery_timeout_ms = 1500\n[properties]\n\"reconnect.backoff.max.ms\" = 500\n"));
  REQUIRE_MESSAGE(t.errors.empty(), t.text());
  auto up = t.Create();
  std::vector<Record> all;
  std::set<std::uint64_t> unacked;
  std::uint64_t seq = 1;
  auto batch = [&](std::size_t n) {
    auto recs = MakeRecords(n, seq);
    seq += n;
    all.insert(all.end(), recs.begin(), recs.end());
    return recs;
  };
  // Errors librdkafka retries by itself.
  mc.PushProduceErrors({RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND});
  SendLikeThePipeline(*up, batch(400), unacked);
  // Errors that fail the delivery: the forwarder retries them.
  mc.PushProduceErrors(
      {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED});
  {
    auto recs = batch(400);
    SendResult r = up->Send(recs);
    CHECK_MESSAGE(r.code == SendCode::kRetry, r.error);
    CHECK(r.delivered < recs.size());
    for (std::size_t i = r.delivered; i < recs.size(); ++i) unacked.insert(recs[i].seq);
    SendLikeThePipeline(
        *up,
        std::vector<Record>(recs.begin() + static_cast<std::ptrdiff_t>(r.delivered), recs.end()),
        unacked);
  }
  // One broker (of three) down: its partitions' leaders are gone until it is back.
  rd_kafka_mock_broker_set_down(mc.get(), 2);
  {
    auto recs = batch(400);
    std::size_t pos = 0;
    for (int attempt = 0; attempt < 2 && pos < recs.size(); ++attempt) {
      std::span<const Record> todo(recs.data() + pos, recs.size() - pos);
      SendResult r = up->Send(todo);
      for (std::size_t i = r.delivered; i < todo.size(); ++i) unacked.insert(todo[i].seq);
      pos += r.delivered;
    }
    rd_kafka_mock_broker_set_up(mc.get(), 2);
    SendLikeThePipeline(
        *up, std::vector<Record>(recs.begin() + static_cast<std::ptrdiff_t>(pos), recs.end()),
        unacked);
  }
  SendLikeThePipeline(*up, batch(400), unacked);
  up->Stop();

  auto count = CheckMessages(ReadBack(mc, all.size()), all);
  CHECK(count.size() == all.size());
  int dups = 0;
  for (const auto& kv : count) {
    if (kv.second > 1) ++dups;
    if (!unacked.count(kv.first)) {
      CHECK_MESSAGE(kv.second == 1, "acknowledged seq " << kv.first << " arrived " << kv.second);
    }
  }
  MESSAGE(all.size() << " records, " << unacked.size() << " in unacknowledged sends, " << dups
                     << " arrived more than once");
}

TEST_CASE("a record over message.max.bytes is refused for good and the others are delivered") {
  MockCluster mc;
  mc.CreateTopic(std::string(kGateway) + ".readings", kPartitions, 3);
  mc.CreateTopic(std::string(kGateway) + ".events", kPartitions, 3);
  Table t(BaseToml(mc, "[properties]\n\"message.max.bytes\" = 2000\n"));
  REQUIRE_MESSAGE(t.errors.empty(), t.text());
  auto up = t.Create();
  auto records = MakeRecords(3, 1);
  records[1].body = R"({"type":"reading","note":")" + std::string(5000, 'x') + R"("})";
  SendResult r = up->Send(records);
  CHECK(r.code == SendCode::kError);
  CHECK(r.delivered == 1);
  CHECK(r.error.find("seq 2") != std::string::npos);
  MESSAGE(r.error);
  up->Stop();
  std::vector<Record> expected = {records[0], records[2]};
  auto count = CheckMessages(ReadBack(mc, 2), records);
  CHECK(count.size() == 2);
  CHECK(count.count(2) == 0);
}

TEST_CASE("configuration: librdkafka checks every pass-through property, reported at its key") {
  Table t(R"(bootstrap_servers = ["127.0.0.1:9"]
[properties]
"linger.ms" = 20
batch.num.messages = 5000
"no.such.property" = 1
"queue.buffering.max.kbytes" = "lots"
acks = 1
"sasl.oauthbearer.client.secret" = "x"
"statistics.interval.ms" = [1, 2]
)");
  std::string e = t.text();
  MESSAGE(e);
  CHECK(t.errors.size() == 5);
  CHECK(e.find("test.toml:5:1: upstreams.k.properties.no.such.property: librdkafka: No such "
               "configuration property") != std::string::npos);
  CHECK(e.find("test.toml:6:1: upstreams.k.properties.queue.buffering.max.kbytes: librdkafka: "
               "Invalid value") != std::string::npos);
  CHECK(e.find(
            "upstreams.k.properties.acks: is fixed: the forwarder always produces with acks=all") !=
        std::string::npos);
  CHECK(e.find("properties.sasl.oauthbearer.client.secret: secrets are not accepted") !=
        std::string::npos);
  CHECK(e.find("properties.statistics.interval.ms: expected a string, number or boolean") !=
        std::string::npos);
  // The valid ones, an unquoted dotted key among them, are applied after the fixed settings.
  Table ok(R"(bootstrap_servers = ["127.0.0.1:9"]
[properties]
"linger.ms" = 20
batch.num.messages = 5000
)");
  REQUIRE_MESSAGE(ok.errors.empty(), ok.text());
  config::ErrorList errors;
  auto s = kafka_upstream::FromSection(ok.section(), "gw", true, errors);
  REQUIRE(errors.empty());
  auto has = [&](const std::string& k, const std::string& v) {
    for (const auto& [pk, pv] : s.properties) {
      if (pk == k && pv == v) return true;
    }
    return false;
  };
  CHECK(has("acks", "all"));
  CHECK(has("enable.idempotence", "true"));
  CHECK(has("compression.codec", "lz4"));
  CHECK(has("message.timeout.ms", "10000"));
  CHECK(has("client.id", "processnow-gw"));
  CHECK(has("linger.ms", "20"));
  CHECK(has("batch.num.messages", "5000"));
  CHECK(s.reading_topic == "processnow.readings");
  CHECK(s.event_topic == "processnow.events");
}

TEST_CASE("configuration: topics, TLS and SASL settings are checked together") {
  SUBCASE("topic templates") {
    Table t(R"(bootstrap_servers = ["b:9092"]
topic = "{site}.readings"
event_topic = "plant events"
)");
    std::string e = t.text();
    CHECK(e.find("upstreams.k.topic: unknown placeholder {site}") != std::string::npos);
    CHECK(e.find("upstreams.k.event_topic: topic \"plant events\" has the character ' '") !=
          std::string::npos);
  }
  SUBCASE("TLS keys need a TLS protocol, and files that exist") {
    Table t(R"(bootstrap_servers = ["b:9092"]
tls_ca_file = "/etc/hostname"
)");
    CHECK(t.text().find("upstreams.k.tls_ca_file: has no effect unless security_protocol") !=
          std::string::npos);
    Table t2(R"(bootstrap_servers = ["b:9092"]
security_protocol = "ssl"
tls_ca_file = "/nonexistent/ca.pem"
tls_cert_file = "/etc/hostname"
)");
    std::string e = t2.text();
    CHECK(e.find("upstreams.k.tls_ca_file: cannot read \"/nonexistent/ca.pem\"") !=
          std::string::npos);
    // Old key names (tls_*) still work; messages name the keys by their new names.
    CHECK(e.find("upstreams.k.tls_cert_file: cert_file and key_file go together") !=
          std::string::npos);
  }
  SUBCASE("SASL needs a mechanism, a user and exactly one password source") {
    Table t(R"(bootstrap_servers = ["b:9092"]
security_protocol = "sasl_plaintext"
)");
    std::string e = t.text();
    CHECK(e.find("needs sasl_mechanism") != std::string::npos);
    CHECK(e.find("needs sasl_username") != std::string::npos);
    CHECK(e.find("needs a password") != std::string::npos);
    Table t2(R"(bootstrap_servers = ["b:9092"]
security_protocol = "sasl_ssl"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "gw"
password_file = "/etc/hostname"
password_env = "PN_TEST_KAFKA_PW"
)");
    CHECK(t2.text().find("upstreams.k.password_env: set password_file or password_env, not both") !=
          std::string::npos);
    Table t3(R"(bootstrap_servers = ["b:9092"]
sasl_username = "gw"
)");
    CHECK(t3.text().find("upstreams.k.sasl_username: has no effect unless") != std::string::npos);
  }
  SUBCASE("the password is read from the file or the environment and never shown") {
    fs::path pw = fs::temp_directory_path() / ("pn-kafka-pw-" + std::to_string(::getpid()));
    { std::ofstream(pw) << "s3cret-Pa55\n"; }
    Table t(
        "bootstrap_servers = [\"b:9092\"]\nsecurity_protocol = \"sasl_plaintext\"\n"
        "sasl_mechanism = \"PLAIN\"\nsasl_username = \"gw\"\npassword_file = \"" +
        pw.string() + "\"\n");
    REQUIRE_MESSAGE(t.errors.empty(), t.text());
    config::ErrorList errors;
    auto s = kafka_upstream::FromSection(t.section(), "gw", true, errors);
    REQUIRE(errors.empty());
    bool found = false;
    for (const auto& [k, v] : s.properties) {
      if (k == "sasl.password") found = v == "s3cret-Pa55";
    }
    CHECK(found);
    ::setenv("PN_TEST_KAFKA_PW", "env-Pa55", 1);
    Table te(
        "bootstrap_servers = [\"b:9092\"]\nsecurity_protocol = \"sasl_plaintext\"\n"
        "sasl_mechanism = \"PLAIN\"\nsasl_username = \"gw\"\n"
        "password_env = \"PN_TEST_KAFKA_PW\"\nclient_id = \"{oops}\"\n");
    config::ErrorList errors2;
    auto s2 = kafka_upstream::FromSection(te.section(), "gw", true, errors2);
    CHECK(errors2.size() == 1);
    CHECK(errors2.ToString().find("env-Pa55") == std::string::npos);
    CHECK(s2.properties.empty());  // nothing half-applied
    ::unsetenv("PN_TEST_KAFKA_PW");
    fs::remove(pw);
  }
}

TEST_CASE("configuration: the folder's example.toml passes the checks") {
  auto doc = config::ParseFile(std::string(PN_SOURCE_DIR) + "/gateway/upstream/kafka/example.toml");
  REQUIRE_MESSAGE(doc.has_value(), (doc ? "" : doc.error().message()));
  const config::Node* table = doc->root.Find("upstreams");
  REQUIRE(table != nullptr);
  table = table->Find("lake");
  REQUIRE(table != nullptr);
  const UpstreamType* type = FindUpstreamType("kafka");
  config::ErrorList errors;
  config::Validate(*table, *type->spec, "upstreams.lake", doc->file, errors, {"type"});
  config::Section s(table, type->spec, "upstreams.lake", doc->file);
  type->check(s, errors);
  CHECK_MESSAGE(errors.empty(), errors.ToString());
}
