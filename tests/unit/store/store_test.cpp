// Tests for the SQLite store (gateway/store): round trips, cursor semantics, sequence numbers,
// foreign files, failed appends, concurrency, and a fork + SIGKILL crash test.
#include "gateway/store/store.h"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gateway/store/sqlite_store.h"

namespace pn {
namespace {

namespace fs = std::filesystem;

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pn_store_test.XXXXXX";
    const char* dir = mkdtemp(tmpl);
    REQUIRE(dir != nullptr);
    path_ = dir;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// The body of the record with sequence number `seq` in tests that append in order from 1.
std::string BodyFor(std::uint64_t seq) {
  return fmt::format(R"({{"type":"reading","ts_ns":{},"device":"pump{}","value":{}}})", seq * 1000,
                     seq % 7, seq);
}

NewRecord MakeRecord(std::uint64_t seq) {
  NewRecord r;
  r.kind = seq % 5 == 0 ? RecordKind::kEvent : RecordKind::kReading;
  r.ts_ns = static_cast<std::int64_t>(seq * 1000);
  r.device = fmt::format("pump{}", seq % 7);
  r.series = "pressure";
  r.body = BodyFor(seq);
  return r;
}

// Records for seqs first..first+n-1.
std::vector<NewRecord> MakeRecords(std::uint64_t first, std::size_t n) {
  std::vector<NewRecord> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(MakeRecord(first + i));
  return v;
}

std::unique_ptr<Store> OpenOk(const std::string& path, const std::vector<std::string>& upstreams,
                              const std::string& synchronous = "normal") {
  StoreOptions opt;
  opt.path = path;
  opt.synchronous = synchronous;
  Result<std::unique_ptr<Store>> s = Store::Open(opt, upstreams);
  REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().ToString()));
  return std::move(*s);
}

// Appends a batch that must be stored (no store here has reject_new); returns its last seq.
std::uint64_t AppendOk(Store& store, const std::vector<NewRecord>& recs) {
  Result<AppendResult> r = store.Append(recs);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().ToString()));
  CHECK(r->rejected == 0);
  return r->last_seq;
}

std::vector<Record> ReadOk(Store& store, std::uint64_t after, std::size_t limit) {
  Result<std::vector<Record>> r = store.ReadAfter(after, limit);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().ToString()));
  return std::move(*r);
}

