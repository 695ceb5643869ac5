// BadInputLog: counts rejected input (bad lines, bad checksums, line noise, unparseable MQTT
// payloads) and logs it rate-limited: the first one at once, then at most one line per interval
// with the count since the last log line and the last reason and sample. Never fatal.
//
// Samples are truncated and escaped (non-printable bytes as \xNN), so line noise cannot corrupt
// the log. Callers must not pass secrets as samples. Thread-safety: none; one per driver thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace pn::serial {

class BadInputLog {
 public:
  // `what` names the input in the log ("bad line", "bad payload").
  BadInputLog(std::string driver, std::string what, const Clock* clock,
              std::int64_t interval_ns = 10'000'000'000);

  // Counts one rejected input; may log. Returns true when it logged.
  bool Record(std::string_view reason, std::string_view sample);

  std::uint64_t total() const { return total_; }

  // "abc\x01" for the bytes a b c 0x01; at most `max` input bytes, then "...".
  static std::string Escape(std::string_view s, std::size_t max = 80);

 private:
  std::string driver_;
  std::string what_;
  const Clock* clock_;
  std::int64_t interval_ns_;
  std::int64_t last_log_ns_ = 0;
  bool logged_ = false;
  std::uint64_t total_ = 0;
  std::uint64_t since_log_ = 0;
};

}  // namespace pn::serial
