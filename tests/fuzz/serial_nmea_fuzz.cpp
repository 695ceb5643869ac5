// Fuzzes the NMEA 0183 parser. Half the inputs get a correct checksum appended, so the fuzzer
// reaches the sentence decoders instead of stopping at checksum verification.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "drivers/serial/line_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto strict = pn::serial::MakeNmeaParser(true);
  static const auto lax = pn::serial::MakeNmeaParser(false);
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<pn::serial::Field> out;
  (void)strict->Parse(in, out);
  (void)lax->Parse(in, out);
  if (!in.empty() && (in[0] & 1)) {
    char cs[4];
    std::snprintf(cs, sizeof cs, "%02X", pn::serial::NmeaChecksum(in.substr(1)));
    std::string s = "$" + std::string(in.substr(1)) + "*" + cs;
    out.clear();
    (void)strict->Parse(s, out);
  }
  return 0;
}
