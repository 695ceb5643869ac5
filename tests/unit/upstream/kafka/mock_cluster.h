// Test and benchmark helpers around librdkafka's mock cluster (rdkafka_mock.h): a real Kafka
// protocol cluster running in this process on loopback, with broker-down and request-error
// injection, and a plain consumer that reads topics back from the beginning.
// Header-only; used by the unit tests, tests/integration's helper program and bench/.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace pn::kafka_testing {

// One mock cluster, alive as long as the object. Not thread-safe (tests drive it from one
// thread; librdkafka's mock functions themselves are safe to call from any thread).
class MockCluster {
 public:
  explicit MockCluster(int brokers = 3) : brokers_(brokers) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    Set(conf, "test.mock.num.brokers", std::to_string(brokers));
    // The mock's server sockets inherit this handle's setting: without it, Nagle on the mock
    // side plus delayed ACKs on the client stall pipelined responses by ~40 ms.
    Set(conf, "socket.nagle.disable", "true");
    Set(conf, "log_level", "3");
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk_ == nullptr) throw std::runtime_error(std::string("mock cluster: ") + err);
    mc_ = rd_kafka_handle_mock_cluster(rk_);
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(mc_);
  }
  ~MockCluster() { rd_kafka_destroy(rk_); }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  const std::string& bootstraps() const { return bootstraps_; }
  rd_kafka_mock_cluster_t* get() const { return mc_; }
  int brokers() const { return brokers_; }

  void CreateTopic(const std::string& topic, int partitions, int replication = 1) {
    rd_kafka_mock_topic_create(mc_, topic.c_str(), partitions, replication);
  }
  // Broker ids are 1..brokers().
  void SetAllDown() {
    for (int id = 1; id <= brokers_; ++id) rd_kafka_mock_broker_set_down(mc_, id);
  }
  void SetAllUp() {
    for (int id = 1; id <= brokers_; ++id) rd_kafka_mock_broker_set_up(mc_, id);
  }
  // The next errors.size() Produce requests (any broker) fail with these codes, in order.
  void PushProduceErrors(const std::vector<rd_kafka_resp_err_t>& errors) {
    rd_kafka_mock_push_request_errors_array(mc_, 0 /* Produce */, errors.size(), errors.data());
  }

  static void Set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
    char err[512];
    if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      throw std::runtime_error(std::string(name) + ": " + err);
    }
  }

 private:
  int brokers_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* mc_ = nullptr;
  std::string bootstraps_;
};

struct Consumed {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string key;
  std::string value;
  std::string gateway;  // header "gateway" ("" when missing)
  std::string seq;      // header "seq" ("" when missing)
};

inline std::string Header(const rd_kafka_message_t* m, const char* name) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const void* val = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return std::string(static_cast<const char*>(val), size);
}

// Reads `topics` (partitions 0..partitions-1 each) from the beginning until `done(messages)`
// holds and every partition is at its end, or `timeout` passes. Returns what was read.
template <typename Done>
std::vector<Consumed> Consume(const std::string& bootstraps, const std::vector<std::string>& topics,
                              int partitions, Done done,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  MockCluster::Set(conf, "bootstrap.servers", bootstraps);
  MockCluster::Set(conf, "group.id", "pn-test-reader");
  MockCluster::Set(conf, "enable.auto.commit", "false");
  MockCluster::Set(conf, "enable.partition.eof", "true");
  MockCluster::Set(conf, "socket.nagle.disable", "true");
  MockCluster::Set(conf, "log_level", "3");
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) throw std::runtime_error(std::string("consumer: ") + err);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* parts =
      rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()) * partitions);
  for (const auto& t : topics) {
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_add(parts, t.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);

  std::vector<Consumed> out;
  std::set<std::pair<std::string, std::int32_t>> at_end;
  const std::size_t total = topics.size() * static_cast<std::size_t>(partitions);
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) {
      if (at_end.size() == total && done(out)) break;
      continue;
    }
    std::string topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end.insert({topic, m->partition});
    } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      at_end.erase({topic, m->partition});
      Consumed c;
      c.topic = topic;
      c.partition = m->partition;
      c.offset = m->offset;
      if (m->key) c.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) c.value.assign(static_cast<const char*>(m->payload), m->len);
      c.gateway = Header(m, "gateway");
      c.seq = Header(m, "seq");
      out.push_back(std::move(c));
    }
    rd_kafka_message_destroy(m);
    if (at_end.size() == total && done(out)) break;
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

}  // namespace pn::kafka_testing
