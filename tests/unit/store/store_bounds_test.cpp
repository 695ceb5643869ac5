// Tests for the store's bounds and recovery: max_bytes with drop_oldest (readings before events)
// and reject_new, max_age_s, persisted drop counters, cursors over dropped records, a full disk
// (RLIMIT_FSIZE in a forked child), corrupt/foreign files moved aside, and InspectStore.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/reading.h"
#include "core/record.h"
#include "gateway/store/store.h"

namespace pn {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kStart = 1'700'000'000 * kSecond;  // a fixed wall-clock time

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pn_store_bounds.XXXXXX";
    const char* dir = mkdtemp(tmpl);
    REQUIRE(dir != nullptr);
    path_ = dir;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A record whose body is about 200 bytes; every `event_every`-th one is an event.
NewRecord Rec(std::uint64_t i, std::int64_t ts_ns, bool event) {
  NewRecord r;
  r.kind = event ? RecordKind::kEvent : RecordKind::kReading;
  r.ts_ns = ts_ns;
  r.device = fmt::format("pump{}", i % 7);
  r.series = "pressure";
  r.body =
      fmt::format(R"({{"type":"{}","i":{},"pad":"{:0>160}"}})", event ? "event" : "reading", i, i);
  return r;
}

std::vector<NewRecord> Batch(std::uint64_t first, std::size_t n, std::int64_t ts_ns,
                             int event_every = 0) {
  std::vector<NewRecord> v;
  for (std::size_t k = 0; k < n; ++k) {
    std::uint64_t i = first + k;
    v.push_back(Rec(i, ts_ns, event_every > 0 && i % static_cast<std::uint64_t>(event_every) == 0));
  }
  return v;
}

std::unique_ptr<Store> OpenOk(const StoreOptions& opt, const std::vector<std::string>& ups) {
  Result<std::unique_ptr<Store>> s = Store::Open(opt, ups);
  REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().ToString()));
  return std::move(*s);
}

// Appends a batch that must not fail; full_policy reject_new may refuse it.
AppendResult AppendOrReject(Store& store, const std::vector<NewRecord>& recs) {
  Result<AppendResult> r = store.Append(recs);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().ToString()));
  return *r;
}

// Appends a batch that must be stored (not failed, not rejected); returns its last seq.
std::uint64_t AppendOk(Store& store, const std::vector<NewRecord>& recs) {
  AppendResult r = AppendOrReject(store, recs);
  CHECK(r.rejected == 0);
  return r.last_seq;
}

std::vector<Record> ReadAll(Store& store, std::uint64_t after = 0) {
  Result<std::vector<Record>> r = store.ReadAfter(after, 10'000'000);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().ToString()));
  return std::move(*r);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::int64_t DiskBytes(const std::string& path) {
  std::error_code ec;
  std::int64_t n = 0;
  for (const char* suffix : {"", "-wal"}) {
    auto size = fs::file_size(path + suffix, ec);
    if (!ec) n += static_cast<std::int64_t>(size);
  }
  return n;
}

std::vector<std::string> CorruptCopies(const TempDir& dir, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    std::string f = e.path().filename().string();
    if (f.rfind(name + ".corrupt-", 0) == 0 && f.find("-wal") == std::string::npos) {
      out.push_back(e.path().string());
    }
  }
  return out;
}

TEST_CASE("drop_oldest keeps the store under max_bytes and drops readings before events") {
  TempDir dir;
  FakeClock clock(kStart);
  StoreOptions opt;
  opt.path = dir.File("buf.db");
  opt.max_bytes = 512 * 1024;
  opt.clock = &clock;
  auto store = OpenOk(opt, {"down"});  // never acknowledges: everything must be held or dropped

  std::uint64_t appended = 0;
  std::uint64_t events = 0;
  std::int64_t peak = 0;
  for (int b = 0; b < 100; ++b) {  // ~100 x 100 x 260 B = 2.6 MB into 512 KiB
    auto batch = Batch(appended + 1, 100, kStart, /*event_every=*/10);
    for (const auto& r : batch) events += r.kind == RecordKind::kEvent ? 1 : 0;
    appended = AppendOk(*store, batch);
    peak = std::max(peak, DiskBytes(opt.path));
  }
  StoreStats st = store->Stats();
  MESSAGE("peak on disk ", peak, " bytes; used ", st.bytes_used, "; drops ", st.drops.size_readings,
          " readings");
  CHECK(st.last_seq == 10000);
  CHECK(st.bytes_used <= opt.max_bytes);
  CHECK(peak <= opt.max_bytes + opt.max_bytes / 10);  // the WAL may overshoot its share a little
  CHECK(st.drops.size_readings > 5000);
  CHECK(st.drops.size_events == 0);
  CHECK(st.drops.age == 0);
  CHECK(st.drops.rejected == 0);
  // Every record is held or counted as dropped, and every event is still held.
  std::vector<Record> held = ReadAll(*store);
  CHECK(held.size() == st.records);
  CHECK(held.size() + st.drops.total() == appended);
  std::uint64_t held_events = 0;
  for (const Record& r : held) held_events += r.kind == RecordKind::kEvent ? 1 : 0;
  CHECK(held_events == events);
  // The newest readings are the ones kept.
  CHECK(held.back().seq == appended);
}

