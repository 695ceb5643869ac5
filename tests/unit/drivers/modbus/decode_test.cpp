// Register decoding: every type in every byte/word order from known byte patterns.
#include "drivers/modbus/decode.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace pn::modbus {
namespace {

struct Case {
  DataType type;
  Order order;
  std::vector<std::uint16_t> regs;
  double expected;
};

double D(std::vector<std::uint16_t> regs, DataType t, Order o) { return DecodeNumber(regs, t, o); }

}  // namespace

TEST_CASE("decode: names of types, orders and tables round-trip, unknown names are rejected") {
  for (int i = 0; i <= static_cast<int>(DataType::kString); ++i) {
    const auto t = static_cast<DataType>(i);
    CHECK(ParseDataType(DataTypeName(t)) == t);
  }
  for (auto o : {Order::kABCD, Order::kDCBA, Order::kBADC, Order::kCDAB}) {
    CHECK(ParseOrder(OrderName(o)) == o);
  }
  for (auto t : {Table::kCoil, Table::kDiscreteInput, Table::kHolding, Table::kInput}) {
    CHECK(ParseTable(TableName(t)) == t);
  }
  CHECK_FALSE(ParseDataType("float16"));
  CHECK_FALSE(ParseOrder("abcd"));
  CHECK_FALSE(ParseTable("holding_register"));
}

TEST_CASE("decode: register counts per type") {
  CHECK(RegisterCount(DataType::kBool) == 1);
  CHECK(RegisterCount(DataType::kInt16) == 1);
  CHECK(RegisterCount(DataType::kUint16) == 1);
  CHECK(RegisterCount(DataType::kInt32) == 2);
  CHECK(RegisterCount(DataType::kUint32) == 2);
  CHECK(RegisterCount(DataType::kFloat32) == 2);
  CHECK(RegisterCount(DataType::kInt64) == 4);
  CHECK(RegisterCount(DataType::kUint64) == 4);
  CHECK(RegisterCount(DataType::kFloat64) == 4);
  CHECK(RegisterCount(DataType::kString, 7) == 7);
}

TEST_CASE("decode: every numeric type in every order from known byte patterns") {
  using enum DataType;
  using enum Order;
  const std::vector<Case> cases = {
      // bool: any non-zero register is true
      {kBool, kABCD, {0x0000}, 0.0},
      {kBool, kABCD, {0x0100}, 1.0},
      {kBool, kDCBA, {0x0001}, 1.0},
      {kBool, kBADC, {0x8000}, 1.0},
      {kBool, kCDAB, {0x0000}, 0.0},
      // int16 -2 = 0xFFFE; 0x1234 = 4660
      {kInt16, kABCD, {0xFFFE}, -2.0},
      {kInt16, kCDAB, {0xFFFE}, -2.0},
      {kInt16, kDCBA, {0xFEFF}, -2.0},
      {kInt16, kBADC, {0xFEFF}, -2.0},
      {kInt16, kABCD, {0x8000}, -32768.0},
      {kInt16, kABCD, {0x1234}, 4660.0},
      {kInt16, kDCBA, {0x3412}, 4660.0},
      // uint16 0xFFFE = 65534, 0x1234 = 4660
      {kUint16, kABCD, {0xFFFE}, 65534.0},
      {kUint16, kCDAB, {0xFFFE}, 65534.0},
      {kUint16, kDCBA, {0xFEFF}, 65534.0},
      {kUint16, kBADC, {0x3412}, 4660.0},
      // int32 -123456789 = 0xF8A432EB
      {kInt32, kABCD, {0xF8A4, 0x32EB}, -123456789.0},
      {kInt32, kDCBA, {0xEB32, 0xA4F8}, -123456789.0},
      {kInt32, kBADC, {0xA4F8, 0xEB32}, -123456789.0},
      {kInt32, kCDAB, {0x32EB, 0xF8A4}, -123456789.0},
      // uint32 0xDEADBEEF = 3735928559
      {kUint32, kABCD, {0xDEAD, 0xBEEF}, 3735928559.0},
      {kUint32, kDCBA, {0xEFBE, 0xADDE}, 3735928559.0},
      {kUint32, kBADC, {0xADDE, 0xEFBE}, 3735928559.0},
      {kUint32, kCDAB, {0xBEEF, 0xDEAD}, 3735928559.0},
      // int64 0x0102030405060708 = 72623859790382856
      {kInt64, kABCD, {0x0102, 0x0304, 0x0506, 0x0708}, 72623859790382856.0},
      {kInt64, kDCBA, {0x0807, 0x0605, 0x0403, 0x0201}, 72623859790382856.0},
      {kInt64, kBADC, {0x0201, 0x0403, 0x0605, 0x0807}, 72623859790382856.0},
      {kInt64, kCDAB, {0x0708, 0x0506, 0x0304, 0x0102}, 72623859790382856.0},
      // int64 -2 = 0xFFFFFFFFFFFFFFFE
      {kInt64, kABCD, {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE}, -2.0},
      {kInt64, kDCBA, {0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF}, -2.0},
      {kInt64, kBADC, {0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF}, -2.0},
      {kInt64, kCDAB, {0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF}, -2.0},
      // uint64 0xFFFFFFFFFFFFFFFE and 0x0102030405060708
      {kUint64, kABCD, {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE}, 18446744073709551614.0},
      {kUint64, kDCBA, {0x0807, 0x0605, 0x0403, 0x0201}, 72623859790382856.0},
      {kUint64, kBADC, {0x0201, 0x0403, 0x0605, 0x0807}, 72623859790382856.0},
      {kUint64, kCDAB, {0x0708, 0x0506, 0x0304, 0x0102}, 72623859790382856.0},
      // float32 -1234.5 = 0xC49A5000
      {kFloat32, kABCD, {0xC49A, 0x5000}, -1234.5},
      {kFloat32, kDCBA, {0x0050, 0x9AC4}, -1234.5},
      {kFloat32, kBADC, {0x9AC4, 0x0050}, -1234.5},
      {kFloat32, kCDAB, {0x5000, 0xC49A}, -1234.5},
      // float64 -1234.5678 = 0xC0934A456D5CFAAD
      {kFloat64, kABCD, {0xC093, 0x4A45, 0x6D5C, 0xFAAD}, -1234.5678},
      {kFloat64, kDCBA, {0xADFA, 0x5C6D, 0x454A, 0x93C0}, -1234.5678},
      {kFloat64, kBADC, {0x93C0, 0x454A, 0x5C6D, 0xADFA}, -1234.5678},
      {kFloat64, kCDAB, {0xFAAD, 0x6D5C, 0x4A45, 0xC093}, -1234.5678},
  };
  for (const Case& c : cases) {
    INFO(DataTypeName(c.type), " ", OrderName(c.order));
    CHECK(D(c.regs, c.type, c.order) == c.expected);
  }
}

