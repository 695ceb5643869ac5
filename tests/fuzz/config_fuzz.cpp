// Fuzzes the configuration path users feed us: TOML text -> tree -> full gateway validation
// (every driver and upstream spec). Any input must give a config or a list of errors, never a
// crash, hang or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/config/gateway_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = pn::config::LoadString(text, "fuzz.toml", "/nonexistent", false);
  if (!cfg) (void)cfg.error().ToString();
  return 0;
}