TEST_CASE("events are dropped by size only when no reading is left") {
  TempDir dir;
  StoreOptions opt;
  opt.path = dir.File("buf.db");
  opt.max_bytes = 256 * 1024;
  auto store = OpenOk(opt, {"down"});
  AppendOk(*store, Batch(1, 50, kStart));  // 50 readings
  std::uint64_t last = 50;
  for (int b = 0; b < 30; ++b) last = AppendOk(*store, Batch(last + 1, 100, kStart, 1));  // events
  StoreDrops d = store->Drops();
  CHECK(d.size_readings == 50);
  CHECK(d.size_events > 0);
  std::vector<Record> held = ReadAll(*store);
  for (const Record& r : held) CHECK(r.kind == RecordKind::kEvent);
  CHECK(held.size() + d.total() == last);
  CHECK(held.back().seq == last);
}

TEST_CASE("Append's result gives the last seq and how many records reject_new refused") {
  TempDir dir;
  StoreOptions opt;
  opt.path = dir.File("reject.db");
  opt.max_bytes = 256 * 1024;
  opt.full_policy = FullPolicy::kRejectNew;
  {
    auto store = OpenOk(opt, {"up"});
    AppendResult empty = AppendOrReject(*store, {});
    CHECK(empty.last_seq == 0);
    CHECK(empty.rejected == 0);

    AppendResult accepted = AppendOrReject(*store, Batch(1, 5, kStart));
    CHECK(accepted.last_seq == 5);
    CHECK(accepted.rejected == 0);

    // ~500 KB in one batch, against a 256 KiB bound: refused whole, and no number is used.
    AppendResult refused = AppendOrReject(*store, Batch(6, 2000, kStart));
    CHECK(refused.rejected == 2000);
    CHECK(refused.last_seq == 5);
    CHECK(store->LastSeq() == 5);
    CHECK(store->Drops().rejected == 2000);
    CHECK(store->Stats().records == 5);

    // The next batch that fits gets the next numbers.
    AppendResult next = AppendOrReject(*store, Batch(6, 3, kStart));
    CHECK(next.last_seq == 8);
    CHECK(next.rejected == 0);
  }
  // drop_oldest never rejects: the same batch is stored (numbered) and readings are dropped.
  opt.path = dir.File("drop.db");
  opt.full_policy = FullPolicy::kDropOldest;
  auto store = OpenOk(opt, {"up"});
  AppendResult stored = AppendOrReject(*store, Batch(1, 2000, kStart));
  CHECK(stored.last_seq == 2000);
  CHECK(stored.rejected == 0);
  CHECK(store->Drops().rejected == 0);
  CHECK(store->Drops().size_readings > 0);
}

TEST_CASE("reject_new refuses whole batches when full, counts them and accepts again later") {
  TempDir dir;
  StoreOptions opt;
  opt.path = dir.File("buf.db");
  opt.max_bytes = 256 * 1024;
  opt.full_policy = FullPolicy::kRejectNew;
  auto store = OpenOk(opt, {"up"});
  std::uint64_t last = 0;
  std::uint64_t rejected_batches = 0;
  for (int b = 0; b < 60; ++b) {
    const std::uint64_t before = store->LastSeq();
    AppendResult got = AppendOrReject(*store, Batch(last + 1, 100, kStart));
    if (got.rejected > 0) {
      CHECK(got.rejected == 100);     // the whole batch
      CHECK(got.last_seq == before);  // no number was used
      ++rejected_batches;
    } else {
      CHECK(got.last_seq == before + 100);
      last = got.last_seq;
    }
    CHECK(store->LastSeq() == got.last_seq);
  }
  StoreStats st = store->Stats();
  CHECK(rejected_batches > 0);
  CHECK(st.drops.rejected == rejected_batches * 100);
  CHECK(st.drops.size_readings == 0);
  CHECK(st.bytes_used <= opt.max_bytes);
  // Nothing committed was dropped: seqs 1..last are all held, no gaps.
  std::vector<Record> held = ReadAll(*store);
  REQUIRE(held.size() == last);
  for (std::size_t i = 0; i < held.size(); ++i) CHECK(held[i].seq == i + 1);
  // Once the upstream caught up, new batches are accepted again.
  REQUIRE(store->Ack("up", last).ok());
  CHECK(AppendOk(*store, Batch(last + 1, 100, kStart)) == last + 100);
}

