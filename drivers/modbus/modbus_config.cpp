#include "drivers/modbus/modbus_config.h"

#include <map>
#include <utility>

namespace pn::modbus {

namespace {

using config::KeySpec;
using config::TableSpec;
using config::ValueType;

KeySpec& Range(KeySpec& k, double lo, double hi) {
  k.min = lo;
  k.max = hi;
  return k;
}

std::vector<std::string> TypeChoices() {
  std::vector<std::string> v;
  for (int i = 0; i <= static_cast<int>(DataType::kString); ++i) {
    v.emplace_back(DataTypeName(static_cast<DataType>(i)));
  }
  return v;
}

const TableSpec& TagSpec() {
  static const TableSpec spec = [] {
    TableSpec t;
    t.description = "One value read from a device: a register, a group of registers or a bit.";
    KeySpec& name = AddKey(t, "name", ValueType::kString, {},
                           "The series name of the readings this tag produces.");
    name.required = true;
    name.example = "\"temperature\"";
    AddKey(t, "device", ValueType::kString, {},
           "The device name of the readings. Defaults to \"<driver name>-<unit_id>\".")
        .example = "\"meter-1\"";
    Range(AddKey(t, "unit_id", ValueType::kInt, {},
                 "The Modbus unit id (slave address) to read from. Defaults to the driver's "
                 "unit_id."),
          0, 255)
        .example = "1";
    KeySpec& table = AddKey(t, "table", ValueType::kString, {},
                            "The Modbus table: coil, discrete_input, holding or input.");
    table.required = true;
    table.choices = {"coil", "discrete_input", "holding", "input"};
    table.example = "\"holding\"";
    KeySpec& address = AddKey(t, "address", ValueType::kInt, {},
                              "The address of the first register or bit, 0-based unless the "
                              "driver sets address_base = 1.");
    address.required = true;
    Range(address, 0, 65536);
    address.example = "0";
    KeySpec& type = AddKey(t, "type", ValueType::kString, {},
                           "The value type: bool, int16, uint16, int32, uint32, int64, uint64, "
                           "float32, float64 or string. Defaults to bool for coils and discrete "
                           "inputs and uint16 for registers; coils and discrete inputs allow only "
                           "bool.");
    type.choices = TypeChoices();
    type.example = "\"float32\"";
    Range(AddKey(t, "length", ValueType::kInt, {},
                 "For type string: how many registers the string occupies (two characters "
                 "each)."),
          1, kMaxRegistersPerRead)
        .example = "8";
    AddKey(t, "order", ValueType::kString, std::string("ABCD"),
           "The byte and word order of multi-byte values: ABCD (big-endian, the Modbus "
           "convention), DCBA (little-endian), BADC (bytes swapped in each register) or CDAB "
           "(low word first).")
        .choices = {"ABCD", "DCBA", "BADC", "CDAB"};
    AddKey(t, "as_number", ValueType::kBool, false,
           "For type string: deliver the text as a number (some meters show values as ASCII "
           "digits); text that is not a number is then skipped. Without it the text is "
           "delivered as a string reading.");
    AddKey(t, "scale", ValueType::kFloat, 1.0,
           "The decoded value is multiplied by scale, then offset is added. A scaled integer "
           "is delivered as a double.");
    AddKey(t, "offset", ValueType::kFloat, 0.0, "Added to the value after scaling.");
    AddKey(t, "unit", ValueType::kString, std::string(""),
           "The engineering unit of the readings, such as \"degC\" or \"kWh\".");
    Range(AddKey(t, "poll_interval_ms", ValueType::kInt, {},
                 "How often to read this tag, in milliseconds. Defaults to the driver's "
                 "poll_interval_ms."),
          1, 86400000)
        .example = "1000";
    return t;
  }();
  return spec;
}

const TableSpec& BuildSpec() {
  static const TableSpec spec = [] {
    TableSpec t;
    t.description =
        "Modbus TCP or RTU: one TCP connection or one serial line, polling the tags of one or "
        "more unit ids with coalesced block reads.";
    AddKey(t, "transport", ValueType::kString, std::string("tcp"),
           "Modbus TCP over a network connection, or Modbus RTU over a serial line.")
        .choices = {"tcp", "rtu"};
    AddKey(t, "host", ValueType::kString, std::string("127.0.0.1"),
           "TCP: the host name or IP address of the server (or gateway).");
    Range(AddKey(t, "port", ValueType::kInt, std::int64_t{502}, "TCP: the server's port."), 1,
          65535);
    AddKey(t, "device_path", ValueType::kString, {},
           "RTU: the serial device, such as \"/dev/ttyUSB0\" or \"/dev/ttyAMA0\".")
        .example = "\"/dev/ttyUSB0\"";
    Range(AddKey(t, "baud_rate", ValueType::kInt, std::int64_t{9600},
                 "RTU: the line speed in bits per second."),
          50, 4000000);
    AddKey(t, "parity", ValueType::kString, std::string("none"), "RTU: none, even or odd.")
        .choices = {"none", "even", "odd"};
    Range(AddKey(t, "data_bits", ValueType::kInt, std::int64_t{8}, "RTU: data bits, 5 to 8."), 5,
          8);
    Range(AddKey(t, "stop_bits", ValueType::kInt, std::int64_t{1}, "RTU: stop bits, 1 or 2."), 1,
          2);
    AddKey(t, "rs485", ValueType::kBool, false,
           "RTU: switch the port to RS-485 mode (Linux TIOCSRS485, through libmodbus) instead "
           "of RS-232. Needs a driver that supports it.");
    AddKey(t, "rs485_rts", ValueType::kString, std::string("none"),
           "RTU: drive RTS for the RS-485 transceiver direction from libmodbus: none, up (RTS "
           "high while sending) or down (RTS low while sending).")
        .choices = {"none", "up", "down"};
    Range(AddKey(t, "inter_request_delay_ms", ValueType::kInt, std::int64_t{0},
                 "The pause between the end of one exchange and the next request, in "
                 "milliseconds, for slow devices."),
          0, 10000);
    Range(AddKey(t, "unit_id", ValueType::kInt, std::int64_t{1},
                 "The unit id (slave address) of tags that do not name one."),
          0, 255);
    Range(AddKey(t, "timeout_ms", ValueType::kInt, std::int64_t{1000},
                 "How long to wait for a response (and for a TCP connect), in milliseconds."),
          1, 60000);
    Range(AddKey(t, "retries", ValueType::kInt, std::int64_t{2},
                 "How many times to repeat a request that timed out or got a garbled response "
                 "before the unit is marked down."),
          0, 10);
    Range(AddKey(t, "max_gap", ValueType::kInt, std::int64_t{10},
                 "The largest run of unused registers read to join two tags into one request. "
                 "0 joins only adjacent tags."),
          0, kMaxRegistersPerRead - 2);
    Range(AddKey(t, "max_gap_bits", ValueType::kInt, std::int64_t{160},
                 "The largest run of unused coils or discrete inputs read to join two tags "
                 "into one request."),
          0, kMaxBitsPerRead - 2);
    Range(AddKey(t, "max_registers_per_read", ValueType::kInt, std::int64_t{kMaxRegistersPerRead},
                 "The most registers one request may read; lower it for devices that cannot "
                 "serve 125 (the protocol's limit)."),
          1, kMaxRegistersPerRead);
    Range(AddKey(t, "max_bits_per_read", ValueType::kInt, std::int64_t{kMaxBitsPerRead},
                 "The most coils or discrete inputs one request may read (the protocol allows "
                 "2000)."),
          1, kMaxBitsPerRead);
    Range(AddKey(t, "address_base", ValueType::kInt, std::int64_t{0},
                 "0 when tag addresses are protocol addresses; 1 when they are copied from "
                 "documentation that counts from 1 (address 1 is then sent as 0)."),
          0, 1);
    Range(AddKey(t, "poll_interval_ms", ValueType::kInt, std::int64_t{1000},
                 "How often to read tags that do not set their own, in milliseconds."),
          1, 86400000);
    Range(AddKey(t, "retry_initial_ms", ValueType::kInt, std::int64_t{500},
                 "After a unit stops answering or the connection fails, the first wait before "
                 "trying again, in milliseconds; it doubles on each failure up to "
                 "retry_max_ms."),
          1, 3600000)
        .aliases = {"backoff_initial_ms"};
    Range(AddKey(t, "retry_max_ms", ValueType::kInt, std::int64_t{30000},
                 "The longest wait between attempts, in milliseconds."),
          1, 3600000)
        .aliases = {"backoff_max_ms"};
    Range(AddKey(t, "retry_jitter", ValueType::kFloat, 0.5,
                 "The random part of each wait, as a fraction: a wait is drawn between "
                 "(1 - retry_jitter) and 1 times the doubled value (0.5, equal jitter: 50 % to "
                 "100 %; 0: no randomness)."),
          0.0, 1.0)
        .aliases = {"backoff_jitter"};
    KeySpec& tag = AddKey(t, "tag", ValueType::kTableArray, {},
                          "The register map: one [[drivers.NAME.tag]] table per value.");
    tag.table = &TagSpec();
    return t;
  }();
  return spec;
}

std::string Quote(std::string_view s) {
  // Appends rather than `"\"" + std::string(s)`, which trips GCC 12's -Wrestrict at -O3.
  std::string q;
  q.reserve(s.size() + 2);
  q += '"';
  q.append(s);
  q += '"';
  return q;
}

std::string DriverName(const config::Section& section) {
  const std::string& p = section.path();
  const std::string prefix = "drivers.";
  return p.rfind(prefix, 0) == 0 ? p.substr(prefix.size()) : p;
}

DataType TagType(const config::Section& tag, Table table) {
  if (tag.Has("type")) return ParseDataType(tag.GetString("type")).value_or(DataType::kUint16);
  return IsBitTable(table) ? DataType::kBool : DataType::kUint16;
}

std::string DefaultDevice(const std::string& driver, int unit_id) {
  return driver + "-" + std::to_string(unit_id);
}

}  // namespace

const config::TableSpec& Spec() { return BuildSpec(); }

void Check(const config::Section& section, config::ErrorList& errors) {
  const bool rtu = section.GetString("transport") == "rtu";
  if (rtu && !section.Has("device_path")) {
    section.AddError(errors, "transport", "transport \"rtu\" needs device_path");
  }
  if (rtu && section.Has("device_path") && section.GetString("device_path").empty()) {
    section.AddError(errors, "device_path", "must not be empty");
  }
  if (!rtu && section.GetString("host").empty()) {
    section.AddError(errors, "host", "must not be empty");
  }
  if (!rtu && (section.Has("rs485") || section.Has("rs485_rts"))) {
    section.AddError(errors, section.Has("rs485") ? "rs485" : "rs485_rts",
                     "applies only to transport \"rtu\"");
  }
  if (section.GetInt("retry_initial_ms") > section.GetInt("retry_max_ms")) {
    section.AddError(errors, "retry_initial_ms", "must not exceed retry_max_ms");
  }
  if (rtu && section.GetInt("unit_id") == 0) {
    section.AddError(errors, "unit_id",
                     "unit id 0 is the RTU broadcast address, which never answers a read");
  }

  const std::vector<config::Section> tags = section.GetTableArray("tag");
  if (tags.empty()) {
    section.AddError(errors, "tag",
                     "the register map is empty: add [[" + section.path() + ".tag]] tables");
  }
  const std::string driver = DriverName(section);
  const int base = static_cast<int>(section.GetInt("address_base"));
  const int max_regs = static_cast<int>(section.GetInt("max_registers_per_read"));
  std::map<std::pair<std::string, std::string>, std::size_t> seen;  // (device, name) -> index
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const config::Section& tag = tags[i];
    const Table table = ParseTable(tag.GetString("table")).value_or(Table::kHolding);
    const DataType type = TagType(tag, table);
    const int unit_id =
        static_cast<int>(tag.Has("unit_id") ? tag.GetInt("unit_id") : section.GetInt("unit_id"));
    if (rtu && tag.Has("unit_id") && unit_id == 0) {
      tag.AddError(errors, "unit_id",
                   "unit id 0 is the RTU broadcast address, which never answers a read");
    } else if (rtu && unit_id > 247) {
      tag.AddError(errors, tag.Has("unit_id") ? "unit_id" : "table",
                   "RTU unit ids are 1 to 247, got " + std::to_string(unit_id));
    }
    if (IsBitTable(table)) {
      if (type != DataType::kBool) {
        tag.AddError(errors, "type",
                     Quote(DataTypeName(type)) + " is not allowed for table " +
                         Quote(TableName(table)) +
                         ": coils and discrete inputs hold single bits, use \"bool\"");
      }
      if (tag.Has("order")) {
        tag.AddError(errors, "order",
                     "does not apply to table " + Quote(TableName(table)) + " (single bits)");
      }
    }
    int count = IsBitTable(table) ? 1 : RegisterCount(type, 0);
    if (type == DataType::kString) {
      if (!tag.Has("length")) {
        tag.AddError(errors, "type",
                     "type \"string\" needs length (registers, two characters each)");
        count = 1;
      } else {
        count = static_cast<int>(tag.GetInt("length"));
        if (count > max_regs) {
          tag.AddError(errors, "length",
                       "a string of " + std::to_string(count) +
                           " registers does not fit in one read (max_registers_per_read = " +
                           std::to_string(max_regs) + ")");
        }
      }
    } else if (tag.Has("length")) {
      tag.AddError(errors, "length", "applies only to type \"string\"");
    }
    if (type != DataType::kString && tag.Has("as_number")) {
      tag.AddError(errors, "as_number", "applies only to type \"string\"");
    } else if (type == DataType::kString && !tag.GetBool("as_number")) {
      for (const char* key : {"scale", "offset"}) {
        if (tag.Has(key)) {
          tag.AddError(errors, key,
                       "a string tag delivers text, which cannot be scaled; set as_number = "
                       "true to read its text as a number");
        }
      }
    }
    const int address = static_cast<int>(tag.GetInt("address"));
    if (base == 1 && address == 0) {
      tag.AddError(errors, "address",
                   "address 0 does not exist with address_base = 1 (addresses count from 1)");
    } else {
      const int first = address - base;
      const int last = first + count - 1;
      if (last > 65535) {
        const std::string what =
            IsBitTable(table) ? "bit" : (count == 1 ? "register" : "registers");
        std::string range = std::to_string(address);
        if (count > 1) range += ".." + std::to_string(last + base);
        tag.AddError(errors, type == DataType::kString ? "length" : "address",
                     what + " " + range + " run" + (count == 1 ? "s" : "") +
                         " past the last address " + std::to_string(65535 + base));
      }
    }
    const std::string device =
        tag.Has("device") ? tag.GetString("device") : DefaultDevice(driver, unit_id);
    const std::string name = tag.GetString("name");
    if (name.empty()) tag.AddError(errors, "name", "must not be empty");
    if (tag.Has("device") && device.empty()) tag.AddError(errors, "device", "must not be empty");
    auto [it, inserted] = seen.emplace(std::make_pair(device, name), i);
    if (!inserted) {
      tag.AddError(errors, "name",
                   "series " + Quote(name) + " of device " + Quote(device) +
                       " is already defined by " + section.PathOf("tag") + "[" +
                       std::to_string(it->second) + "]");
    }
  }
}