void AckOk(Store& store, const std::string& upstream, std::uint64_t seq) {
  Status s = store.Ack(upstream, seq);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_CASE("append, read and ack round trip") {
  TempDir dir;
  auto store = OpenOk(dir.File("buf.db"), {"mqtt"});
  CHECK(store->LastSeq() == 0);
  CHECK(AppendOk(*store, MakeRecords(1, 3)) == 3);
  CHECK(store->LastSeq() == 3);

  std::vector<Record> got = ReadOk(*store, 0, 10);
  REQUIRE(got.size() == 3);
  for (std::size_t i = 0; i < got.size(); ++i) {
    NewRecord want = MakeRecord(i + 1);
    CHECK(got[i].seq == i + 1);
    CHECK(got[i].kind == want.kind);
    CHECK(got[i].ts_ns == want.ts_ns);
    CHECK(got[i].device == want.device);
    CHECK(got[i].series == want.series);
    CHECK(got[i].body == want.body);
  }
  AckOk(*store, "mqtt", 3);
  CHECK(store->Cursor("mqtt") == 3);
  CHECK(ReadOk(*store, 0, 10).empty());
  CHECK(store->Stats().records == 0);
}

TEST_CASE("an empty Append assigns nothing and returns LastSeq") {
  TempDir dir;
  auto store = OpenOk(dir.File("buf.db"), {"mqtt"});
  AppendOk(*store, MakeRecords(1, 2));
  CHECK(AppendOk(*store, {}) == 2);
  CHECK(store->LastSeq() == 2);
}

TEST_CASE("ReadAfter returns records in sequence order and honours the limit") {
  TempDir dir;
  auto store = OpenOk(dir.File("buf.db"), {"mqtt"});
  for (int b = 0; b < 5; ++b) AppendOk(*store, MakeRecords(store->LastSeq() + 1, 20));

  std::vector<Record> first = ReadOk(*store, 0, 7);
  REQUIRE(first.size() == 7);
  for (std::size_t i = 0; i < first.size(); ++i) CHECK(first[i].seq == i + 1);

  std::vector<Record> middle = ReadOk(*store, 42, 5);
  REQUIRE(middle.size() == 5);
  CHECK(middle.front().seq == 43);
  CHECK(middle.back().seq == 47);

  std::vector<Record> tail = ReadOk(*store, 95, 100);
  REQUIRE(tail.size() == 5);
  CHECK(tail.back().seq == 100);
  CHECK(ReadOk(*store, 100, 10).empty());
  CHECK(ReadOk(*store, 0, 0).empty());
}

TEST_CASE("cursors are independent per upstream") {
  TempDir dir;
  auto store = OpenOk(dir.File("buf.db"), {"kafka", "mqtt"});
  AppendOk(*store, MakeRecords(1, 10));
  AckOk(*store, "kafka", 4);
  CHECK(store->Cursor("kafka") == 4);
  CHECK(store->Cursor("mqtt") == 0);
  AckOk(*store, "mqtt", 9);
  CHECK(store->Cursor("kafka") == 4);
  CHECK(store->Cursor("mqtt") == 9);
  StoreStats st = store->Stats();
  CHECK(st.cursors.at("kafka") == 4);
  CHECK(st.cursors.at("mqtt") == 9);
}

TEST_CASE("Ack never moves a cursor backwards and rejects bad arguments") {
  TempDir dir;
  auto store = OpenOk(dir.File("buf.db"), {"mqtt"});
  AppendOk(*store, MakeRecords(1, 10));
  AckOk(*store, "mqtt", 6);
  AckOk(*store, "mqtt", 2);  // older ack: accepted, ignored
  CHECK(store->Cursor("mqtt") == 6);
  CHECK(store->Ack("nobody", 1).code() == Code::kNotFound);
  CHECK(store->Ack("mqtt", 11).code() == Code::kInvalidArgument);
  CHECK(store->Cursor("mqtt") == 6);
  CHECK(store->Cursor("nobody") == 0);
}

TEST_CASE("records are deleted only once every upstream acknowledged them") {
  TempDir dir;
  auto store = OpenOk(dir.File("buf.db"), {"kafka", "mqtt"});
  AppendOk(*store, MakeRecords(1, 10));
  AckOk(*store, "kafka", 10);
  CHECK(store->Stats().records == 10);
  CHECK(ReadOk(*store, 0, 100).size() == 10);  // mqtt still needs all of them

  AckOk(*store, "mqtt", 4);
  StoreStats st = store->Stats();
  CHECK(st.records == 6);
  CHECK(st.first_seq == 5);
  std::vector<Record> left = ReadOk(*store, 0, 100);
  REQUIRE(left.size() == 6);
  CHECK(left.front().seq == 5);

  AckOk(*store, "mqtt", 10);
  CHECK(store->Stats().records == 0);
  CHECK(store->Stats().first_seq == 0);
}

TEST_CASE("a new upstream gets everything held") {
  TempDir dir;
  const std::string path = dir.File("buf.db");
  {
    auto store = OpenOk(path, {"mqtt"});
    AppendOk(*store, MakeRecords(1, 10));
    AckOk(*store, "mqtt", 3);  // seq 1..3 are gone
  }
  auto store = OpenOk(path, {"mqtt", "kafka"});
  CHECK(store->Cursor("kafka") == 0);
  CHECK(store->Cursor("mqtt") == 3);
  std::vector<Record> all = ReadOk(*store, store->Cursor("kafka"), 100);
  REQUIRE(all.size() == 7);
  CHECK(all.front().seq == 4);
  CHECK(all.back().seq == 10);
  // mqtt acking everything no longer deletes: kafka has not acknowledged anything.
  AckOk(*store, "mqtt", 10);
  CHECK(store->Stats().records == 7);
}

TEST_CASE("a removed upstream's cursor is dropped and stops pinning records") {
  TempDir dir;
  const std::string path = dir.File("buf.db");
  {
    auto store = OpenOk(path, {"kafka", "mqtt"});
    AppendOk(*store, MakeRecords(1, 10));
    AckOk(*store, "mqtt", 8);  // kafka (now to be removed) has acknowledged nothing
    CHECK(store->Stats().records == 10);
  }
  auto store = OpenOk(path, {"mqtt"});
  StoreStats st = store->Stats();
  CHECK(st.cursors.size() == 1);
  CHECK(st.cursors.count("kafka") == 0);
  CHECK(store->Ack("kafka", 1).code() == Code::kNotFound);
  CHECK(st.records == 2);  // 1..8 released when kafka's cursor went away
  CHECK(st.first_seq == 9);
}

TEST_CASE("SetUpstreams while open adds and removes cursors as Open would, and persists") {
  TempDir dir;
  const std::string path = dir.File("buf.db");
  {
    auto store = OpenOk(path, {"kafka", "mqtt"});
    AppendOk(*store, MakeRecords(1, 10));
    AckOk(*store, "mqtt", 8);  // kafka pins everything
    AckOk(*store, "kafka", 2);
    REQUIRE(store->SetUpstreams({"mqtt", "file"}).ok());
    StoreStats st = store->Stats();
    CHECK(st.cursors.size() == 2);
    CHECK(st.cursors.count("kafka") == 0);
    CHECK(store->Ack("kafka", 3).code() == Code::kNotFound);
    CHECK(store->Cursor("mqtt") == 8);
    CHECK(store->Cursor("file") == 0);  // a new upstream starts with everything held
    CHECK(st.records == 8);             // 3..10: kafka's release is pinned by the new cursor
    CHECK(ReadOk(*store, store->Cursor("file"), 100).front().seq == 3);
    // Sequence numbers go on; the record count stays right through later acks and appends.
    CHECK(AppendOk(*store, MakeRecords(11, 2)) == 12);
    AckOk(*store, "file", 12);
    CHECK(store->Stats().records == 4);  // 9..12, pinned by mqtt
    REQUIRE(store->SetUpstreams({"file"}).ok());
    CHECK(store->Stats().records == 0);
  }
  auto store = OpenOk(path, {"file"});
  CHECK(store->Cursor("file") == 12);
  CHECK(store->LastSeq() == 12);
  CHECK(store->Stats().records == 0);
}

TEST_CASE("sequence numbers are never reused after deleting everything and reopening") {
  TempDir dir;
  const std::string path = dir.File("buf.db");
  {
    auto store = OpenOk(path, {"mqtt"});
    CHECK(AppendOk(*store, MakeRecords(1, 25)) == 25);
    AckOk(*store, "mqtt", 25);
    CHECK(store->Stats().records == 0);
  }
  {
    auto store = OpenOk(path, {"mqtt"});
    CHECK(store->LastSeq() == 25);
    CHECK(store->Stats().last_seq == 25);
    CHECK(AppendOk(*store, MakeRecords(26, 1)) == 26);
    std::vector<Record> got = ReadOk(*store, 0, 10);
    REQUIRE(got.size() == 1);
    CHECK(got[0].seq == 26);
  }
}

TEST_CASE("sequence numbers are never reused when dropping an upstream empties the store") {
  TempDir dir;
  const std::string path = dir.File("buf.db");
  {
    auto store = OpenOk(path, {"kafka", "mqtt"});
    AppendOk(*store, MakeRecords(1, 12));
    AckOk(*store, "mqtt", 12);  // kafka pins everything
  }
  {
    auto store = OpenOk(path, {"mqtt"});  // kafka dropped: all 12 records released
    CHECK(store->Stats().records == 0);
  }
  auto store = OpenOk(path, {"mqtt"});
  CHECK(store->LastSeq() == 12);
  CHECK(AppendOk(*store, MakeRecords(13, 2)) == 14);
}

TEST_CASE("write, close and reopen loses nothing") {
  TempDir dir;
  const std::string path = dir.File("buf.db");
  for (const char* sync : {"normal", "full"}) {
    CAPTURE(sync);
    fs::remove(path);
    {
      auto store = OpenOk(path, {"kafka", "mqtt"}, sync);
      for (int b = 0; b < 10; ++b) AppendOk(*store, MakeRecords(store->LastSeq() + 1, 30));
      AckOk(*store, "kafka", 100);
      AckOk(*store, "mqtt", 50);
    }
    auto store = OpenOk(path, {"kafka", "mqtt"}, sync);
    CHECK(store->LastSeq() == 300);
    CHECK(store->Cursor("kafka") == 100);
    CHECK(store->Cursor("mqtt") == 50);
    std::vector<Record> got = ReadOk(*store, 50, 1000);
    REQUIRE(got.size() == 250);
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].seq == 51 + i);
      CHECK(got[i].body == BodyFor(51 + i));
    }
  }
}

