// DeliverBatch: how every driver hands a batch to the pipeline and counts it (drivers/deliver.h).
#include "drivers/deliver.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

namespace pn {
namespace {

class FakeSink final : public ReadingSink {
 public:
  bool Deliver(std::vector<Reading>& batch) override {
    for (auto& r : batch) got.push_back(std::move(r));
    ++calls;
    return open;
  }
  std::vector<Reading> got;
  int calls = 0;
  bool open = true;
};

Reading R(Quality q) { return Reading{"dev", "s", q == Quality::kGood ? 1.0 : NAN, "", q, 5}; }

}  // namespace

TEST_CASE("deliver: a taken batch counts readings, success time and heartbeat, and is cleared") {
  FakeSink sink;
  DriverStats stats;
  FakeClock clock(1'000);
  std::vector<Reading> batch = {R(Quality::kGood), R(Quality::kBad), R(Quality::kGood)};
  CHECK(DeliverBatch(sink, batch, stats, clock));
  CHECK(batch.empty());
  CHECK(sink.got.size() == 3);
  CHECK(stats.readings.load() == 3);
  CHECK(stats.last_success_ns.load() == 1'000);
  CHECK(stats.heartbeat_ns.load() == 1'000);
  CHECK(stats.errors.load() == 0);
}

TEST_CASE("deliver: a batch of bad readings is delivered and counted but is no success") {
  FakeSink sink;
  DriverStats stats;
  FakeClock clock(2'000);
  std::vector<Reading> batch = {R(Quality::kBad), R(Quality::kUncertain)};
  CHECK(DeliverBatch(sink, batch, stats, clock));
  CHECK(stats.readings.load() == 2);
  CHECK(stats.last_success_ns.load() == 0);
  CHECK(stats.heartbeat_ns.load() == 2'000);
}

TEST_CASE("deliver: an empty batch is not handed over, a refused one counts nothing") {
  FakeSink sink;
  DriverStats stats;
  FakeClock clock(3'000);
  std::vector<Reading> batch;
  CHECK(DeliverBatch(sink, batch, stats, clock));
  CHECK(sink.calls == 0);
  CHECK(stats.heartbeat_ns.load() == 0);

  sink.open = false;
  batch = {R(Quality::kGood)};
  CHECK_FALSE(DeliverBatch(sink, batch, stats, clock));
  CHECK(batch.empty());
  CHECK(stats.readings.load() == 0);
  CHECK(stats.last_success_ns.load() == 0);
}

}  // namespace pn