TEST_CASE("max_age_s drops records older than the bound, oldest first") {
  TempDir dir;
  FakeClock clock(kStart);
  StoreOptions opt;
  opt.path = dir.File("buf.db");
  opt.max_age_s = 3600;
  opt.clock = &clock;
  auto store = OpenOk(opt, {"down"});
  AppendOk(*store, Batch(1, 300, kStart - 2 * 3600 * kSecond, 10));  // 2 h old, events too
  AppendOk(*store, Batch(301, 200, kStart - 1800 * kSecond));        // 30 min old
  clock.Advance(2 * kSecond);
  AppendOk(*store, Batch(501, 10, kStart));
  StoreDrops d = store->Drops();
  CHECK(d.age == 300);
  CHECK(d.size_readings + d.size_events + d.rejected == 0);
  std::vector<Record> held = ReadAll(*store);
  REQUIRE(held.size() == 210);
  CHECK(held.front().seq == 301);
  // 40 minutes later the 30-minute-old ones are over the hour too.
  clock.Advance(40 * 60 * kSecond);
  AppendOk(*store, Batch(511, 10, clock.NowNs()));
  CHECK(store->Drops().age == 500);
  CHECK(ReadAll(*store).front().seq == 501);
}

// A reading record as the rules stage writes it, with its clock mark.
NewRecord Marked(std::int64_t ts_ns, ClockMark mark, double value) {
  Reading r{"pump1", "pressure", value, "bar", Quality::kGood, ts_ns};
  r.clock = mark;
  return ToRecord(r);
}

TEST_CASE("max_age_s never drops a record whose time is unsynced, nor the younger ones behind it") {
  TempDir dir;
  FakeClock clock(kStart);
  StoreOptions opt;
  opt.path = dir.File("buf.db");
  opt.max_age_s = 3600;
  opt.clock = &clock;
  auto store = OpenOk(opt, {"down"});
  // Booted in 1970: its readings look 50 years old until the clock is corrected.
  AppendOk(*store, {Marked(kStart - 2 * 3600 * kSecond, ClockMark::kSynced, 1),
                    Marked(1000 * kSecond, ClockMark::kUnsynced, 2),
                    Marked(kStart - 2 * 3600 * kSecond, ClockMark::kCorrected, 3)});
  clock.Advance(kSecond);
  AppendOk(*store, {Marked(kStart, ClockMark::kSynced, 4)});
  // The synced old one before it went; the unsynced one stays and so does the one behind it.
  std::vector<Record> held = ReadAll(*store);
  REQUIRE(held.size() == 3);
  CHECK(held[0].seq == 2);
  CHECK(store->Drops().age == 1);
}

TEST_CASE("CorrectClock moves only this run's unsynced records in the range, column and body") {
  TempDir dir;
  FakeClock clock(kStart);
  StoreOptions opt;
  opt.path = dir.File("buf.db");
  opt.clock = &clock;
  auto store = OpenOk(opt, {"down"});
  const std::int64_t t0 = 1000 * kSecond;                   // the clock said 1970 at boot
  const std::int64_t offset = kStart - 2 * t0;              // what NTP's first sync found
  AppendOk(*store, {Marked(t0, ClockMark::kUnsynced, 1)});  // an earlier run (seq 1)
  const std::uint64_t run_start = store->LastSeq();
  AppendOk(*store,
           {Marked(t0, ClockMark::kUnsynced, 2), Marked(t0 + kSecond, ClockMark::kSynced, 3),
            Marked(t0 + 2 * kSecond, ClockMark::kUnsynced, 4),
            Marked(t0 + 60 * kSecond, ClockMark::kUnsynced, 5)});  // out of range
  Result<std::uint64_t> n = store->CorrectClock(run_start, t0, t0 + 2 * kSecond, offset);
  REQUIRE_MESSAGE(n.has_value(), (n ? "" : n.error().ToString()));
  CHECK(*n == 2);
  std::vector<Record> held = ReadAll(*store);
  REQUIRE(held.size() == 5);
  auto body_has = [](const Record& r, const std::string& text) {
    return r.body.find(text) != std::string::npos;
  };
  CHECK(held[0].ts_ns == t0);  // the earlier run's: its offset is unknown
  CHECK(body_has(held[0], R"("clock":"unsynced")"));
  CHECK(held[1].ts_ns == t0 + offset);
  CHECK(body_has(held[1], fmt::format(R"("ts_ns":{})", t0 + offset)));
  CHECK(body_has(held[1], R"("clock":"corrected")"));
  CHECK(body_has(held[1], R"("value":2)"));
  CHECK(held[2].ts_ns == t0 + kSecond);  // synced: never touched
  CHECK_FALSE(body_has(held[2], R"("clock")"));
  CHECK(held[3].ts_ns == t0 + 2 * kSecond + offset);
  CHECK(held[4].ts_ns == t0 + 60 * kSecond);
  CHECK(body_has(held[4], R"("clock":"unsynced")"));
  // Applying it again changes nothing: the corrected ones are no longer unsynced.
  n = store->CorrectClock(run_start, t0, t0 + 2 * kSecond, offset);
  REQUIRE(n.has_value());
  CHECK(*n == 0);
}

