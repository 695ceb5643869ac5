#include "drivers/modbus/decode.h"

#include <array>
#include <bit>
#include <cstring>
#include <utility>

namespace pn::modbus {

namespace {

constexpr std::array<std::string_view, 10> kTypeNames = {"bool",    "int16", "uint16", "int32",
                                                         "uint32",  "int64", "uint64", "float32",
                                                         "float64", "string"};
constexpr std::array<std::string_view, 4> kOrderNames = {"ABCD", "DCBA", "BADC", "CDAB"};
constexpr std::array<std::string_view, 4> kTableNames = {"coil", "discrete_input", "holding",
                                                         "input"};

bool SwapsBytes(Order o) { return o == Order::kDCBA || o == Order::kBADC; }
bool SwapsWords(Order o) { return o == Order::kDCBA || o == Order::kCDAB; }

// The value's bytes assembled most significant first into an unsigned integer.
std::uint64_t Assemble(std::span<const std::uint16_t> regs, Order order) {
  std::uint64_t v = 0;
  const std::size_t n = regs.size();
  for (std::size_t i = 0; i < n; ++i) {
    std::uint16_t r = regs[SwapsWords(order) ? n - 1 - i : i];
    if (SwapsBytes(order)) r = static_cast<std::uint16_t>((r >> 8) | (r << 8));
    v = (v << 16) | r;
  }
  return v;
}

}  // namespace

std::string_view DataTypeName(DataType t) { return kTypeNames[static_cast<std::size_t>(t)]; }

std::optional<DataType> ParseDataType(std::string_view name) {
  for (std::size_t i = 0; i < kTypeNames.size(); ++i) {
    if (kTypeNames[i] == name) return static_cast<DataType>(i);
  }
  return std::nullopt;
}

std::string_view OrderName(Order o) { return kOrderNames[static_cast<std::size_t>(o)]; }

std::optional<Order> ParseOrder(std::string_view name) {
  for (std::size_t i = 0; i < kOrderNames.size(); ++i) {
    if (kOrderNames[i] == name) return static_cast<Order>(i);
  }
  return std::nullopt;
}

std::string_view TableName(Table t) { return kTableNames[static_cast<std::size_t>(t)]; }

std::optional<Table> ParseTable(std::string_view name) {
  for (std::size_t i = 0; i < kTableNames.size(); ++i) {
    if (kTableNames[i] == name) return static_cast<Table>(i);
  }
  return std::nullopt;
}

int RegisterCount(DataType t, int string_registers) {
  switch (t) {
    case DataType::kBool:
    case DataType::kInt16:
    case DataType::kUint16:
      return 1;
    case DataType::kInt32:
    case DataType::kUint32:
    case DataType::kFloat32:
      return 2;
    case DataType::kInt64:
    case DataType::kUint64:
    case DataType::kFloat64:
      return 4;
    case DataType::kString:
      return string_registers;
  }
  return 1;
}

double DecodeNumber(std::span<const std::uint16_t> regs, DataType t, Order order) {
  const std::uint64_t v = Assemble(regs, order);
  switch (t) {
    case DataType::kBool:
      return v != 0 ? 1.0 : 0.0;
    case DataType::kInt16:
      return static_cast<double>(static_cast<std::int16_t>(static_cast<std::uint16_t>(v)));
    case DataType::kUint16:
      return static_cast<double>(static_cast<std::uint16_t>(v));
    case DataType::kInt32:
      return static_cast<double>(static_cast<std::int32_t>(static_cast<std::uint32_t>(v)));
    case DataType::kUint32:
      return static_cast<double>(static_cast<std::uint32_t>(v));
    case DataType::kInt64:
      return static_cast<double>(static_cast<std::int64_t>(v));
    case DataType::kUint64:
      return static_cast<double>(v);
    case DataType::kFloat32:
      return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(v)));
    case DataType::kFloat64:
      return std::bit_cast<double>(v);
    case DataType::kString:
      break;
  }
  return 0.0;
}

std::int64_t DecodeInteger(std::span<const std::uint16_t> regs, DataType t, Order order) {
  const std::uint64_t v = Assemble(regs, order);
  switch (t) {
    case DataType::kInt16:
      return static_cast<std::int16_t>(static_cast<std::uint16_t>(v));
    case DataType::kUint16:
      return static_cast<std::uint16_t>(v);
    case DataType::kInt32:
      return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    case DataType::kUint32:
      return static_cast<std::uint32_t>(v);
    case DataType::kBool:
      return v != 0 ? 1 : 0;
    default:
      return static_cast<std::int64_t>(v);  // int64; uint64 wraps above INT64_MAX
  }
}

std::string DecodeString(std::span<const std::uint16_t> regs, Order order) {
  std::string s;
  s.reserve(regs.size() * 2);
  for (std::uint16_t r : regs) {
    char hi = static_cast<char>(r >> 8);
    char lo = static_cast<char>(r & 0xff);
    if (SwapsBytes(order)) std::swap(hi, lo);
    s += hi;
    s += lo;
  }
  // Stop at the first NUL, then drop trailing padding spaces.
  if (auto nul = s.find('\0'); nul != std::string::npos) s.resize(nul);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace pn::modbus
