// Fuzzes the serial csv parser with a line (two column layouts, two separators).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "drivers/serial/line_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto comma = pn::serial::MakeCsvParser({"_", "a", "b", ""}, ',');
  static const auto semi = pn::serial::MakeCsvParser({"a"}, ';');
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<pn::serial::Field> out;
  (void)(*comma)->Parse(in, out);
  (void)(*semi)->Parse(in, out);
  return 0;
}
