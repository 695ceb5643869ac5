// Fuzzes the serial key=value parser with a line (all keys; a key list with ':').
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "drivers/serial/line_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto all = pn::serial::MakeKeyValueParser({}, '=');
  static const auto some = pn::serial::MakeKeyValueParser({"T", "H"}, ':');
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<pn::serial::Field> out;
  (void)(*all)->Parse(in, out);
  (void)(*some)->Parse(in, out);
  return 0;
}
