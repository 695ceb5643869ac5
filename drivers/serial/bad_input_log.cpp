#include "drivers/serial/bad_input_log.h"

#include <spdlog/spdlog.h>

namespace pn::serial {

BadInputLog::BadInputLog(std::string driver, std::string what, const Clock* clock,
                         std::int64_t interval_ns)
    : driver_(std::move(driver)),
      what_(std::move(what)),
      clock_(clock),
      interval_ns_(interval_ns) {}

bool BadInputLog::Record(std::string_view reason, std::string_view sample) {
  ++total_;
  ++since_log_;
  const std::int64_t now = clock_->MonotonicNs();
  if (logged_ && now - last_log_ns_ < interval_ns_) return false;
  if (!logged_) {
    spdlog::warn(
        "driver {}: {}: {}: \"{}\" (further ones are logged at most every {} s, with a "
        "count)",
        driver_, what_, reason, Escape(sample), interval_ns_ / 1'000'000'000);
  } else {
    spdlog::warn("driver {}: {} {} in the last {} s ({} in total); last: {}: \"{}\"", driver_,
                 since_log_, what_ + (since_log_ == 1 ? "" : "s"),
                 (now - last_log_ns_) / 1'000'000'000, total_, reason, Escape(sample));
  }
  logged_ = true;
  last_log_ns_ = now;
  since_log_ = 0;
  return true;
}

std::string BadInputLog::Escape(std::string_view s, std::size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const std::size_t n = std::min(s.size(), max);
  out.reserve(n + 8);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace pn::serial
