// Fuzzes Modbus register decoding (drivers/modbus/decode.h) with arbitrary register contents:
// byte 0 picks the type, byte 1 the order, the rest are registers (big-endian pairs). Besides
// crashes and UB it checks a property: the same value laid out in each of the four orders
// decodes to the same bits as ABCD.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "drivers/modbus/decode.h"

namespace {

using pn::modbus::DataType;
using pn::modbus::Order;

// Lays out big-endian (ABCD) registers in `order`.
std::vector<std::uint16_t> Relayout(const std::vector<std::uint16_t>& be, Order order) {
  std::vector<std::uint16_t> out = be;
  const bool swap_words = order == Order::kDCBA || order == Order::kCDAB;
  const bool swap_bytes = order == Order::kDCBA || order == Order::kBADC;
  if (swap_words) std::reverse(out.begin(), out.end());
  if (swap_bytes) {
    for (auto& r : out) r = static_cast<std::uint16_t>((r >> 8) | (r << 8));
  }
  return out;
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const auto type = static_cast<DataType>(data[0] % 10);
  const auto order = static_cast<Order>(data[1] % 4);
  std::vector<std::uint16_t> regs;
  for (std::size_t i = 2; i + 1 < size; i += 2) {
    regs.push_back(static_cast<std::uint16_t>((data[i] << 8) | data[i + 1]));
  }
  if (type == DataType::kString) {
    const std::string s = pn::modbus::DecodeString(regs, order);
    if (s.size() > regs.size() * 2) std::abort();
    return 0;
  }
  const auto n = static_cast<std::size_t>(pn::modbus::RegisterCount(type));
  if (regs.size() < n) return 0;
  regs.resize(n);
  const double abcd = pn::modbus::DecodeNumber(regs, type, Order::kABCD);
  const double v = pn::modbus::DecodeNumber(Relayout(regs, order), type, order);
  if (!SameBits(abcd, v)) std::abort();
  (void)pn::modbus::Scale(v, 0.1, -40.0);
  return 0;
}