TEST_CASE("drop counters are persisted and survive a reopen") {
  TempDir dir;
  FakeClock clock(kStart);
  StoreOptions opt;
  opt.path = dir.File("buf.db");
  opt.max_bytes = 256 * 1024;
  opt.max_age_s = 60;
  opt.clock = &clock;
  StoreDrops before;
  {
    auto store = OpenOk(opt, {"down"});
    AppendOk(*store, Batch(1, 20, kStart - 120 * kSecond));
    clock.Advance(2 * kSecond);  // the age bound is checked at most once a second
    for (int b = 0; b < 30; ++b) AppendOk(*store, Batch(21 + b * 100, 100, kStart));
    before = store->Drops();
    CHECK(before.age == 20);
    CHECK(before.size_readings > 0);
  }
  opt.full_policy = FullPolicy::kRejectNew;
  {
    auto store = OpenOk(opt, {"down"});
    StoreDrops after = store->Drops();
    CHECK(after.age == before.age);
    CHECK(after.size_readings == before.size_readings);
    CHECK(store->Stats().drops.size_readings == before.size_readings);
    std::uint64_t last = store->LastSeq();
    AppendResult too_big = AppendOrReject(*store, Batch(last + 1, 2000, kStart));
    CHECK(too_big.rejected == 2000);
    CHECK(too_big.last_seq == last);
    CHECK(store->Drops().rejected == 2000);
  }
  auto store = OpenOk(opt, {"down"});
  CHECK(store->Drops().rejected == 2000);
  CHECK(store->Drops().age == 20);
}

TEST_CASE("a cursor below the first held record moves on over dropped records") {
  TempDir dir;
  StoreOptions opt;
  opt.path = dir.File("buf.db");
  opt.max_bytes = 256 * 1024;
  auto store = OpenOk(opt, {"slow", "fast"});
  std::uint64_t last = 0;
  for (int b = 0; b < 30; ++b) last = AppendOk(*store, Batch(last + 1, 100, kStart, 25));
  REQUIRE(store->Drops().size_readings > 0);
  // "slow" acknowledged nothing; what it reads next skips the holes and ends at the last record.
  std::uint64_t cursor = store->Cursor("slow");
  CHECK(cursor == 0);
  std::uint64_t prev = 0;
  std::size_t got = 0;
  for (int guard = 0; guard < 1000; ++guard) {
    Result<std::vector<Record>> r = store->ReadAfter(cursor, 64);
    REQUIRE(r.has_value());
    if (r->empty()) break;
    for (const Record& rec : *r) {
      CHECK(rec.seq > prev);
      prev = rec.seq;
    }
    got += r->size();
    cursor = r->back().seq;
    REQUIRE(store->Ack("slow", cursor).ok());
  }
  CHECK(cursor == last);
  CHECK(got == store->Stats().records);
  REQUIRE(store->Ack("fast", last).ok());
  CHECK(store->Stats().records == 0);
}

// Forks a child that runs `body` with RLIMIT_FSIZE = `limit` and SIGXFSZ ignored (like the
// daemon); returns its exit code. The child reports problems on stderr.
int InChildWithFileLimit(rlim_t limit, const std::function<int()>& body) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl {
      limit, limit
    };
    setrlimit(RLIMIT_FSIZE, &rl);
    _exit(body());
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

