// Fuzzes the serial regex parser: the input is "PATTERN\nLINE" (a user pattern and a line), and
// the whole input is also parsed as a line by a fixed pattern with named and unnamed groups.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "drivers/serial/line_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto fixed = pn::serial::MakeRegexParser(
      R"(^(?<temperature>[-+0-9.eE]+)\s*([^,]*),(?<humidity>\S+)?(.*)$)", {"", "x", "", "y"});
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<pn::serial::Field> out;
  (void)(*fixed)->Parse(in, out);
  const std::size_t nl = in.find('\n');
  if (nl != std::string_view::npos && nl < 256) {
    auto p = pn::serial::MakeRegexParser(std::string(in.substr(0, nl)), {"a", "", "b"});
    if (p) {
      out.clear();
      (void)(*p)->Parse(in.substr(nl + 1), out);
    }
  }
  return 0;
}
