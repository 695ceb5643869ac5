// Fuzzes what the store does with a database file it did not write (outside input: a damaged
// disk, another program's file, a file from a newer version): InspectStore (the read-only view
// behind `processnow buffer`) and Store::Open with CorruptPolicy::kFail must return a Status,
// never crash, and an opened store must keep its contracts for a few calls.
// Seed it with a real store file, e.g. one written by the store unit tests.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/record.h"
#include "gateway/store/store.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/pn_store_file_fuzz." + std::to_string(getpid()) + ".db";
  static bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  for (const char* s : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + s);
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  (void)pn::InspectStore(path);
  pn::StoreOptions opt;
  opt.path = path;
  opt.max_bytes = 256 * 1024;
  opt.max_age_s = 3600;
  opt.boot_id = "fuzz";
  {
    auto store = pn::Store::Open(opt, {"a", "b"});
    if (store) {
      pn::Store& s = **store;
      (void)s.ReadAfter(0, 64);
      pn::NewRecord r;
      r.device = "d";
      r.series = "s";
      r.body = R"({"type":"reading"})";
      std::uint64_t before = s.LastSeq();
      auto appended = s.Append(std::span<const pn::NewRecord>(&r, 1));
      if (appended) {
        // Numbers never go back; the record gets the next one unless it was rejected.
        const std::uint64_t expected = appended->rejected == 0 ? before + 1 : before;
        if (appended->last_seq != expected) __builtin_trap();
      }
      (void)s.Ack("a", s.LastSeq());
      (void)s.Stats();
    }
  }  // closed before the files are removed
  for (const char* s : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + s);
  return 0;
}