int FillUntilFull(const std::string& path, FullPolicy policy) {
  StoreOptions opt;
  opt.path = path;
  opt.full_policy = policy;  // no max_bytes: only the file size limit bounds it
  auto s = Store::Open(opt, {"down"});
  if (!s) {
    std::fprintf(stderr, "open: %s\n", s.error().ToString().c_str());
    return 10;
  }
  Store& store = **s;
  std::uint64_t failures = 0;
  std::uint64_t rejected = 0;      // as the results said
  for (int b = 0; b < 300; ++b) {  // 300 x 200 x ~260 B = 16 MB against an 8 MiB limit
    const std::uint64_t before = store.LastSeq();
    Result<AppendResult> r = store.Append(Batch(before + 1, 200, kStart, 20));
    if (!r) {
      ++failures;
      std::fprintf(stderr, "append %d: %s\n", b, r.error().ToString().c_str());
    } else if (r->rejected != 0) {
      if (r->rejected != 200 || r->last_seq != before) return 18;  // all or nothing
      rejected += r->rejected;
    } else if (r->last_seq != before + 200) {
      return 19;
    }
  }
  StoreStats st = store.Stats();
  std::fprintf(stderr, "last %llu held %llu drops r=%llu e=%llu rej=%llu failures %llu disk %lld\n",
               static_cast<unsigned long long>(st.last_seq),
               static_cast<unsigned long long>(st.records),
               static_cast<unsigned long long>(st.drops.size_readings),
               static_cast<unsigned long long>(st.drops.size_events),
               static_cast<unsigned long long>(st.drops.rejected),
               static_cast<unsigned long long>(failures), static_cast<long long>(st.bytes_on_disk));
  if (st.drops.total() == 0) return 11;  // the policy never applied
  if (failures > 10) return 12;          // the store did not recover from the full disk
  // Every committed record is held or counted.
  Result<std::vector<Record>> all = store.ReadAfter(0, 10'000'000);
  if (!all || all->size() != st.records) return 13;
  if (policy == FullPolicy::kDropOldest && st.records + st.drops.total() != st.last_seq) return 14;
  if (policy == FullPolicy::kRejectNew && st.records != st.last_seq) return 15;
  if (rejected != st.drops.rejected) return 20;  // each rejection was in a result
  // Still usable: the upstream acknowledges in batches (as a forwarder does), which deletes
  // records and makes room again, under the same limit.
  for (std::uint64_t seq = st.first_seq + 999; seq < st.last_seq + 1000; seq += 1000) {
    Status acked = store.Ack("down", std::min(seq, st.last_seq));
    if (!acked.ok()) {
      std::fprintf(stderr, "ack %llu: %s\n", static_cast<unsigned long long>(seq),
                   acked.ToString().c_str());
      return 16;
    }
  }
  Result<AppendResult> r = store.Append(Batch(st.last_seq + 1, 10, kStart));
  if (!r || r->rejected != 0 || r->last_seq != st.last_seq + 10) return 17;
  return 0;
}

TEST_CASE("a full disk (RLIMIT_FSIZE) applies drop_oldest and the store keeps working") {
  TempDir dir;
  const std::string path = dir.File("buf.db");
  CHECK(InChildWithFileLimit(8 << 20,
                             [&] { return FillUntilFull(path, FullPolicy::kDropOldest); }) == 0);
  // What the child committed is all there after a reopen without the limit.
  StoreOptions opt;
  opt.path = path;
  auto store = OpenOk(opt, {"down"});
  StoreStats st = store->Stats();
  CHECK(st.drops.size_readings > 0);
  CHECK(ReadAll(*store).size() == st.records);
}

TEST_CASE("a full disk (RLIMIT_FSIZE) with reject_new rejects new batches and loses nothing") {
  TempDir dir;
  const std::string path = dir.File("buf.db");
  CHECK(InChildWithFileLimit(8 << 20,
                             [&] { return FillUntilFull(path, FullPolicy::kRejectNew); }) == 0);
  StoreOptions opt;
  opt.path = path;
  auto store = OpenOk(opt, {"down"});
  CHECK(store->Drops().rejected > 0);
}

// Holds a read snapshot on the store's file from another connection (as `processnow buffer` or
// a slow forwarder read does), so no checkpoint can complete while it is held.
class SnapshotReader {
 public:
  explicit SnapshotReader(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return;
    held_ = sqlite3_exec(db_, "BEGIN; SELECT count(*) FROM records;", nullptr, nullptr, nullptr) ==
            SQLITE_OK;
  }
  ~SnapshotReader() {
    if (held_) sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }
  bool held() const { return held_; }

 private:
  sqlite3* db_ = nullptr;
  bool held_ = false;
};