TEST_CASE("Stats reports records, sequence range, bytes on disk and cursors") {
  TempDir dir;
  auto store = OpenOk(dir.File("buf.db"), {"kafka", "mqtt"});
  StoreStats empty = store->Stats();
  CHECK(empty.records == 0);
  CHECK(empty.first_seq == 0);
  CHECK(empty.last_seq == 0);
  CHECK(empty.cursors.size() == 2);
  AppendOk(*store, MakeRecords(1, 500));
  AckOk(*store, "kafka", 200);
  AckOk(*store, "mqtt", 100);
  StoreStats st = store->Stats();
  CHECK(st.records == 400);
  CHECK(st.first_seq == 101);
  CHECK(st.last_seq == 500);
  CHECK(st.bytes_on_disk > 400 * 60);  // at least the bodies are on disk (db or WAL)
}

TEST_CASE("invalid options are rejected") {
  TempDir dir;
  StoreOptions opt;
  CHECK(Store::Open(opt, {"mqtt"}).error().code() == Code::kInvalidArgument);
  opt.path = dir.File("buf.db");
  opt.synchronous = "off";
  CHECK(Store::Open(opt, {"mqtt"}).error().code() == Code::kInvalidArgument);
  CHECK_FALSE(fs::exists(opt.path));
  opt.path = dir.File("no/such/dir/buf.db");
  opt.synchronous = "normal";
  CHECK(Store::Open(opt, {"mqtt"}).error().code() == Code::kIoError);
}

