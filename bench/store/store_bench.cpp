// store_bench: how much pn::Store::Append costs over the best a bare SQLite loop can do.
//
// For each batch size (100, 1000, 5000) and repetition, the same rows (realistic reading JSON
// bodies built with pn::ToRecord, ~110 bytes) are inserted into a fresh database file twice:
//   bare   the same schema, WAL, synchronous=NORMAL, one prepared INSERT, BEGIN/COMMIT per batch
//   store  pn::Store::Append per batch (synchronous=normal)
// The two runs alternate so that drift on the machine hits both. Prints a markdown table of the
// median rows/s and the ratio store/bare. A second table runs Append with two forwarder threads
// reading and acking at the same time (the gateway's shape).
//
// Usage: store_bench [--rows N] [--reps R] [--dir DIR]   (defaults: 200000 rows, 7 reps, /tmp)
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/reading.h"
#include "core/record.h"
#include "gateway/store/store.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "store_bench: %s\n", what.c_str());
  std::exit(1);
}

std::vector<pn::NewRecord> MakeRows(std::size_t n) {
  static const char* kSeries[] = {"press", "temp", "flow", "vib"};
  static const char* kUnits[] = {"bar", "C", "m3/h", "mm/s"};
  std::vector<pn::NewRecord> rows;
  rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    pn::Reading r;
    r.device = fmt::format("pump{}", i % 16);
    r.series = kSeries[i % 4];
    if (i % 4 == 0) r.unit = kUnits[i % 4];  // most sources send no unit
    r.value = 3.0 + static_cast<double>(i % 1000) * 0.0137;
    r.ts_ns = 1764072000000000000 + static_cast<std::int64_t>(i) * 10000000;
    rows.push_back(pn::ToRecord(r));
  }
  return rows;
}

void Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    Die(fmt::format("{}: {}", sql, msg));
  }
}

void RemoveDb(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);
}

// Rows per second of the bare SQLite loop.
double RunBare(const std::string& path, const std::vector<pn::NewRecord>& rows, std::size_t batch) {
  RemoveDb(path);
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) Die("open " + path);
  Exec(db, "PRAGMA journal_mode=WAL");
  Exec(db, "PRAGMA synchronous=NORMAL");
  Exec(db,
       "CREATE TABLE records(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, "
       "ts_ns INTEGER NOT NULL, device TEXT NOT NULL, series TEXT NOT NULL, body TEXT NOT NULL)");
  sqlite3_stmt* ins = nullptr;
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO records(seq, kind, ts_ns, device, series, body) "
                         "VALUES(?1,?2,?3,?4,?5,?6)",
                         -1, &ins, nullptr) != SQLITE_OK) {
    Die("prepare");
  }
  auto bind_text = [&](int i, const std::string& s) {
    sqlite3_bind_text64(ins, i, s.data(), s.size(), nullptr, SQLITE_UTF8);
  };
  std::int64_t seq = 0;
  auto t0 = Clock::now();
  for (std::size_t start = 0; start < rows.size(); start += batch) {
    std::size_t end = std::min(rows.size(), start + batch);
    Exec(db, "BEGIN");
    for (std::size_t i = start; i < end; ++i) {
      const pn::NewRecord& r = rows[i];
      sqlite3_bind_int64(ins, 1, ++seq);
      sqlite3_bind_int(ins, 2, static_cast<int>(r.kind));
      sqlite3_bind_int64(ins, 3, r.ts_ns);
      bind_text(4, r.device);
      bind_text(5, r.series);
      bind_text(6, r.body);
      if (sqlite3_step(ins) != SQLITE_DONE) Die(sqlite3_errmsg(db));
      sqlite3_reset(ins);
    }
    Exec(db, "COMMIT");
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  sqlite3_finalize(ins);
  sqlite3_close(db);
  return static_cast<double>(rows.size()) / secs;
}

