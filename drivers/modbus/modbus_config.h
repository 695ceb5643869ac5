// Configuration of the `modbus` driver: the keys of [drivers.NAME] (one TCP connection or one
// serial line) and its [[drivers.NAME.tag]] register map, as data (config::TableSpec), the
// cross-key checks `processnow check` runs, and the typed settings the driver is built from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/reading.h"
#include "drivers/modbus/decode.h"
#include "drivers/modbus/planner.h"
#include "gateway/config/schema.h"

namespace pn::modbus {

// The keys of [drivers.NAME] for type "modbus" (`type` and `enabled` excluded).
const config::TableSpec& Spec();

// Cross-key checks: transport settings, tag types per table, string lengths, address ranges,
// duplicate series, unit ids. REQUIRES: `section` passed config::Validate against Spec().
void Check(const config::Section& section, config::ErrorList& errors);

enum class Transport : std::uint8_t { kTcp, kRtu };

struct TagSettings {
  std::string name;    // the series
  std::string device;  // the reading's device
  int unit_id = 1;
  Table table = Table::kHolding;
  int address = 0;  // 0-based protocol address (address_base already applied)
  DataType type = DataType::kUint16;
  int length = 0;  // registers, for strings
  Order order = Order::kABCD;
  bool as_number = false;  // strings: deliver the text as a number
  double scale = 1.0;
  double offset = 0.0;
  std::string unit;
  std::int64_t poll_interval_ms = 1000;

  int count() const { return IsBitTable(table) ? 1 : RegisterCount(type, length); }
  // The kind of its readings: boolean for bits and bool, int64 for unscaled integers (but
  // uint64, which may not fit), string for text, double for the rest and any scaled value.
  ValueKind kind() const;
};

struct ModbusSettings {
  Transport transport = Transport::kTcp;
  std::string host = "127.0.0.1";
  int port = 502;
  std::string device_path;
  int baud_rate = 9600;
  char parity = 'N';  // 'N', 'E', 'O'
  int data_bits = 8;
  int stop_bits = 1;
  bool rs485 = false;
  std::string rs485_rts = "none";  // "none", "up", "down"
  std::int64_t inter_request_delay_ms = 0;
  std::int64_t timeout_ms = 1000;
  int retries = 2;
  PlannerLimits limits;
  std::int64_t retry_initial_ms = 500;  // connect::Backoff, for dead units and the connection
  std::int64_t retry_max_ms = 30000;
  double retry_jitter = 0.5;
  std::vector<TagSettings> tags;
};

// Reads validated settings. `driver_name` names default devices ("<driver_name>-<unit_id>").
// REQUIRES: `section` passed Validate against Spec() and Check().
ModbusSettings SettingsFromSection(const config::Section& section, const std::string& driver_name);

}  // namespace pn::modbus