ValueKind TagSettings::kind() const {
  if (type == DataType::kString) return as_number ? ValueKind::kDouble : ValueKind::kString;
  if (scale != 1.0 || offset != 0.0) return ValueKind::kDouble;  // an engineering value
  if (IsBitTable(table) || type == DataType::kBool) return ValueKind::kBoolean;
  switch (type) {
    case DataType::kInt16:
    case DataType::kUint16:
    case DataType::kInt32:
    case DataType::kUint32:
    case DataType::kInt64:
      return ValueKind::kInt64;
    default:
      return ValueKind::kDouble;  // floats; uint64, which may not fit in an int64
  }
}

ModbusSettings SettingsFromSection(const config::Section& section, const std::string& driver_name) {
  ModbusSettings s;
  s.transport = section.GetString("transport") == "rtu" ? Transport::kRtu : Transport::kTcp;
  s.host = section.GetString("host");
  s.port = static_cast<int>(section.GetInt("port"));
  if (section.Has("device_path")) s.device_path = section.GetString("device_path");
  s.baud_rate = static_cast<int>(section.GetInt("baud_rate"));
  const std::string parity = section.GetString("parity");
  s.parity = parity == "even" ? 'E' : parity == "odd" ? 'O' : 'N';
  s.data_bits = static_cast<int>(section.GetInt("data_bits"));
  s.stop_bits = static_cast<int>(section.GetInt("stop_bits"));
  s.rs485 = section.GetBool("rs485");
  s.rs485_rts = section.GetString("rs485_rts");
  s.inter_request_delay_ms = section.GetInt("inter_request_delay_ms");
  s.timeout_ms = section.GetInt("timeout_ms");
  s.retries = static_cast<int>(section.GetInt("retries"));
  s.limits.max_registers = static_cast<int>(section.GetInt("max_registers_per_read"));
  s.limits.max_bits = static_cast<int>(section.GetInt("max_bits_per_read"));
  s.limits.max_gap = static_cast<int>(section.GetInt("max_gap"));
  s.limits.max_gap_bits = static_cast<int>(section.GetInt("max_gap_bits"));
  s.retry_initial_ms = section.GetInt("retry_initial_ms");
  s.retry_max_ms = section.GetInt("retry_max_ms");
  s.retry_jitter = section.GetFloat("retry_jitter");
  const int base = static_cast<int>(section.GetInt("address_base"));
  const int default_unit = static_cast<int>(section.GetInt("unit_id"));
  const std::int64_t default_interval = section.GetInt("poll_interval_ms");
  for (const config::Section& tag : section.GetTableArray("tag")) {
    TagSettings t;
    t.name = tag.GetString("name");
    t.unit_id = tag.Has("unit_id") ? static_cast<int>(tag.GetInt("unit_id")) : default_unit;
    t.device = tag.Has("device") ? tag.GetString("device") : DefaultDevice(driver_name, t.unit_id);
    t.table = ParseTable(tag.GetString("table")).value_or(Table::kHolding);
    t.address = static_cast<int>(tag.GetInt("address")) - base;
    t.type = TagType(tag, t.table);
    t.length = tag.Has("length") ? static_cast<int>(tag.GetInt("length")) : 0;
    t.order = ParseOrder(tag.GetString("order")).value_or(Order::kABCD);
    t.as_number = tag.GetBool("as_number");
    t.scale = tag.GetFloat("scale");
    t.offset = tag.GetFloat("offset");
    t.unit = tag.GetString("unit");
    t.poll_interval_ms =
        tag.Has("poll_interval_ms") ? tag.GetInt("poll_interval_ms") : default_interval;
    s.tags.push_back(std::move(t));
  }
  return s;
}

}  // namespace pn::modbus