// Rows per second of pn::Store::Append.
double RunStore(const std::string& path, const std::vector<pn::NewRecord>& rows,
                std::size_t batch) {
  RemoveDb(path);
  pn::StoreOptions opt;
  opt.path = path;
  opt.synchronous = "normal";
  auto store = pn::Store::Open(opt, {"bench"});
  if (!store) Die(store.error().ToString());
  std::span<const pn::NewRecord> all(rows);
  auto t0 = Clock::now();
  for (std::size_t start = 0; start < rows.size(); start += batch) {
    std::size_t n = std::min(batch, rows.size() - start);
    auto r = (*store)->Append(all.subspan(start, n));
    if (!r) Die(r.error().ToString());
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if ((*store)->LastSeq() != rows.size()) Die("store lost rows");
  return static_cast<double>(rows.size()) / secs;
}

struct ConcurrentResult {
  double append_rows_per_s = 0;     // appender alone on the clock
  double delivered_rows_per_s = 0;  // until both forwarders acked everything
};

// The gateway's shape: one appender (batches of `batch`) and two forwarder threads that read
// after their cursor (1000 at a time) and ack. Readers use their own connections (WAL).
ConcurrentResult RunConcurrent(const std::string& path, const std::vector<pn::NewRecord>& rows,
                               std::size_t batch) {
  RemoveDb(path);
  pn::StoreOptions opt;
  opt.path = path;
  auto opened = pn::Store::Open(opt, {"kafka", "mqtt"});
  if (!opened) Die(opened.error().ToString());
  pn::Store& store = **opened;
  const std::uint64_t total = rows.size();
  auto forward = [&](const char* name) {
    std::uint64_t cursor = 0;
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (cursor < total && Clock::now() < deadline) {
      auto got = store.ReadAfter(cursor, 1000);
      if (!got) Die(got.error().ToString());
      if (got->empty()) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        continue;
      }
      cursor = got->back().seq;
      if (auto st = store.Ack(name, cursor); !st.ok()) Die(st.ToString());
    }
    if (cursor != total) Die("forwarder timed out");
  };
  std::span<const pn::NewRecord> all(rows);
  auto t0 = Clock::now();
  std::thread f1(forward, "kafka");
  std::thread f2(forward, "mqtt");
  for (std::size_t start = 0; start < rows.size(); start += batch) {
    auto r = store.Append(all.subspan(start, std::min(batch, rows.size() - start)));
    if (!r) Die(r.error().ToString());
  }
  double append_secs = std::chrono::duration<double>(Clock::now() - t0).count();
  f1.join();
  f2.join();
  double all_secs = std::chrono::duration<double>(Clock::now() - t0).count();
  return {static_cast<double>(total) / append_secs, static_cast<double>(total) / all_secs};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t rows_per_run = 200000;
  int reps = 7;
  std::string base = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rows") == 0) {
      rows_per_run = std::strtoul(argv[i + 1], nullptr, 10);
    } else if (std::strcmp(argv[i], "--reps") == 0) {
      reps = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--dir") == 0) {
      base = argv[i + 1];
    } else {
      Die(fmt::format("unknown option {}", argv[i]));
    }
  }
  if (rows_per_run == 0 || reps <= 0) Die("--rows and --reps must be positive");
  spdlog::set_level(spdlog::level::warn);  // keep stdout a clean markdown report

  std::string tmpl = base + "/pn_store_bench.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp in " + base);
  const std::string dir = tmpl;
  const std::string bare_path = dir + "/bare.db";
  const std::string store_path = dir + "/store.db";

  std::vector<pn::NewRecord> rows = MakeRows(rows_per_run);
  std::size_t body_bytes = 0;
  for (const auto& r : rows) body_bytes += r.body.size();
  std::printf("store_bench: %zu rows per run, %d repetitions, mean body %.0f bytes, dir %s\n",
              rows.size(), reps, static_cast<double>(body_bytes) / static_cast<double>(rows.size()),
              dir.c_str());
  std::printf("example body: %s\n\n", rows[0].body.c_str());
  std::printf("| batch | bare SQLite rows/s (median) | pn::Store rows/s (median) | store/bare |\n");
  std::printf("|------:|----------------------------:|--------------------------:|-----------:|\n");
  for (std::size_t batch : {100, 1000, 5000}) {
    std::vector<double> bare;
    std::vector<double> store;
    for (int r = 0; r < reps; ++r) {
      bare.push_back(RunBare(bare_path, rows, batch));
      store.push_back(RunStore(store_path, rows, batch));
    }
    double mb = Median(bare);
    double ms = Median(store);
    std::printf("| %5zu | %27.0f | %25.0f | %9.1f%% |\n", batch, mb, ms, 100.0 * ms / mb);
    std::fflush(stdout);
  }

  std::printf("\nWith two forwarder threads reading (1000 per read) and acking concurrently:\n\n");
  std::printf("| batch | Append rows/s (median) | delivered to both rows/s (median) |\n");
  std::printf("|------:|-----------------------:|----------------------------------:|\n");
  for (std::size_t batch : {100, 1000}) {
    std::vector<double> append;
    std::vector<double> delivered;
    for (int r = 0; r < reps; ++r) {
      ConcurrentResult c = RunConcurrent(store_path, rows, batch);
      append.push_back(c.append_rows_per_s);
      delivered.push_back(c.delivered_rows_per_s);
    }
    std::printf("| %5zu | %22.0f | %33.0f |\n", batch, Median(append), Median(delivered));
    std::fflush(stdout);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