TEST_CASE("decode: float specials decode as the IEEE values") {
  CHECK(std::isnan(D({0x7FC0, 0x0000}, DataType::kFloat32, Order::kABCD)));
  CHECK(D({0x7F80, 0x0000}, DataType::kFloat32, Order::kABCD) ==
        std::numeric_limits<double>::infinity());
  CHECK(D({0x0000, 0x8000}, DataType::kFloat32, Order::kCDAB) == 0.0);  // -0.0
  CHECK(std::signbit(D({0x0000, 0x8000}, DataType::kFloat32, Order::kCDAB)));
}

TEST_CASE("decode: strings in every order, NUL and space padding dropped") {
  const std::vector<std::uint16_t> be = {0x4845, 0x4C4C, 0x4F00};  // "HE" "LL" "O\0"
  const std::vector<std::uint16_t> sw = {0x4548, 0x4C4C, 0x004F};
  CHECK(DecodeString(be, Order::kABCD) == "HELLO");
  CHECK(DecodeString(be, Order::kCDAB) == "HELLO");
  CHECK(DecodeString(sw, Order::kBADC) == "HELLO");
  CHECK(DecodeString(sw, Order::kDCBA) == "HELLO");
  CHECK(DecodeString(std::vector<std::uint16_t>{0x3132, 0x2E35, 0x2020}, Order::kABCD) == "12.5");
  CHECK(DecodeString(std::vector<std::uint16_t>{0x4100, 0x4242}, Order::kABCD) == "A");
  CHECK(DecodeString(std::vector<std::uint16_t>{}, Order::kABCD).empty());
}

TEST_CASE("decode: scale and offset apply as raw * scale + offset") {
  const double raw = D({0x00FA}, DataType::kInt16, Order::kABCD);  // 250
  CHECK(Scale(raw, 0.1, 0.0) == doctest::Approx(25.0));
  CHECK(Scale(raw, 0.1, -40.0) == doctest::Approx(-15.0));
  CHECK(Scale(raw, 1.0, 0.0) == 250.0);
  CHECK(Scale(D({0xFFFF}, DataType::kInt16, Order::kABCD), 2.0, 1.0) == -1.0);
}

}  // namespace pn::modbus
