// Fuzzes what a Sparkplug edge node decodes from the broker: an NCMD payload (protobuf, checked
// for Node Control/Rebirth) and a primary host's STATE payload (JSON). The first byte picks the
// decoder. Checks that a STATE that parses has a timestamp the tracker then orders by.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gateway/upstream/sparkplug/sparkplug_session.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t* body = data + 1;
  const std::size_t n = size - 1;
  if (data[0] & 1) {
    (void)pn::sparkplug::IsRebirthCommand(body, n);
    return 0;
  }
  std::string_view payload(reinterpret_cast<const char*>(body), n);
  if (auto st = pn::sparkplug::ParseHostState(payload)) {
    pn::sparkplug::HostTracker t;
    if (!t.Observe(*st) || t.online() != st->online) std::abort();
    if (st->timestamp > 0 && t.Observe({!st->online, st->timestamp - 1})) std::abort();
  }
  return 0;
}
