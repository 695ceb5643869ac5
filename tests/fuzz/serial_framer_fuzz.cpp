// Fuzzes the serial LineFramer: the first byte picks the terminator and the chunk size, the rest
// is the byte stream. Checks that no line is longer than the limit and the buffer stays bounded.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "drivers/serial/line_framer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const char* kTerms[] = {"\n", "\r\n", "\r", "*\x03"};
  const std::size_t max = 32;
  pn::serial::LineFramer f(kTerms[data[0] & 3], max);
  const std::size_t chunk = 1 + (data[0] >> 2);
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  while (!in.empty()) {
    const std::size_t n = in.size() < chunk ? in.size() : chunk;
    f.Feed(in.substr(0, n), [&](std::string_view line) {
      if (line.size() > max + chunk) std::abort();
    });
    if (f.pending() > max + chunk) std::abort();
    in.remove_prefix(n);
  }
  return 0;
}
