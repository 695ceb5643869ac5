#include "drivers/modbus/modbus_driver.h"

#include <modbus.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <stop_token>
#include <thread>
#include <tuple>
#include <utility>

#include "drivers/deliver.h"
#include "gateway/connect/sleep.h"

namespace pn::modbus {

namespace {

constexpr std::int64_t kMsNs = 1'000'000;

bool IsModbusException(int err) { return err >= EMBXILFUN && err <= EMBXGTAR; }

// Responses that arrived but were wrong: the line needs a flush, and a retry may succeed.
bool IsGarbled(int err) {
  return err == EMBBADCRC || err == EMBBADDATA || err == EMBBADEXC || err == EMBMDATA ||
         err == EMBBADSLAVE || err == EMBUNKEXC;
}

std::string ErrorName(int err) {
  if (IsModbusException(err)) {
    return "exception " + std::to_string(err - MODBUS_ENOBASE) + " (" + modbus_strerror(err) + ")";
  }
  return modbus_strerror(err);
}

std::unique_ptr<Driver> Build(const config::Section& section, const DriverContext& ctx) {
  return std::make_unique<ModbusDriver>(ctx.name, SettingsFromSection(section, ctx.name),
                                        ctx.clock);
}

std::vector<PlanTag> PlanTags(const ModbusSettings& s) {
  std::vector<PlanTag> tags;
  tags.reserve(s.tags.size());
  for (const TagSettings& t : s.tags) tags.push_back({t.unit_id, t.table, t.address, t.count()});
  return tags;
}

}  // namespace

DriverType DriverTypeEntry() {
  DriverType t;
  t.type = "modbus";
  t.summary = "Modbus TCP or RTU with a coalescing request planner (libmodbus).";
  t.spec = &Spec();
  t.check = Check;
  t.create = [](const config::Section& section,
                const DriverContext& ctx) -> Result<std::unique_ptr<Driver>> {
    return Build(section, ctx);
  };
  return t;
}

ModbusDriver::ModbusDriver(std::string name, ModbusSettings settings, Clock* clock)
    : name_(std::move(name)),
      settings_(std::move(settings)),
      clock_(clock),
      planner_(PlanTags(settings_), settings_.limits),
      seed_(connect::SeedFromName(name_.c_str())),
      conn_backoff_(RetryPolicy(), seed_),
      regs_(kMaxRegistersPerRead),
      bits_(kMaxBitsPerRead) {}

ModbusDriver::~ModbusDriver() { Disconnect(); }

connect::BackoffPolicy ModbusDriver::RetryPolicy() const {
  return {.initial_ms = settings_.retry_initial_ms,
          .max_ms = settings_.retry_max_ms,
          .jitter = settings_.retry_jitter};
}

bool ModbusDriver::Connect() {
  modbus_t* ctx = nullptr;
  std::string where;
  if (settings_.transport == Transport::kTcp) {
    const std::string port = std::to_string(settings_.port);
    ctx = modbus_new_tcp_pi(settings_.host.c_str(), port.c_str());
    where = settings_.host + ":" + port;
  } else {
    ctx = modbus_new_rtu(settings_.device_path.c_str(), settings_.baud_rate, settings_.parity,
                         settings_.data_bits, settings_.stop_bits);
    where = settings_.device_path;
  }
  if (ctx == nullptr) {
    spdlog::error("modbus {}: cannot create a context for {}: {}", name_, where,
                  modbus_strerror(errno));
    return false;
  }
  const auto sec = static_cast<std::uint32_t>(settings_.timeout_ms / 1000);
  const auto usec = static_cast<std::uint32_t>((settings_.timeout_ms % 1000) * 1000);
  modbus_set_response_timeout(ctx, sec, usec);
  if (settings_.timeout_ms < 500) modbus_set_byte_timeout(ctx, sec, usec);
  if (modbus_connect(ctx) == -1) {
    const int err = errno;
    if (conn_backoff_.failures() == 0) {
      spdlog::warn("modbus {}: cannot connect to {}: {}", name_, where, modbus_strerror(err));
    }
    modbus_free(ctx);
    return false;
  }
  if (settings_.transport == Transport::kRtu) {
    if (settings_.rs485 && modbus_rtu_set_serial_mode(ctx, MODBUS_RTU_RS485) == -1) {
      spdlog::warn("modbus {}: cannot switch {} to RS-485 mode: {}", name_, where,
                   modbus_strerror(errno));
    }
    if (settings_.rs485_rts != "none" &&
        modbus_rtu_set_rts(
            ctx, settings_.rs485_rts == "up" ? MODBUS_RTU_RTS_UP : MODBUS_RTU_RTS_DOWN) == -1) {
      spdlog::warn("modbus {}: cannot set RTS mode on {}: {}", name_, where,
                   modbus_strerror(errno));
    }
  }
  {
    std::lock_guard lock(mu_);
    ctx_ = ctx;
    sock_ = settings_.transport == Transport::kTcp ? modbus_get_socket(ctx) : -1;
  }
  if (conn_backoff_.failures() > 0 || counters_.connects.load() > 0) {
    spdlog::info("modbus {}: connected to {}", name_, where);
  }
  counters_.connects.fetch_add(1, std::memory_order_relaxed);
  conn_backoff_.Reset();
  return true;
}

void ModbusDriver::Disconnect() {
  modbus_t* ctx = nullptr;
  {
    std::lock_guard lock(mu_);
    ctx = ctx_;
    ctx_ = nullptr;
    sock_ = -1;
  }
  if (ctx != nullptr) {
    modbus_close(ctx);
    modbus_free(ctx);
  }
}

bool ModbusDriver::Resync() {
  counters_.resyncs.fetch_add(1, std::memory_order_relaxed);
  if (settings_.transport == Transport::kRtu) {
    modbus_flush(ctx_);  // drop what is on the line; a late answer must not pass for the next
    return true;
  }
  // TCP: a late answer may still be on its way (a slow unit behind a gateway answers after our
  // timeout, and would be read as the answer to the next request, whatever its unit). Only a
  // new connection guarantees that the next response belongs to the next request.
  {
    std::lock_guard lock(mu_);
    sock_ = -1;
  }
  modbus_close(ctx_);
  if (stopping_.load() || modbus_connect(ctx_) == -1) return false;
  std::lock_guard lock(mu_);
  sock_ = modbus_get_socket(ctx_);
  if (stopping_.load()) ::shutdown(sock_, SHUT_RDWR);
  return true;
}

void ModbusDriver::EmitGood(const Block& block, const std::uint16_t* regs, const std::uint8_t* bits,
                            std::int64_t ts, std::vector<Reading>& out) {
  for (std::size_t idx : block.tags) {
    const TagSettings& t = settings_.tags[idx];
    const int off = t.address - block.address;
    const ValueKind kind = t.kind();
    Reading r{t.device, t.name, 0.0, t.unit, Quality::kGood, ts};
    if (bits != nullptr) {
      r.SetBoolean(bits[off] != 0);
    } else if (t.type == DataType::kString) {
      std::string text = DecodeString(std::span(regs + off, t.count()), t.order);
      if (kind == ValueKind::kString) {
        r.SetText(std::move(text));
      } else {
        double raw = 0.0;
        const char* end = text.data() + text.size();
        auto [p, ec] = std::from_chars(text.data(), end, raw);
        if (ec != std::errc() || p != end) {
          spdlog::debug("modbus {}: string tag {} holds \"{}\", not a number; not delivered", name_,
                        t.name, text);
          continue;
        }
        r.value = Scale(raw, t.scale, t.offset);
      }
    } else if (kind == ValueKind::kInt64) {
      r.SetInteger(DecodeInteger(std::span(regs + off, t.count()), t.type, t.order));
    } else {
      const double raw = DecodeNumber(std::span(regs + off, t.count()), t.type, t.order);
      if (kind == ValueKind::kBoolean) {
        r.SetBoolean(raw != 0);
      } else {
        r.value = Scale(raw, t.scale, t.offset);
      }
    }
    out.push_back(std::move(r));
  }
}

void ModbusDriver::EmitBad(const Block& block, std::int64_t ts, std::vector<Reading>& out) {
  for (std::size_t idx : block.tags) {
    const TagSettings& t = settings_.tags[idx];
    Reading r{t.device, t.name, kNaN, t.unit, Quality::kBad, ts};
    r.kind = t.kind();  // no value, but the series keeps its kind
    out.push_back(std::move(r));
  }
}

void ModbusDriver::UnitFailed(int unit_id, const std::string& why) {
  auto found = units_.find(unit_id);
  if (found == units_.end()) {
    found = units_
                .emplace(unit_id, UnitState{connect::Backoff(
                                      RetryPolicy(), seed_ + static_cast<unsigned>(unit_id))})
                .first;
  }
  UnitState& u = found->second;
  const std::int64_t wait = u.backoff.NextMs() * kMsNs;
  u.until_ns = clock_->MonotonicNs() + wait;
  if (u.backoff.failures() == 1 || why != u.last_error) {
    spdlog::warn("modbus {}: unit {} is down ({}); next attempt in {} ms", name_, unit_id, why,
                 wait / kMsNs);
  }
  u.last_error = why;
}

void ModbusDriver::UnitOk(int unit_id) {
  auto it = units_.find(unit_id);
  if (it == units_.end()) return;
  if (it->second.backoff.failures() > 0)
    spdlog::info("modbus {}: unit {} answers again", name_, unit_id);
  units_.erase(it);
}

ModbusDriver::Outcome ModbusDriver::ReadBlock(const Block& block, std::vector<Reading>& out,
                                              int depth) {
  UnitState* unit = nullptr;
  if (auto it = units_.find(block.unit_id); it != units_.end()) unit = &it->second;
  const bool probing = unit != nullptr && unit->backoff.failures() > 0;
  if (probing && clock_->MonotonicNs() < unit->until_ns) {
    EmitBad(block, clock_->NowNs(), out);
    return Outcome::kDone;
  }
  const int attempts = probing ? 1 : settings_.retries + 1;
  modbus_set_slave(ctx_, block.unit_id);
  int last_err = 0;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (settings_.inter_request_delay_ms > 0 && last_request_end_ns_ != 0) {
      const std::int64_t ready = last_request_end_ns_ + settings_.inter_request_delay_ms * kMsNs;
      const std::int64_t left = ready - clock_->MonotonicNs();
      if (left > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(left));
    }
    const std::int64_t ts = clock_->NowNs();
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
    int rc = -1;
    switch (block.table) {
      case Table::kCoil:
        rc = modbus_read_bits(ctx_, block.address, block.count, bits_.data());
        break;
      case Table::kDiscreteInput:
        rc = modbus_read_input_bits(ctx_, block.address, block.count, bits_.data());
        break;
      case Table::kHolding:
        rc = modbus_read_registers(ctx_, block.address, block.count, regs_.data());
        break;
      case Table::kInput:
        rc = modbus_read_input_registers(ctx_, block.address, block.count, regs_.data());
        break;
    }
    const int err = errno;
    last_request_end_ns_ = clock_->MonotonicNs();
    if (rc == block.count) {
      counters_.values.fetch_add(static_cast<std::uint64_t>(rc), std::memory_order_relaxed);
      const bool bits = IsBitTable(block.table);
      EmitGood(block, bits ? nullptr : regs_.data(), bits ? bits_.data() : nullptr, ts, out);
      UnitOk(block.unit_id);
      return Outcome::kDone;
    }
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
    last_err = rc == -1 ? err : EMBBADDATA;
    if (IsModbusException(last_err)) {
      counters_.exceptions.fetch_add(1, std::memory_order_relaxed);
      UnitOk(block.unit_id);  // it answered
      if (last_err == EMBXILADD) {
        std::vector<Block> halves = planner_.Split(block);
        if (!halves.empty() && depth < 32) {
          counters_.splits.fetch_add(1, std::memory_order_relaxed);
          spdlog::info("modbus {}: {} rejected with {}; split into {} reads", name_,
                       Describe(block), ErrorName(last_err), halves.size());
          for (const Block& h : halves) {
            if (ReadBlock(h, out, depth + 1) == Outcome::kConnectionLost) {
              return Outcome::kConnectionLost;
            }
          }
          return Outcome::kDone;
        }
      }
      if (last_err == EMBXSBUSY || last_err == EMBXACK) continue;  // worth another try
      // Warn once per block and exception; a map error repeats on every poll.
      const auto key =
          std::make_tuple(block.unit_id, static_cast<int>(block.table), block.address, last_err);
      if (exceptions_logged_.insert(key).second) {
        spdlog::warn("modbus {}: {}: {}", name_, Describe(block), ErrorName(last_err));
      }
      EmitBad(block, ts, out);
      return Outcome::kDone;
    }
    if (err == ETIMEDOUT && rc == -1) {
      spdlog::debug("modbus {}: {}: timed out", name_, Describe(block));
      counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
      if (!Resync()) return Outcome::kConnectionLost;
      continue;
    }
    if (IsGarbled(last_err)) {
      spdlog::debug("modbus {}: {}: {}; resynchronising", name_, Describe(block),
                    ErrorName(last_err));
      counters_.garbled.fetch_add(1, std::memory_order_relaxed);
      if (!Resync()) return Outcome::kConnectionLost;
      continue;
    }
    // Anything else is the connection itself (reset, refused, closed, device gone).
    if (!stopping_.load())
      spdlog::warn("modbus {}: {}: {}; reconnecting", name_, Describe(block), ErrorName(last_err));
    EmitBad(block, ts, out);
    return Outcome::kConnectionLost;
  }
  UnitFailed(block.unit_id, ErrorName(last_err));
  EmitBad(block, clock_->NowNs(), out);
  return Outcome::kDone;
}