// A full disk, with a reader that blocks checkpoints for a while and the disk-full hold expiring
// while it does, then the store trying to grow again with nobody reading: whatever failed while
// the reader held its snapshot, every Append after it lets go succeeds, and nothing committed
// is lost.
int FillWithBlockedCheckpoints(const std::string& path) {
  FakeClock clock(kStart);
  StoreOptions opt;
  opt.path = path;
  opt.clock = &clock;
  opt.full_policy = FullPolicy::kDropOldest;
  auto s = Store::Open(opt, {"down"});
  if (!s) return 10;
  Store& store = **s;
  for (int b = 0; b < 300; ++b) (void)store.Append(Batch(store.LastSeq() + 1, 200, kStart, 20));
  if (store.Stats().drops.total() == 0) return 11;  // never reached the limit
  for (int round = 0; round < 8; ++round) {
    {
      SnapshotReader reader(path);
      if (!reader.held()) return 12;
      for (int b = 0; b < 40; ++b) {
        if (b == 20) clock.Advance(61 * kSecond);  // the disk-full hold expires meanwhile
        (void)store.Append(Batch(store.LastSeq() + 1, 200, kStart, 20));  // may fail: held
      }
    }
    for (int b = 0; b < 10; ++b) {  // the store tries to grow again, a step a second
      clock.Advance(kSecond);
      Result<AppendResult> r = store.Append(Batch(store.LastSeq() + 1, 200, kStart, 20));
      if (!r) {
        std::fprintf(stderr, "round %d append %d after the reader let go: %s\n", round, b,
                     r.error().ToString().c_str());
        return 20 + round;
      }
    }
  }
  StoreStats st = store.Stats();
  Result<std::vector<Record>> all = store.ReadAfter(0, 10'000'000);
  if (!all || all->size() != st.records) return 30;
  if (st.records + st.drops.total() != st.last_seq) return 31;
  return 0;
}

TEST_CASE("a full disk with checkpoints blocked by a reader never wedges the store") {
  TempDir dir;
  const std::string path = dir.File("buf.db");
  CHECK(InChildWithFileLimit(8 << 20, [&] { return FillWithBlockedCheckpoints(path); }) == 0);
}

TEST_CASE("readers that always overlap a checkpoint do not let the WAL grow without bound") {
  TempDir dir;
  StoreOptions opt;
  opt.path = dir.File("buf.db");
  auto store = OpenOk(opt, {"down"});
  // Two readers take turns so that one of them holds a snapshot at almost every instant, as
  // forwarders and `processnow buffer` may: a passive checkpoint alone can then never finish.
  std::atomic<bool> stop{false};
  auto read_loop = [&] {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(opt.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db);
      return;
    }
    sqlite3_busy_timeout(db, 1000);
    while (!stop) {
      sqlite3_exec(db, "BEGIN; SELECT max(seq) FROM records;", nullptr, nullptr, nullptr);
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    }
    sqlite3_close(db);
  };
  std::thread r1(read_loop);
  std::thread r2(read_loop);
  std::int64_t max_wal = 0;
  for (int b = 0; b < 600; ++b) {  // 600 x 200 x ~260 B: about 31 MB written through the WAL
    AppendOk(*store, Batch(store->LastSeq() + 1, 200, kStart));
    std::error_code ec;
    auto wal = fs::file_size(opt.path + "-wal", ec);
    if (!ec) max_wal = std::max<std::int64_t>(max_wal, static_cast<std::int64_t>(wal));
  }
  stop = true;
  r1.join();
  r2.join();
  MESSAGE("largest WAL seen: " << max_wal << " bytes");
  // The store checkpoints every 1000 frames (4 MiB of 4 KiB pages); one batch more may be in it.
  CHECK(max_wal <= 6 << 20);
  CHECK(ReadAll(*store).size() == 600 * 200);
}

TEST_CASE("a foreign file is moved aside with kMoveAside and a fresh store starts") {
  TempDir dir;
  FakeClock clock(kStart);
  const std::string path = dir.File("buf.db");
  std::string garbage;
  for (int i = 0; i < 512; ++i) garbage += fmt::format("not a database {:04} ", i);
  {
    std::ofstream out(path, std::ios::binary);
    out << garbage;
  }
  StoreOptions opt;
  opt.path = path;
  opt.clock = &clock;
  opt.on_corrupt = CorruptPolicy::kMoveAside;
  auto store = OpenOk(opt, {"mqtt"});
  std::vector<std::string> moved = CorruptCopies(dir, "buf.db");
  REQUIRE(moved.size() == 1);
  CHECK(moved[0] == path + ".corrupt-20231114T221320Z");
  CHECK(ReadFile(moved[0]) == garbage);
  // Sequence numbers start above the old file's possible ones (time in microseconds).
  const auto floor = static_cast<std::uint64_t>(kStart / 1000);
  CHECK(store->LastSeq() == floor);
  CHECK(AppendOk(*store, Batch(1, 3, kStart)) == floor + 3);
  store.reset();
  // Reopening the fresh store keeps its numbers and moves nothing.
  store = OpenOk(opt, {"mqtt"});
  CHECK(store->LastSeq() == floor + 3);
  CHECK(CorruptCopies(dir, "buf.db").size() == 1);
}

