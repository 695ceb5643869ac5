// The `modbus` driver: polls Modbus TCP servers or RTU slaves with libmodbus.
//
// One instance owns one TCP connection or one serial line and runs on the thread that calls
// Run(); every request on it is serialised there. At each tick the tags that are due go through
// the Planner, which coalesces them into block reads. Faults:
//   - a request that times out or gets a garbled or mismatched response is retried up to
//     `retries` times after resynchronising the line: RTU flushes it (modbus_flush), TCP
//     reconnects, since a late answer may still arrive and would pass for the next one;
//   - a unit id that still does not answer is marked down: its readings are delivered with
//     Quality::kBad (value NaN) and it is probed once per backoff period (connect::Backoff:
//     retry_initial_ms doubling up to retry_max_ms, retry_jitter), so a dead slave costs at most
//     one timeout per period and never stalls the other units on the same line;
//   - a Modbus exception is reported by its name (modbus_strerror) and the block's readings are
//     bad; exception 02 (illegal data address) makes the planner split the block and read the
//     halves at once;
//   - a broken TCP connection (or a serial device that cannot be opened) is reopened with
//     exponential backoff and jitter; meanwhile every due reading is delivered as bad.
// Readings carry the poll time from the DriverContext clock, taken just before each request.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "drivers/driver.h"
#include "drivers/modbus/modbus_config.h"
#include "drivers/modbus/planner.h"
#include "gateway/connect/backoff.h"

struct _modbus;  // libmodbus's context (modbus_t), kept out of this header

namespace pn::modbus {

// The registry entry: type "modbus", its spec, check and factory.
DriverType DriverTypeEntry();

// Counters beyond DriverStats, for tests, logs and the benchmark. Updated by the driver thread,
// safe to read from any thread.
struct ModbusCounters {
  std::atomic<std::uint64_t> scans{0};       // ticks that sent at least one request
  std::atomic<std::uint64_t> requests{0};    // read requests sent, retries included
  std::atomic<std::uint64_t> values{0};      // registers or bits received
  std::atomic<std::uint64_t> timeouts{0};    // requests that timed out
  std::atomic<std::uint64_t> exceptions{0};  // Modbus exception responses
  std::atomic<std::uint64_t> garbled{0};     // bad CRC, bad or mismatched responses
  std::atomic<std::uint64_t> connects{0};    // successful (re)connects
  std::atomic<std::uint64_t> splits{0};      // blocks split after exception 02
  std::atomic<std::uint64_t> resyncs{0};     // line flushes (RTU) or reconnects (TCP)
  // Requests of the fewest- and most-request scans (ticks with every tag due count only).
  std::atomic<std::uint64_t> min_scan_requests{0};
  std::atomic<std::uint64_t> max_scan_requests{0};
};

// Thread-safety: Run() is called once, on one thread; name(), stats() and counters() are safe
// from any thread.
class ModbusDriver final : public Driver {
 public:
  ModbusDriver(std::string name, ModbusSettings settings, Clock* clock);
  ~ModbusDriver() override;

  const std::string& name() const override { return name_; }

  // Polls until a stop is requested or the sink refuses readings. On TCP it returns within
  // ~100 ms of a stop request (the socket is shut down under a pending request); on RTU a
  // pending request may hold it for up to timeout_ms.
  void Run(std::stop_token stop, ReadingSink& sink) override;

  const DriverStats& stats() const override { return stats_; }
  const ModbusCounters& counters() const { return counters_; }

  // The planner's reads for a full scan (every tag due), for tests and the benchmark.
  std::vector<Block> FullScanPlan() const { return planner_.PlanAll(); }

 private:
  enum class Outcome { kDone, kConnectionLost };

  struct UnitState {
    connect::Backoff backoff;   // its failures() are the consecutive failed exchanges
    std::int64_t until_ns = 0;  // monotonic: no request before this
    std::string last_error = {};
  };

  bool Connect();
  void Disconnect();
  // After a timeout or a garbled response: makes sure no stale response is read for the next
  // request (RTU: flush the line; TCP: reconnect). False when the TCP reconnect failed.
  bool Resync();
  connect::BackoffPolicy RetryPolicy() const;
  Outcome ReadBlock(const Block& block, std::vector<Reading>& out, int depth);
  void EmitGood(const Block& block, const std::uint16_t* regs, const std::uint8_t* bits,
                std::int64_t ts, std::vector<Reading>& out);
  void EmitBad(const Block& block, std::int64_t ts, std::vector<Reading>& out);
  void UnitFailed(int unit_id, const std::string& why);
  void UnitOk(int unit_id);

  std::string name_;
  ModbusSettings settings_;
  Clock* clock_;
  Planner planner_;
  DriverStats stats_;
  ModbusCounters counters_;

  _modbus* ctx_ = nullptr;
  std::int64_t last_request_end_ns_ = 0;
  std::uint64_t seed_;             // of the back-offs' jitter: from the name
  connect::Backoff conn_backoff_;  // the connection's (TCP connect, serial device open)
  std::int64_t reconnect_at_ns_ = 0;
  std::map<int, UnitState> units_;
  std::set<std::tuple<int, int, int, int>> exceptions_logged_;  // unit, table, address, error
  std::vector<std::uint16_t> regs_;
  std::vector<std::uint8_t> bits_;
  // The last tick's due tags and plan, reused while the due set and the planner's cuts repeat.
  std::vector<std::size_t> last_due_;
  std::vector<Block> last_plan_;
  std::uint64_t last_splits_ = 0;

  // Guards sock_ for the stop callback (which shuts the socket down to end a pending request).
  std::mutex mu_;
  int sock_ = -1;
  std::atomic<bool> stopping_{false};
};

}  // namespace pn::modbus
