// Modbus register decoding: pure functions from raw registers (or bits) to values.
//
// Registers arrive as host-order 16-bit words in protocol order (the first register read is
// element 0), each holding two bytes high-byte first on the wire. A value of N registers has
// 2N bytes; the `order` names how they map onto the value, written for a 32-bit value whose
// most significant byte is A:
//   ABCD  big-endian bytes, big-endian words (the Modbus convention)
//   DCBA  little-endian bytes and words (fully reversed)
//   BADC  bytes swapped within each register, words big-endian
//   CDAB  words swapped (low register first), bytes big-endian within each register
// For 64-bit values the same rules extend to four registers (CDAB means GHEFCDAB); for 16-bit
// values only the byte swap matters (ABCD == CDAB, DCBA == BADC). Strings take two characters
// per register, high byte first; BADC and DCBA swap the two characters of each register, and
// the word order is ignored; trailing NUL bytes and spaces are dropped.
//
// Everything here is stateless and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pn::modbus {

enum class DataType : std::uint8_t {
  kBool,
  kInt16,
  kUint16,
  kInt32,
  kUint32,
  kInt64,
  kUint64,
  kFloat32,
  kFloat64,
  kString,
};

enum class Order : std::uint8_t { kABCD, kDCBA, kBADC, kCDAB };

enum class Table : std::uint8_t { kCoil, kDiscreteInput, kHolding, kInput };

std::string_view DataTypeName(DataType t);  // "bool", "int16", ..., "string"
std::optional<DataType> ParseDataType(std::string_view name);
std::string_view OrderName(Order o);  // "ABCD", ...
std::optional<Order> ParseOrder(std::string_view name);
std::string_view TableName(Table t);  // "coil", "discrete_input", "holding", "input"
std::optional<Table> ParseTable(std::string_view name);

// Whether a table holds single bits (coils, discrete inputs) rather than 16-bit registers.
constexpr bool IsBitTable(Table t) { return t == Table::kCoil || t == Table::kDiscreteInput; }

// How many registers a value of type `t` occupies; `string_registers` for kString.
// kBool occupies one register (non-zero is true) or one bit in a bit table.
int RegisterCount(DataType t, int string_registers = 0);

// Decodes a numeric value (every type but kString) from exactly RegisterCount(t) registers.
// REQUIRES: regs.size() == RegisterCount(t); t != kString. 64-bit integers lose precision
// above 2^53 when converted to double, as any double does.
double DecodeNumber(std::span<const std::uint16_t> regs, DataType t, Order order);

// Decodes an integer type exactly (int16 to int64, uint16, uint32; uint64 wraps above
// INT64_MAX). REQUIRES: regs.size() == RegisterCount(t); t is not a float or kString.
std::int64_t DecodeInteger(std::span<const std::uint16_t> regs, DataType t, Order order);

// Applies scale and offset: raw * scale + offset.
inline double Scale(double raw, double scale, double offset) { return raw * scale + offset; }

// Decodes a string from `regs` (two characters per register), see the header comment.
std::string DecodeString(std::span<const std::uint16_t> regs, Order order);

}  // namespace pn::modbus
