// kafka_mock_cluster: librdkafka's mock cluster as a program, the Kafka peer of the integration
// test that runs the real processnow binary (tests/integration/test_kafka.py).
//
//   kafka_mock_cluster [--brokers N] [--partitions P] TOPIC...
//
// Creates the topics, prints "BOOTSTRAP host:port,..." on stdout, then reads every topic from the
// beginning and prints one JSON line per message:
//   {"topic":"t","partition":0,"key":"pump-1","gateway":"gw","seq":"42","value":<the value>}
// Commands on stdin, one per line: "down" / "up" (every broker; answered "OK down" / "OK up"),
// "quit" (or end of input) exits.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/upstream/kafka/mock_cluster.h"

namespace {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 3;
  int partitions = 4;
  std::vector<std::string> topics;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--brokers" && i + 1 < argc) {
      brokers = std::atoi(argv[++i]);
    } else if (a == "--partitions" && i + 1 < argc) {
      partitions = std::atoi(argv[++i]);
    } else {
      topics.push_back(a);
    }
  }
  if (topics.empty() || brokers < 1 || partitions < 1) {
    std::fprintf(stderr, "usage: kafka_mock_cluster [--brokers N] [--partitions P] TOPIC...\n");
    return 2;
  }
  try {
    pn::kafka_testing::MockCluster mc(brokers);
    for (const auto& t : topics) mc.CreateTopic(t, partitions, brokers);
    std::printf("BOOTSTRAP %s\n", mc.bootstraps().c_str());
    std::fflush(stdout);

    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    pn::kafka_testing::MockCluster::Set(conf, "bootstrap.servers", mc.bootstraps());
    pn::kafka_testing::MockCluster::Set(conf, "group.id", "pn-it-reader");
    pn::kafka_testing::MockCluster::Set(conf, "enable.auto.commit", "false");
    pn::kafka_testing::MockCluster::Set(conf, "socket.nagle.disable", "true");
    pn::kafka_testing::MockCluster::Set(conf, "log_level", "2");
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == nullptr) {
      std::fprintf(stderr, "consumer: %s\n", err);
      return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(1);
    for (const auto& t : topics) {
      for (int p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(parts, t.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
      }
    }
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    std::string line;
    bool running = true;
    while (running) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 50);
      if (m != nullptr) {
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          std::string key =
              m->key ? std::string(static_cast<const char*>(m->key), m->key_len) : std::string();
          std::string value = m->payload ? std::string(static_cast<const char*>(m->payload), m->len)
                                         : std::string("null");
          std::printf(
              "{\"topic\":%s,\"partition\":%d,\"key\":%s,\"gateway\":%s,\"seq\":%s,"
              "\"value\":%s}\n",
              JsonString(rd_kafka_topic_name(m->rkt)).c_str(), m->partition,
              JsonString(key).c_str(), JsonString(pn::kafka_testing::Header(m, "gateway")).c_str(),
              JsonString(pn::kafka_testing::Header(m, "seq")).c_str(), value.c_str());
          std::fflush(stdout);
        }
        rd_kafka_message_destroy(m);
      }
      pollfd pfd{0, POLLIN, 0};
      while (::poll(&pfd, 1, 0) > 0) {
        char c;
        ssize_t n = ::read(0, &c, 1);
        if (n <= 0) {
          running = false;
          break;
        }
        if (c != '\n') {
          line += c;
          continue;
        }
        if (line == "down") mc.SetAllDown();
        if (line == "up") mc.SetAllUp();
        if (line == "quit") running = false;
        std::printf("OK %s\n", line.c_str());
        std::fflush(stdout);
        line.clear();
      }
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka_mock_cluster: %s\n", e.what());
    return 1;
  }
  return 0;
}