TEST_CASE("a foreign file gives Corruption and is left untouched") {
  TempDir dir;
  const std::string path = dir.File("buf.db");
  std::string garbage;
  for (int i = 0; i < 512; ++i) garbage += fmt::format("not a database {:04} ", i);
  {
    std::ofstream out(path, std::ios::binary);
    out << garbage;
  }
  StoreOptions opt;
  opt.path = path;
  Result<std::unique_ptr<Store>> s = Store::Open(opt, {"mqtt"});
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().code() == Code::kCorruption);
  CHECK(s.error().message().find(path) != std::string::npos);
  CHECK(s.error().message().find("file is not a database") != std::string::npos);
  CHECK(ReadFile(path) == garbage);
}

TEST_CASE("an SQLite database that is not a store gives Corruption and is left untouched") {
  TempDir dir;
  const std::string path = dir.File("other.db");
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "CREATE TABLE users(name TEXT); INSERT INTO users VALUES('ada');",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  const std::string before = ReadFile(path);

  StoreOptions opt;
  opt.path = path;
  Result<std::unique_ptr<Store>> s = Store::Open(opt, {"mqtt"});
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().code() == Code::kCorruption);
  CHECK(s.error().message().find(path) != std::string::npos);
  CHECK(ReadFile(path) == before);
}

