// Upgrades and downgrades of the store file (gateway/store/store_schema.h, kSchemaVersion):
// - fixtures/store_v1.db, written by an earlier build (make_store_fixture.cpp, recipe in
//   store_fixture.h), opens with today's code with every record, cursor and drop counter;
// - a file whose user_version is newer than this build's schema is refused with an error naming
//   both versions and left byte-identical, under both on_corrupt policies (never moved aside).
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "gateway/store/store.h"
#include "tests/unit/store/store_fixture.h"

namespace pn {
namespace {

namespace fs = std::filesystem;
using namespace store_fixture;

const std::string kFixture = std::string(PN_SOURCE_DIR) + "/tests/unit/store/fixtures/store_v1.db";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pn_store_upgrade.XXXXXX";
    const char* dir = mkdtemp(tmpl);
    REQUIRE(dir != nullptr);
    path_ = dir;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  std::set<std::string> Names() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(path_)) out.insert(e.path().filename().string());
    return out;
  }

 private:
  fs::path path_;
};

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

StoreOptions Options(const std::string& path, const Clock* clock) {
  StoreOptions opt;
  opt.path = path;
  opt.clock = clock;
  opt.boot_id = kFixtureBootId;  // the fixture's boot: no reboot skip of the sequence numbers
  return opt;
}

// Sets PRAGMA user_version with the sqlite3 C API (as a newer build would have written it).
void SetUserVersion(const std::string& path, int version) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  std::string sql = "PRAGMA user_version = " + std::to_string(version);
  CHECK(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);  // the last connection checkpoints the WAL into the file and removes it
  REQUIRE_FALSE(fs::exists(path + "-wal"));
}

TEST_CASE("the fixture written by an earlier build is a plain file of a few KB") {
  REQUIRE(fs::exists(kFixture));
  CHECK(fs::file_size(kFixture) < 64 * 1024);
  CHECK_FALSE(fs::exists(kFixture + "-wal"));
}

TEST_CASE("today's build opens the fixture with every record, cursor and drop counter") {
  TempDir dir;
  const std::string path = dir.File("buffer.db");
  fs::copy_file(kFixture, path);  // Open writes (WAL, new records): never touch the original
  FakeClock clock(kFixtureStart + 7200 * kSecond + 60 * kSecond);

  SUBCASE("InspectStore (processnow buffer) reads it without writing") {
    auto rep = InspectStore(path);
    REQUIRE_MESSAGE(rep.has_value(), rep.error().message());
    CHECK(rep->records == kLastSeq - kFirstHeld + 1);
    CHECK(rep->first_seq == kFirstHeld);
    CHECK(rep->last_seq == kLastSeq);
    CHECK(rep->drops.age == kAgedRecords);
    CHECK(rep->drops.rejected == kRejected);
    CHECK(rep->drops.size_readings == 0);
    CHECK(rep->drops.size_events == 0);
    REQUIRE(rep->upstreams.size() == 2);
    CHECK(rep->upstreams[0].name == "archive");
    CHECK(rep->upstreams[0].cursor == kArchiveCursor);
    CHECK(rep->upstreams[0].depth == kLastSeq - kArchiveCursor);
    CHECK(rep->upstreams[1].name == "cloud");
    CHECK(rep->upstreams[1].cursor == kCloudCursor);
    CHECK(rep->upstreams[1].depth == kLastSeq - kCloudCursor);
    CHECK(ReadBytes(path) == ReadBytes(kFixture));
  }

  SUBCASE("Store::Open keeps everything and carries on from it") {
    auto opened = Store::Open(Options(path, &clock), {"archive", "cloud"});
    REQUIRE_MESSAGE(opened.has_value(), opened.error().message());
    Store& store = **opened;
    CHECK(store.LastSeq() == kLastSeq);
    CHECK(store.Cursor("archive") == kArchiveCursor);
    CHECK(store.Cursor("cloud") == kCloudCursor);
    StoreDrops d = store.Drops();
    CHECK(d.age == kAgedRecords);
    CHECK(d.rejected == kRejected);
    CHECK(d.size_readings == 0);
    CHECK(d.size_events == 0);
    StoreStats st = store.Stats();
    CHECK(st.records == kLastSeq - kFirstHeld + 1);
    CHECK(st.first_seq == kFirstHeld);

    auto recs = store.ReadAfter(0, 100);
    REQUIRE(recs.has_value());
    REQUIRE(recs->size() == kLastSeq - kFirstHeld + 1);
    for (std::size_t i = 0; i < recs->size(); ++i) {
      const Record& got = (*recs)[i];
      const std::uint64_t seq = kFirstHeld + i;
      const NewRecord want = FixtureRecord(seq);
      CAPTURE(seq);
      CHECK(got.seq == seq);
      CHECK(got.kind == want.kind);
      CHECK(got.ts_ns == want.ts_ns);
      CHECK(got.device == want.device);
      CHECK(got.series == want.series);
      CHECK(got.body == want.body);
    }
    auto after_cloud = store.ReadAfter(kCloudCursor, 100);
    REQUIRE(after_cloud.has_value());
    REQUIRE_FALSE(after_cloud->empty());
    CHECK(after_cloud->front().seq == kCloudCursor + 1);

    // New records continue the old numbering; acknowledging works on the old cursors.
    auto appended = store.Append(std::vector<NewRecord>{FixtureRecord(kLastSeq + 1)});
    REQUIRE(appended.has_value());
    CHECK(appended->last_seq == kLastSeq + 1);
    CHECK(appended->rejected == 0);
    CHECK(store.Ack("archive", kLastSeq + 1).ok());
    CHECK(store.Ack("cloud", kLastSeq + 1).ok());
    CHECK(store.Stats().records == 0);
  }
}

TEST_CASE("a file from a newer schema is refused, names both versions and is left untouched") {
  for (CorruptPolicy policy : {CorruptPolicy::kFail, CorruptPolicy::kMoveAside}) {
    CAPTURE(static_cast<int>(policy));
    TempDir dir;
    const std::string path = dir.File("buffer.db");
    fs::copy_file(kFixture, path);
    SetUserVersion(path, 7);
    const std::string before = ReadBytes(path);
    const std::set<std::string> names = dir.Names();

    FakeClock clock(kFixtureStart);
    StoreOptions opt = Options(path, &clock);
    opt.on_corrupt = policy;
    auto opened = Store::Open(opt, {"archive", "cloud"});
    REQUIRE_FALSE(opened.has_value());
    const std::string msg = opened.error().message();
    CAPTURE(msg);
    CHECK(opened.error().code() != Code::kCorruption);  // never treated as a damaged file
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("schema version 7") != std::string::npos);
    CHECK(msg.find("version 1") != std::string::npos);
    CHECK(msg.find("newer") != std::string::npos);
    CHECK(msg.find("downgrade") != std::string::npos);

    CHECK(ReadBytes(path) == before);
    CHECK(dir.Names() == names);  // no .corrupt-* copy, no -wal or -shm left behind

    // `processnow buffer` says the same and does not change the database file either (as a
    // read-only WAL reader it may leave an empty -wal and the -shm index behind).
    auto rep = InspectStore(path);
    REQUIRE_FALSE(rep.has_value());
    CHECK(rep.error().message().find("schema version 7") != std::string::npos);
    CHECK(ReadBytes(path) == before);
  }
}

}  // namespace
}  // namespace pn
