// Fuzzes the replay CSV reader (recorded data from outside): separator detection, quoting,
// ISO and numeric time parsing, device splitting. The input becomes the CSV file; a fixed rule
// file with a z-score-free threshold rule runs over it.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "rules/replay/replay.h"

namespace {
std::string Dir() {
  static const std::string dir = [] {
    std::string d = "/tmp/pn-replay-fuzz-" + std::to_string(::getpid());
    ::mkdir(d.c_str(), 0700);
    std::ofstream(d + "/rules.toml") << "[[rule]]\nname = \"t\"\nseries = [\"*\"]\n"
                                        "[rule.detector]\ntype = \"threshold\"\nabove = 10.0\n";
    return d;
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string dir = Dir();
  {
    std::ofstream csv(dir + "/data.csv", std::ios::binary | std::ios::trunc);
    csv.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  pn::rules::ReplayOptions o;
  o.rules_files = {dir + "/rules.toml"};
  o.csv = dir + "/data.csv";
  if (size > 0 && data[0] % 2 == 0) o.device_column = "unit";
  std::ostringstream out, err;
  (void)pn::rules::RunReplay(o, out, err);
  (void)pn::rules::ParseIsoTimeMs(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