TEST_CASE("a failed Append stores nothing and the store stays usable") {
  TempDir dir;
  const std::string path = dir.File("buf.db");
  auto store = OpenOk(path, {"mqtt"});
  AppendOk(*store, MakeRecords(1, 5));

  // Inject a failure in the middle of a batch with a trigger added behind the store's back.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db,
                       "CREATE TRIGGER fail_boom BEFORE INSERT ON records WHEN NEW.device='boom' "
                       "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
                       nullptr, nullptr, nullptr) == SQLITE_OK);

  std::vector<NewRecord> batch = MakeRecords(6, 10);
  batch[6].device = "boom";
  Result<AppendResult> r = store->Append(batch);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message().find("injected failure") != std::string::npos);
  CHECK(store->LastSeq() == 5);
  CHECK(ReadOk(*store, 0, 100).size() == 5);  // none of the batch's first six records

  // The store is still usable: the next batch gets the next sequence numbers.
  CHECK(AppendOk(*store, MakeRecords(6, 3)) == 8);
  AckOk(*store, "mqtt", 7);
  std::vector<Record> got = ReadOk(*store, 0, 100);
  REQUIRE(got.size() == 1);
  CHECK(got[0].seq == 8);
  CHECK(got[0].body == BodyFor(8));
  sqlite3_close(db);
}

TEST_CASE("SqliteStatus maps SQLite errors and keeps SQLite's message") {
  Status full =
      SqliteStatus(SQLITE_FULL, "append seq 7", "/var/lib/x.db", "database or disk is full");
  CHECK(full.code() == Code::kResourceExhausted);
  CHECK(full.message().find("/var/lib/x.db") != std::string::npos);
  CHECK(full.message().find("database or disk is full") != std::string::npos);
  CHECK(SqliteStatus(SQLITE_IOERR_WRITE, "w", "p", "disk I/O error").code() == Code::kIoError);
  CHECK(SqliteStatus(SQLITE_CORRUPT, "r", "p", "malformed").code() == Code::kCorruption);
  CHECK(SqliteStatus(SQLITE_NOTADB, "r", "p", "not a db").code() == Code::kCorruption);
  CHECK(SqliteStatus(SQLITE_BUSY, "r", "p", "locked").code() == Code::kUnavailable);
}

TEST_CASE("concurrent appender and two reader/acker threads deliver every record in order") {
  TempDir dir;
  auto store = OpenOk(dir.File("buf.db"), {"kafka", "mqtt"});
  constexpr std::size_t kBatches = 200;
  constexpr std::size_t kPerBatch = 50;
  constexpr std::uint64_t kTotal = kBatches * kPerBatch;

  std::atomic<bool> append_failed{false};
  std::thread appender([&] {
    for (std::size_t b = 0; b < kBatches; ++b) {
      std::vector<NewRecord> batch = MakeRecords(b * kPerBatch + 1, kPerBatch);
      if (!store->Append(batch)) {
        append_failed = true;
        return;
      }
    }
  });

  struct Outcome {
    std::uint64_t delivered = 0;  // records received in order
    std::string error;            // first problem seen
  };
  auto consume = [&](const std::string& upstream, Outcome& out) {
    std::uint64_t cursor = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (cursor < kTotal && std::chrono::steady_clock::now() < deadline) {
      Result<std::vector<Record>> got = store->ReadAfter(cursor, 137);
      if (!got) {
        out.error = got.error().ToString();
        return;
      }
      if (got->empty()) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      for (const Record& r : *got) {
        if (r.seq != cursor + 1 || r.body != BodyFor(r.seq)) {
          out.error = fmt::format("{}: expected seq {}, got {}", upstream, cursor + 1, r.seq);
          return;
        }
        cursor = r.seq;
        ++out.delivered;
      }
      if (Status s = store->Ack(upstream, cursor); !s.ok()) {
        out.error = s.ToString();
        return;
      }
    }
  };
  Outcome kafka;
  Outcome mqtt;
  std::thread t1(consume, "kafka", std::ref(kafka));
  std::thread t2(consume, "mqtt", std::ref(mqtt));
  appender.join();
  t1.join();
  t2.join();

  CHECK_FALSE(append_failed.load());
  CHECK(kafka.error == "");
  CHECK(mqtt.error == "");
  CHECK(kafka.delivered == kTotal);
  CHECK(mqtt.delivered == kTotal);
  StoreStats st = store->Stats();
  CHECK(st.records == 0);
  CHECK(st.last_seq == kTotal);
}

// ---- crash test -----------------------------------------------------------------------------

constexpr std::size_t kCrashBatch = 100;

