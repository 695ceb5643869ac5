// Fuzzes rule files (user input): TOML text -> rule loading with every detector, health model
// and expression parser behind it. Any input must give an engine or a list of errors.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rules/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  pn::config::ErrorList errors;
  auto engine = pn::rules::Engine::LoadString(text, "fuzz.toml", errors);
  if (engine) {
    // Feed a few readings, including non-finite ones, through whatever rules parsed.
    std::vector<pn::Event> events;
    const double values[] = {0.0, 1e308, -1e308, 42.0, __builtin_nan(""), __builtin_inf()};
    std::int64_t ts = 0;
    for (double v : values) {
      pn::Reading r{"dev-1", "temperature", v, "", pn::Quality::kGood, ts += 1'000'000'000};
      engine->Process(r, events);
    }
  }
  return 0;
}