TEST_CASE("the moved-aside file is named by its UTC time after 2038 too (32-bit time_t)") {
  TempDir dir;
  FakeClock clock(2'208'988'800 * kSecond);  // 2040-01-01T00:00:00Z, past a 32-bit time_t
  const std::string path = dir.File("buf.db");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 512; ++i) out << fmt::format("not a database {:04} ", i);
  }
  StoreOptions opt;
  opt.path = path;
  opt.clock = &clock;
  opt.on_corrupt = CorruptPolicy::kMoveAside;
  auto store = OpenOk(opt, {"mqtt"});
  std::vector<std::string> moved = CorruptCopies(dir, "buf.db");
  REQUIRE(moved.size() == 1);
  CHECK(moved[0] == path + ".corrupt-20400101T000000Z");
}

TEST_CASE("a damaged schema is moved aside, damage deeper in the file is reported by reads") {
  TempDir dir;
  FakeClock clock(kStart);
  const std::string path = dir.File("buf.db");
  StoreOptions opt;
  opt.path = path;
  opt.clock = &clock;
  {
    auto store = OpenOk(opt, {"mqtt"});
    AppendOk(*store, Batch(1, 2000, kStart));
  }
  auto overwrite = [&](std::streamoff at, std::size_t n) {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(at);
    std::string junk(n, '\xA5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  };
  // Records B-tree pages: Open (O(1), it does not walk the table) succeeds, the read fails.
  overwrite(8 * 4096, 8 * 4096);
  {
    auto store = OpenOk(opt, {"mqtt"});
    Result<std::vector<Record>> r = store->ReadAfter(0, 10'000);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == Code::kCorruption);
    CHECK(r.error().message().find(path) != std::string::npos);
  }
  // The schema on page 1 (after the 100-byte header): Open fails.
  overwrite(100, 4096 - 100);
  const std::string damaged = ReadFile(path);
  Result<std::unique_ptr<Store>> failed = Store::Open(opt, {"mqtt"});
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().code() == Code::kCorruption);
  CHECK(ReadFile(path) == damaged);  // kFail: untouched

  opt.on_corrupt = CorruptPolicy::kMoveAside;
  auto store = OpenOk(opt, {"mqtt"});
  std::vector<std::string> moved = CorruptCopies(dir, "buf.db");
  REQUIRE(moved.size() == 1);
  CHECK(ReadFile(moved[0]) == damaged);
  CHECK(store->Stats().records == 0);
}

TEST_CASE("the record count is kept in the file and stays exact across drops, acks, reopens") {
  TempDir dir;
  FakeClock clock(kStart);
  StoreOptions opt;
  opt.path = dir.File("buf.db");
  opt.max_bytes = 256 * 1024;
  opt.max_age_s = 60;
  opt.clock = &clock;
  auto count_rows = [&] {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(opt.path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM records", -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    auto n = static_cast<std::uint64_t>(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  };
  std::uint64_t last = 0;
  {
    auto store = OpenOk(opt, {"a", "b"});
    last = AppendOk(*store, Batch(1, 30, kStart - 120 * kSecond));
    clock.Advance(2 * kSecond);
    for (int b = 0; b < 20; ++b) last = AppendOk(*store, Batch(last + 1, 100, kStart, 7));
    REQUIRE(store->Ack("a", last - 50).ok());
    REQUIRE(store->Ack("b", last - 100).ok());
    CHECK(store->Stats().records == count_rows());
    CHECK(store->Drops().age == 30);
    CHECK(store->Drops().size_readings > 0);
  }
  {
    auto store = OpenOk(opt, {"a"});  // dropping "b" releases 50 more
    CHECK(store->Stats().records == 50);
    CHECK(count_rows() == 50);
  }
  auto store = OpenOk(opt, {"a"});
  CHECK(store->Stats().records == 50);
}

TEST_CASE("a newer schema is refused and never moved aside") {
  TempDir dir;
  const std::string path = dir.File("buf.db");
  {
    StoreOptions opt;
    opt.path = path;
    OpenOk(opt, {"mqtt"});
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  StoreOptions opt;
  opt.path = path;
  opt.on_corrupt = CorruptPolicy::kMoveAside;
  Result<std::unique_ptr<Store>> s = Store::Open(opt, {"mqtt"});
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().code() == Code::kInvalidArgument);
  CHECK(CorruptCopies(dir, "buf.db").empty());
}

TEST_CASE("InspectStore reports depth, oldest pending record and drops while the store is open") {
  TempDir dir;
  StoreOptions opt;
  opt.path = dir.File("buf.db");
  opt.max_bytes = 256 * 1024;
  auto store = OpenOk(opt, {"kafka", "mqtt"});
  std::uint64_t last = 0;
  for (int b = 0; b < 20; ++b) {
    last = AppendOk(*store, Batch(last + 1, 100, kStart + b * kSecond, 10));
  }
  std::vector<Record> held = ReadAll(*store);
  REQUIRE(held.size() > 10);
  const Record& mid = held[held.size() / 2];
  REQUIRE(store->Ack("kafka", mid.seq).ok());

  Result<StoreReport> rep = InspectStore(opt.path);  // the writer is still open
  REQUIRE_MESSAGE(rep.has_value(), (rep ? "" : rep.error().ToString()));
  StoreStats st = store->Stats();
  CHECK(rep->records == st.records);
  CHECK(rep->last_seq == last);
  CHECK(rep->first_seq == st.first_seq);
  CHECK(rep->drops.size_readings == st.drops.size_readings);
  CHECK(rep->bytes_on_disk > 0);
  REQUIRE(rep->upstreams.size() == 2);
  CHECK(rep->upstreams[0].name == "kafka");
  CHECK(rep->upstreams[0].cursor == mid.seq);
  CHECK(rep->upstreams[0].depth == held.size() - held.size() / 2 - 1);
  CHECK(rep->upstreams[0].oldest_ts_ns == held[held.size() / 2 + 1].ts_ns);
  CHECK(rep->upstreams[1].name == "mqtt");
  CHECK(rep->upstreams[1].depth == held.size());
  CHECK(rep->upstreams[1].oldest_ts_ns == held.front().ts_ns);
}

TEST_CASE("InspectStore: no file is NotFound, a foreign file is Corruption and left untouched") {
  TempDir dir;
  CHECK(InspectStore(dir.File("none.db")).error().code() == Code::kNotFound);
  CHECK_FALSE(fs::exists(dir.File("none.db")));
  const std::string path = dir.File("foreign.db");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 200; ++i) out << "definitely not sqlite ";
  }
  const std::string before = ReadFile(path);
  Result<StoreReport> rep = InspectStore(path);
  REQUIRE_FALSE(rep.has_value());
  CHECK(rep.error().code() == Code::kCorruption);
  CHECK(ReadFile(path) == before);
}

TEST_CASE("after a reboot with synchronous=normal sequence numbers skip ahead, never reused") {
  TempDir dir;
  StoreOptions opt;
  opt.path = dir.File("buf.db");
  opt.boot_id = "boot-a";
  {
    auto store = OpenOk(opt, {"mqtt"});
    CHECK(AppendOk(*store, Batch(1, 10, kStart)) == 10);
  }
  {
    auto store = OpenOk(opt, {"mqtt"});  // same boot (a restart or kill -9): no jump
    CHECK(AppendOk(*store, Batch(11, 10, kStart)) == 20);
  }
  opt.boot_id = "boot-b";  // the machine rebooted (maybe a power loss)
  {
    auto store = OpenOk(opt, {"mqtt"});
    const std::uint64_t gap = std::uint64_t{1} << 32;
    CHECK(store->LastSeq() == 20 + gap);
    CHECK(AppendOk(*store, Batch(21, 1, kStart)) == 21 + gap);
    std::vector<Record> held = ReadAll(*store);
    REQUIRE(held.size() == 21);
    CHECK(held[19].seq == 20);
    CHECK(held[20].seq == 21 + gap);
  }
  opt.boot_id = "boot-c";
  opt.synchronous = "full";  // every commit was synced: nothing to skip
  auto store = OpenOk(opt, {"mqtt"});
  CHECK(store->LastSeq() == 21 + (std::uint64_t{1} << 32));
}

TEST_CASE("a WAL without its database is moved aside, not deleted by SQLite") {
  TempDir dir;
  FakeClock clock(kStart);
  const std::string path = dir.File("buf.db");
  StoreOptions opt;
  opt.path = path;
  opt.clock = &clock;
  {
    // Leave a WAL behind: a second connection keeps SQLite from checkpointing it away on close.
    auto store = OpenOk(opt, {"mqtt"});
    AppendOk(*store, Batch(1, 50, kStart));
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    fs::copy_file(path + "-wal", dir.File("saved-wal"));
    sqlite3_close(db);
  }
  fs::remove(path);
  fs::remove(path + "-shm");
  fs::copy_file(dir.File("saved-wal"), path + "-wal", fs::copy_options::overwrite_existing);
  const std::string wal = ReadFile(path + "-wal");
  REQUIRE(wal.size() > 1000);

  Result<std::unique_ptr<Store>> refused = Store::Open(opt, {"mqtt"});
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code() == Code::kCorruption);
  CHECK_FALSE(fs::exists(path));

  opt.on_corrupt = CorruptPolicy::kMoveAside;
  auto store = OpenOk(opt, {"mqtt"});
  CHECK(store->Stats().records == 0);
  CHECK(ReadAll(*store).empty());
  CHECK(ReadFile(path + ".corrupt-20231114T221320Z-orphan-wal") == wal);
}

}  // namespace
}  // namespace pn