void ModbusDriver::Run(std::stop_token stop, ReadingSink& sink) {
  std::stop_callback on_stop(stop, [this] {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (sock_ >= 0) ::shutdown(sock_, SHUT_RDWR);
  });
  const std::size_t n = settings_.tags.size();
  std::vector<std::int64_t> next_due(n, clock_->MonotonicNs());
  std::vector<std::size_t> due;
  std::vector<Reading> batch;
  while (!stop.stop_requested()) {
    std::int64_t now = clock_->MonotonicNs();
    stats_.heartbeat_ns.store(now, std::memory_order_relaxed);
    std::int64_t earliest = std::numeric_limits<std::int64_t>::max();
    for (std::int64_t d : next_due) earliest = std::min(earliest, d);
    if (earliest > now) {
      if (!connect::SleepUntil(stop, *clock_, earliest)) break;
      continue;
    }
    due.clear();
    for (std::size_t i = 0; i < n; ++i) {
      if (next_due[i] <= now) due.push_back(i);
    }
    if (due != last_due_ || counters_.splits.load() != last_splits_ || last_plan_.empty()) {
      last_plan_ = planner_.Plan(due);
      last_due_ = due;
      last_splits_ = counters_.splits.load();
    }
    const std::vector<Block>& plan = last_plan_;
    const std::uint64_t requests_before = counters_.requests.load();
    if (ctx_ == nullptr && now >= reconnect_at_ns_ && !Connect()) {
      reconnect_at_ns_ = clock_->MonotonicNs() + conn_backoff_.NextMs() * kMsNs;
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
    }
    bool sent = false;
    for (const Block& block : plan) {
      if (ctx_ == nullptr || stop.stop_requested()) {
        EmitBad(block, clock_->NowNs(), batch);
        continue;
      }
      sent = true;
      if (ReadBlock(block, batch, 0) == Outcome::kConnectionLost) {
        Disconnect();
        reconnect_at_ns_ = clock_->MonotonicNs() + conn_backoff_.NextMs() * kMsNs;
      }
    }
    if (sent) {
      counters_.scans.fetch_add(1, std::memory_order_relaxed);
      if (due.size() == n && !stop.stop_requested()) {
        const std::uint64_t r = counters_.requests.load() - requests_before;
        if (counters_.min_scan_requests.load() == 0 || r < counters_.min_scan_requests.load()) {
          counters_.min_scan_requests.store(r);
        }
        if (r > counters_.max_scan_requests.load()) counters_.max_scan_requests.store(r);
      }
    }
    // Next due times stay on the tags' own grid, so tags with one interval stay together. A
    // tick that overran the interval is followed at once by the next (no idle wait for the grid);
    // every tag of the tick moves alike, so they stay together.
    now = clock_->MonotonicNs();
    for (std::size_t i : due) {
      next_due[i] += settings_.tags[i].poll_interval_ms * kMsNs;
      if (next_due[i] < now) next_due[i] = now;
    }
    if (!DeliverBatch(sink, batch, stats_, *clock_)) break;
  }
  Disconnect();
}

}  // namespace pn::modbus