// Batch k (0-based) holds records index 0..99 with seq k*100+index+1.
std::string CrashBody(std::uint64_t k, std::uint64_t index) {
  return fmt::format(R"({{"type":"reading","batch":{},"index":{},"pad":"{:x>60}"}})", k, index,
                     k * 1000 + index);
}

// Runs in the forked child: appends batches forever (bounded) and reports each committed seq.
[[noreturn]] void CrashChild(const std::string& path, int report_fd) {
  StoreOptions opt;
  opt.path = path;
  Result<std::unique_ptr<Store>> opened = Store::Open(opt, {"mqtt"});
  if (!opened) _exit(2);
  Store& store = **opened;
  for (int n = 0; n < 20000; ++n) {
    std::uint64_t k = store.LastSeq() / kCrashBatch;
    std::vector<NewRecord> batch;
    for (std::uint64_t i = 0; i < kCrashBatch; ++i) {
      NewRecord r;
      r.ts_ns = static_cast<std::int64_t>(k * 1000 + i);
      r.device = fmt::format("dev{}", k);
      r.series = fmt::format("s{}", i);
      r.body = CrashBody(k, i);
      batch.push_back(std::move(r));
    }
    Result<AppendResult> appended = store.Append(batch);
    if (!appended || appended->rejected != 0) _exit(3);
    const std::uint64_t seq = appended->last_seq;
    if (write(report_fd, &seq, sizeof(seq)) != sizeof(seq)) _exit(4);
  }
  _exit(0);
}

TEST_CASE("SIGKILL during appends loses no committed batch and leaves no partial batch") {
  TempDir dir;
  const std::string path = dir.File("crash.db");
  std::mt19937 rng(20261125);
  std::uniform_int_distribution<int> delay_us(500, 40000);
  std::uint64_t max_reported = 0;

  for (int kill_no = 0; kill_no < 5; ++kill_no) {
    CAPTURE(kill_no);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    std::fflush(nullptr);  // the child must not flush the parent's pending output again
    std::cout.flush();
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      CrashChild(path, fds[1]);
    }
    close(fds[1]);
    std::vector<std::uint64_t> reported;
    auto read_one = [&]() {
      std::uint64_t seq = 0;
      std::size_t got = 0;
      while (got < sizeof(seq)) {
        ssize_t n = read(fds[0], reinterpret_cast<char*>(&seq) + got, sizeof(seq) - got);
        if (n <= 0) return false;
        got += static_cast<std::size_t>(n);
      }
      reported.push_back(seq);
      return true;
    };
    // Kill at a random moment once the child has committed its first batch.
    bool first = read_one();
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    kill(pid, SIGKILL);
    while (read_one()) {
    }
    close(fds[0]);
    int wstatus = 0;
    REQUIRE(waitpid(pid, &wstatus, 0) == pid);
    REQUIRE_MESSAGE(first, "the child reported nothing, exit status " << wstatus);
    CHECK(WIFSIGNALED(wstatus));

    for (std::uint64_t seq : reported) {
      CHECK(seq % kCrashBatch == 0);
      CHECK(seq > max_reported);
      max_reported = seq;
    }

    // Reopen: everything reported is there, and whatever is there is whole batches.
    auto store = OpenOk(path, {"mqtt"});
    std::uint64_t last = store->LastSeq();
    MESSAGE("kill " << kill_no << ": child reported up to seq " << max_reported
                    << ", store holds up to " << last);
    CHECK(last >= max_reported);
    CHECK(last % kCrashBatch == 0);
    std::uint64_t expect = 1;
    for (;;) {
      std::vector<Record> got = ReadOk(*store, expect - 1, 5000);
      if (got.empty()) break;
      for (const Record& r : got) {
        std::uint64_t k = (r.seq - 1) / kCrashBatch;
        std::uint64_t i = (r.seq - 1) % kCrashBatch;
        REQUIRE(r.seq == expect);
        REQUIRE(r.body == CrashBody(k, i));
        REQUIRE(r.device == fmt::format("dev{}", k));
        ++expect;
      }
    }
    CHECK(expect - 1 == last);
    max_reported = last;  // a batch committed but not reported before the kill also counts
  }
}

}  // namespace
}  // namespace pn
