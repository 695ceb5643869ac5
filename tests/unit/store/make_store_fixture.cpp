// Makes tests/unit/store/fixtures/store_v1.db with the store code of this build, following the
// recipe in store_fixture.h. Run by hand (see fixtures/README.md), never by the tests:
//   make_store_fixture OUT.db
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "gateway/store/store.h"
#include "tests/unit/store/store_fixture.h"

namespace {

using namespace pn;
using namespace pn::store_fixture;

int Fail(const Status& s) {
  std::fprintf(stderr, "make_store_fixture: %s\n", s.message().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_store_fixture OUT.db\n");
    return 2;
  }
  const std::string path = argv[1];
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix, ec);
  FakeClock clock(kFixtureStart);
  const std::vector<std::string> upstreams = {"archive", "cloud"};
  StoreOptions opt;
  opt.path = path;
  opt.max_age_s = kFixtureMaxAgeS;
  opt.clock = &clock;
  opt.boot_id = kFixtureBootId;
  {
    auto store = Store::Open(opt, upstreams);
    if (!store) return Fail(store.error());
    std::vector<NewRecord> old;
    for (std::uint64_t s = 1; s <= kAgedRecords; ++s) old.push_back(FixtureRecord(s));
    if (auto r = (*store)->Append(old); !r) return Fail(r.error());
    clock.Advance(7200 * kSecond);
    std::vector<NewRecord> fresh;
    for (std::uint64_t s = kAgedRecords + 1; s <= kLastSeq; ++s) fresh.push_back(FixtureRecord(s));
    if (auto r = (*store)->Append(fresh); !r) return Fail(r.error());
  }
  opt.max_bytes = 256 * 1024;
  opt.full_policy = FullPolicy::kRejectNew;
  auto store = Store::Open(opt, upstreams);
  if (!store) return Fail(store.error());
  std::vector<NewRecord> big(kRejected, FixtureRecord(kLastSeq));
  for (NewRecord& r : big) r.body.append(100 * 1000, ' ');
  Result<AppendResult> refused = (*store)->Append(big);  // too big for max_bytes: rejected
  if (!refused) return Fail(refused.error());
  if (Status s = (*store)->Ack("archive", kArchiveCursor); !s.ok()) return Fail(s);
  if (Status s = (*store)->Ack("cloud", kCloudCursor); !s.ok()) return Fail(s);
  StoreStats st = (*store)->Stats();
  if (st.last_seq != kLastSeq || st.records != kLastSeq - kFirstHeld + 1 ||
      st.drops.age != kAgedRecords || st.drops.rejected != kRejected ||
      refused->rejected != kRejected) {
    std::fprintf(stderr, "make_store_fixture: unexpected content: last_seq %llu, %llu records\n",
                 static_cast<unsigned long long>(st.last_seq),
                 static_cast<unsigned long long>(st.records));
    return 1;
  }
  store->reset();  // the last connection checkpoints the WAL into the file and removes it
  std::printf("wrote %s (%llu bytes)\n", path.c_str(),
              static_cast<unsigned long long>(std::filesystem::file_size(path)));
  return 0;
}
