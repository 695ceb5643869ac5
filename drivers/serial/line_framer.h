// LineFramer: splits a byte stream into lines at a terminator. Pure and allocation-light.
//
// Bytes arrive in arbitrary chunks (a read() returns what the UART had); Feed() calls `on_line`
// for every complete line with the terminator removed (and, when the terminator is "\n", a
// trailing '\r' too, so CRLF and LF sensors both work). A line longer than `max_line_bytes` is
// dropped up to its terminator and counted in overflows(): line noise without terminators cannot
// grow memory without bound. Thread-safety: none; one framer per driver thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pn::serial {

class LineFramer {
 public:
  // REQUIRES: !terminator.empty(), max_line_bytes > 0.
  LineFramer(std::string terminator, std::size_t max_line_bytes)
      : term_(std::move(terminator)), max_(max_line_bytes) {}

  template <typename OnLine>
  void Feed(std::string_view bytes, OnLine&& on_line) {
    while (!bytes.empty()) {
      // Search the pending tail plus new bytes for the terminator, without re-scanning the
      // whole buffer: only the last term_.size()-1 buffered bytes can start a terminator.
      const std::size_t keep = std::min(buf_.size(), term_.size() - 1);
      const std::size_t base = buf_.size() - keep;
      buf_.append(bytes.data(), bytes.size());
      bytes = {};
      std::size_t from = 0;
      std::size_t pos = buf_.find(term_, base);
      while (pos != std::string::npos) {
        Emit(std::string_view(buf_).substr(from, pos - from), on_line);
        from = pos + term_.size();
        pos = buf_.find(term_, from);
      }
      buf_.erase(0, from);
      if (buf_.size() > max_) {
        // Keep only what could start a terminator; drop the rest until the next terminator.
        if (!discarding_) ++overflows_;
        discarding_ = true;
        buf_.erase(0, buf_.size() - std::min(buf_.size(), term_.size() - 1));
      }
    }
  }

  // Drops a partial line (after a reopen, the rest of it is gone).
  void Reset() {
    buf_.clear();
    discarding_ = false;
  }

  std::uint64_t overflows() const { return overflows_; }
  std::size_t pending() const { return buf_.size(); }

 private:
  template <typename OnLine>
  void Emit(std::string_view line, OnLine& on_line) {
    if (discarding_) {
      discarding_ = false;  // the tail of an overlong line
      return;
    }
    if (term_ == "\n" && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    on_line(line);
  }

  std::string term_;
  std::size_t max_;
  std::string buf_;
  bool discarding_ = false;
  std::uint64_t overflows_ = 0;
};

}  // namespace pn::serial
