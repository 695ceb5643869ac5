// The file upstream: JSON lines appended, acknowledged only after a successful write.
#include "gateway/upstream/file/file_upstream.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace pn;
namespace fs = std::filesystem;

namespace {
std::vector<Record> MakeRecords(int n, std::uint64_t first_seq) {
  std::vector<Record> out;
  for (int i = 0; i < n; ++i) {
    Reading r{"dev", "s", static_cast<double>(i), "", Quality::kGood, i};
    NewRecord nr = ToRecord(r);
    out.push_back(Record{first_seq + static_cast<std::uint64_t>(i), nr.kind, nr.ts_ns, nr.device,
                         nr.series, nr.body});
  }
  return out;
}
std::vector<std::string> Lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}
}  // namespace

TEST_CASE("records are appended as one JSON line each and acknowledged") {
  fs::path path = fs::temp_directory_path() / ("pn-file-up-" + std::to_string(::getpid()));
  fs::remove(path);
  file_upstream::FileUpstream up("out", "gw", {path.string(), true});
  REQUIRE(up.Start().ok());
  auto recs = MakeRecords(3, 10);
  SendResult r = up.Send(recs);
  CHECK(r.code == SendCode::kOk);
  CHECK(r.delivered == 3);
  r = up.Send(MakeRecords(2, 13));
  CHECK(r.delivered == 2);
  up.Stop();
  auto lines = Lines(path);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0].rfind(R"({"gateway":"gw","seq":10,"type":"reading")", 0) == 0);
  CHECK(lines[4].rfind(R"({"gateway":"gw","seq":14,)", 0) == 0);
  fs::remove(path);
}

TEST_CASE("an unopenable path is a retryable error, not an acknowledgement") {
  file_upstream::FileUpstream up("out", "gw", {"/nonexistent-dir/out.jsonl", false});
  CHECK_FALSE(up.Start().ok());
  SendResult r = up.Send(MakeRecords(1, 1));
  CHECK(r.code == SendCode::kRetry);
  CHECK(r.delivered == 0);
  CHECK(r.error.find("/nonexistent-dir/out.jsonl") != std::string::npos);
}

TEST_CASE("a full device is a retryable error and nothing is acknowledged") {
  if (!fs::exists("/dev/full")) {
    MESSAGE("not run: no /dev/full here");
    return;
  }
  file_upstream::FileUpstream up("out", "gw", {"/dev/full", false});
  REQUIRE(up.Start().ok());
  SendResult r = up.Send(MakeRecords(100, 1));
  CHECK(r.code == SendCode::kRetry);
  CHECK(r.delivered == 0);
  CHECK(r.error.find("No space left on device") != std::string::npos);
}

TEST_CASE("a partial last line left by a killed writer is ended before new records") {
  fs::path path = fs::temp_directory_path() / ("pn-file-up-partial-" + std::to_string(::getpid()));
  std::ofstream(path) << "{\"gateway\":\"gw\",\"seq\":1}\n{\"gateway\":\"gw\",\"se";
  file_upstream::FileUpstream up("out", "gw", {path.string(), false});
  REQUIRE(up.Start().ok());
  REQUIRE(up.Send(MakeRecords(1, 2)).code == SendCode::kOk);
  up.Stop();
  auto lines = Lines(path);
  REQUIRE(lines.size() == 3);
  CHECK(lines[1] == "{\"gateway\":\"gw\",\"se");
  CHECK(lines[2].rfind(R"({"gateway":"gw","seq":2,)", 0) == 0);
  fs::remove(path);
}

TEST_CASE("a file over 4 GiB is appended to and its partial last line ended (large files)") {
  // Sparse: 5 GiB of holes, then a partial line. A 32-bit build without large file support
  // cannot fstat (or, on a 32-bit kernel, even open) it.
  fs::path path = fs::temp_directory_path() / ("pn-file-up-large-" + std::to_string(::getpid()));
  fs::remove(path);
  std::ofstream(path).close();
  std::error_code ec;
  fs::resize_file(path, std::uintmax_t{5} << 30, ec);
  if (ec) {
    MESSAGE("not run: " << path << " cannot be 5 GiB here: " << ec.message());
    fs::remove(path);
    return;
  }
  std::ofstream(path, std::ios::app) << "{\"gateway\":\"gw\",\"se";
  file_upstream::FileUpstream up("out", "gw", {path.string(), false});
  REQUIRE(up.Start().ok());
  REQUIRE(up.Send(MakeRecords(1, 2)).code == SendCode::kOk);
  up.Stop();
  const std::uintmax_t size = fs::file_size(path);
  CHECK(size > (std::uintmax_t{5} << 30));
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(std::uintmax_t{5} << 30));
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(tail.rfind("{\"gateway\":\"gw\",\"se\n{\"gateway\":\"gw\",\"seq\":2,", 0) == 0);
  CHECK(tail.ends_with('\n'));
  fs::remove(path);
}
