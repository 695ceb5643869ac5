// The modbus driver's config: defaults, typed settings, and every check with its exact message.
#include <doctest/doctest.h>

#include <string>

#include "modbus_test_util.h"

namespace pn::modbus {

using testing::Load;

TEST_CASE("modbus config: a minimal TCP map takes the defaults") {
  auto l = Load(R"(
[drivers.plc]
type = "modbus"
host = "10.0.0.5"

[[drivers.plc.tag]]
name = "speed"
table = "holding"
address = 7
)");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  const ModbusSettings s = SettingsFromSection(*l.section, "plc");
  CHECK(s.transport == Transport::kTcp);
  CHECK(s.host == "10.0.0.5");
  CHECK(s.port == 502);
  CHECK(s.timeout_ms == 1000);
  CHECK(s.retries == 2);
  CHECK(s.limits.max_registers == 125);
  CHECK(s.limits.max_gap == 10);
  REQUIRE(s.tags.size() == 1);
  const TagSettings& t = s.tags[0];
  CHECK(t.name == "speed");
  CHECK(t.device == "plc-1");
  CHECK(t.unit_id == 1);
  CHECK(t.table == Table::kHolding);
  CHECK(t.address == 7);
  CHECK(t.type == DataType::kUint16);
  CHECK(t.order == Order::kABCD);
  CHECK(t.scale == 1.0);
  CHECK(t.poll_interval_ms == 1000);
  CHECK(t.count() == 1);
}

TEST_CASE("modbus config: RTU settings, address_base 1, per-tag overrides") {
  auto l = Load(R"(
[drivers.plc]
type = "modbus"
transport = "rtu"
device_path = "/dev/ttyUSB0"
baud_rate = 19200
parity = "even"
stop_bits = 2
rs485 = true
inter_request_delay_ms = 20
address_base = 1
unit_id = 7
poll_interval_ms = 500

[[drivers.plc.tag]]
name = "energy"
device = "meter-a"
unit_id = 9
table = "input"
address = 1
type = "float64"
order = "CDAB"
scale = 0.001
offset = 2.5
unit = "kWh"
poll_interval_ms = 60000

[[drivers.plc.tag]]
name = "alarm"
table = "coil"
address = 10

[[drivers.plc.tag]]
name = "label"
table = "holding"
address = 100
type = "string"
length = 8
)");
  REQUIRE_MESSAGE(l.errors.empty(), l.errors.ToString());
  const ModbusSettings s = SettingsFromSection(*l.section, "plc");
  CHECK(s.transport == Transport::kRtu);
  CHECK(s.device_path == "/dev/ttyUSB0");
  CHECK(s.baud_rate == 19200);
  CHECK(s.parity == 'E');
  CHECK(s.data_bits == 8);
  CHECK(s.stop_bits == 2);
  CHECK(s.rs485);
  CHECK(s.inter_request_delay_ms == 20);
  REQUIRE(s.tags.size() == 3);
  CHECK(s.tags[0].device == "meter-a");
  CHECK(s.tags[0].unit_id == 9);
  CHECK(s.tags[0].address == 0);  // 1-based 1 -> protocol 0
  CHECK(s.tags[0].type == DataType::kFloat64);
  CHECK(s.tags[0].order == Order::kCDAB);
  CHECK(s.tags[0].scale == 0.001);
  CHECK(s.tags[0].offset == 2.5);
  CHECK(s.tags[0].unit == "kWh");
  CHECK(s.tags[0].poll_interval_ms == 60000);
  CHECK(s.tags[0].count() == 4);
  CHECK(s.tags[1].device == "plc-7");
  CHECK(s.tags[1].type == DataType::kBool);
  CHECK(s.tags[1].address == 9);
  CHECK(s.tags[1].poll_interval_ms == 500);
  CHECK(s.tags[2].count() == 8);
}

TEST_CASE("modbus config: check reports every bad map entry precisely") {
  auto l = Load(R"([drivers.plc]
type = "modbus"
transport = "rtu"
rs485_rts = "up"

[[drivers.plc.tag]]
name = "a"
table = "coil"
address = 0
type = "int32"
order = "DCBA"

[[drivers.plc.tag]]
name = "b"
table = "holding"
address = 65530
type = "string"
length = 10

[[drivers.plc.tag]]
name = "c"
table = "holding"
address = 65535
type = "float32"

[[drivers.plc.tag]]
name = "d"
table = "input"
address = 3
type = "string"

[[drivers.plc.tag]]
name = "e"
table = "input"
address = 3
length = 2

[[drivers.plc.tag]]
name = "a"
table = "holding"
address = 1

[[drivers.plc.tag]]
name = "f"
unit_id = 0
table = "holding"
address = 2
)");
  CHECK(l.errors.ToString() ==
        "gateway.toml:3:1: drivers.plc.transport: transport \"rtu\" needs device_path\n"
        "gateway.toml:10:1: drivers.plc.tag[0].type: \"int32\" is not allowed for table \"coil\": "
        "coils and discrete inputs hold single bits, use \"bool\"\n"
        "gateway.toml:11:1: drivers.plc.tag[0].order: does not apply to table \"coil\" (single "
        "bits)\n"
        "gateway.toml:18:1: drivers.plc.tag[1].length: registers 65530..65539 run past the last "
        "address 65535\n"
        "gateway.toml:23:1: drivers.plc.tag[2].address: registers 65535..65536 run past the "
        "last address 65535\n"
        "gateway.toml:30:1: drivers.plc.tag[3].type: type \"string\" needs length (registers, "
        "two characters each)\n"
        "gateway.toml:36:1: drivers.plc.tag[4].length: applies only to type \"string\"\n"
        "gateway.toml:39:1: drivers.plc.tag[5].name: series \"a\" of device \"plc-1\" is "
        "already defined by drivers.plc.tag[0]\n"
        "gateway.toml:45:1: drivers.plc.tag[6].unit_id: unit id 0 is the RTU broadcast "
        "address, which never answers a read\n");
}

TEST_CASE("modbus config: spec errors: unknown order, table and key, out-of-range values") {
  auto l = Load(R"([drivers.plc]
type = "modbus"
max_registers_per_read = 200
backoff_jitter = 2.0

[[drivers.plc.tag]]
name = "a"
table = "holding_register"
address = 70000
order = "ABDC"
scale_factor = 2
)");
  CHECK(l.errors.ToString() ==
        "gateway.toml:3:1: drivers.plc.max_registers_per_read: value 200 is out of range: must "
        "be between 1 and 125\n"
        "gateway.toml:4:1: drivers.plc.backoff_jitter: value 2 is out of range: must be between "
        "0 and 1\n"
        "gateway.toml:8:1: drivers.plc.tag[0].table: \"holding_register\" is not one of the "
        "allowed values: \"coil\", \"discrete_input\", \"holding\", \"input\"\n"
        "gateway.toml:9:1: drivers.plc.tag[0].address: value 70000 is out of range: must be "
        "between 0 and 65536\n"
        "gateway.toml:10:1: drivers.plc.tag[0].order: \"ABDC\" is not one of the allowed values: "
        "\"ABCD\", \"DCBA\", \"BADC\", \"CDAB\" (did you mean \"ABCD\"?)\n"
        "gateway.toml:11:1: drivers.plc.tag[0].scale_factor: unknown key\n");
}

TEST_CASE("modbus config: more checks: empty map, address 0 with base 1, string too long") {
  SUBCASE("no tags") {
    auto l = Load("[drivers.plc]\ntype = \"modbus\"\n");
    CHECK(l.errors.ToString() ==
          "gateway.toml:1:10: drivers.plc.tag: the register map is empty: add "
          "[[drivers.plc.tag]] tables\n");
  }
  SUBCASE("address_base 1") {
    auto l = Load(R"([drivers.plc]
type = "modbus"
address_base = 1
max_registers_per_read = 4
[[drivers.plc.tag]]
name = "a"
table = "holding"
address = 0
[[drivers.plc.tag]]
name = "b"
table = "holding"
address = 65536
[[drivers.plc.tag]]
name = "c"
table = "holding"
address = 5
type = "string"
length = 6
[[drivers.plc.tag]]
name = "d"
table = "holding"
address = 65536
type = "uint32"
)");
    CHECK(l.errors.ToString() ==
          "gateway.toml:8:1: drivers.plc.tag[0].address: address 0 does not exist with "
          "address_base = 1 (addresses count from 1)\n"
          "gateway.toml:18:1: drivers.plc.tag[2].length: a string of 6 registers does not fit "
          "in one read (max_registers_per_read = 4)\n"
          "gateway.toml:22:1: drivers.plc.tag[3].address: registers 65536..65537 run past the "
          "last address 65536\n");
  }
  SUBCASE("TCP with serial-only keys and backoff order") {
    auto l = Load(R"([drivers.plc]
type = "modbus"
rs485 = true
retry_initial_ms = 5000
retry_max_ms = 1000
[[drivers.plc.tag]]
name = "a"
table = "holding"
address = 0
)");
    CHECK(l.errors.ToString() ==
          "gateway.toml:3:1: drivers.plc.rs485: applies only to transport \"rtu\"\n"
          "gateway.toml:4:1: drivers.plc.retry_initial_ms: must not exceed retry_max_ms\n");
  }
}

}  // namespace pn::modbus
