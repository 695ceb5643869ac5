// LineFramer: terminators across chunk boundaries, CRLF, overlong lines.
#include "drivers/serial/line_framer.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace pn::serial {

namespace {
std::vector<std::string> FeedAll(LineFramer& f, const std::vector<std::string>& chunks) {
  std::vector<std::string> lines;
  for (const auto& c : chunks) f.Feed(c, [&](std::string_view l) { lines.emplace_back(l); });
  return lines;
}
}  // namespace

TEST_CASE("LineFramer: LF and CRLF lines, split across chunks, partial line kept") {
  LineFramer f("\n", 100);
  auto lines = FeedAll(f, {"a=1\r\nb=", "2\n\nc", "=3"});
  CHECK(lines == std::vector<std::string>{"a=1", "b=2", ""});
  CHECK(f.pending() == 3);
  f.Reset();
  CHECK(FeedAll(f, {"\n"}) == std::vector<std::string>{""});
}

TEST_CASE("LineFramer: a multi-byte terminator split between two reads") {
  LineFramer f("\r\n", 100);
  auto lines = FeedAll(f, {"x=1\r", "\ny=2\r", "\n"});
  CHECK(lines == std::vector<std::string>{"x=1", "y=2"});
  // With "\r\n" a lone CR stays part of the line.
  CHECK(FeedAll(f, {"a\rb\r\n"}) == std::vector<std::string>{"a\rb"});
}

TEST_CASE("LineFramer: an overlong line is dropped up to its terminator and counted once") {
  LineFramer f("\n", 16);
  auto lines = FeedAll(
      f, {std::string(10, 'x'), std::string(10, 'y'), std::string(30, 'z'), "tail\nok=1\n"});
  CHECK(lines == std::vector<std::string>{"ok=1"});
  CHECK(f.overflows() == 1);
  CHECK(f.pending() == 0);
  // Noise with no terminator at all stays bounded.
  for (int i = 0; i < 100; ++i) FeedAll(f, {std::string(1000, '\x01')});
  CHECK(f.pending() < 16);
  CHECK(f.overflows() == 2);
}

}  // namespace pn::serial

#include "drivers/serial/bad_input_log.h"

namespace pn::serial {

TEST_CASE("BadInputLog: logs the first at once, then at most once per interval, counts all") {
  FakeClock clock(0);
  BadInputLog log("d", "bad line", &clock, 10'000'000'000);
  CHECK(log.Record("r", "x"));
  for (int i = 0; i < 100; ++i) CHECK_FALSE(log.Record("r", "x"));
  clock.Advance(10'000'000'000);
  CHECK(log.Record("r", "x"));
  CHECK(log.total() == 102);
  CHECK(BadInputLog::Escape("a\x01\"b", 80) == "a\\x01\\\"b");
  CHECK(BadInputLog::Escape(std::string(100, 'z'), 4) == "zzzz...");
}

}  // namespace pn::serial
