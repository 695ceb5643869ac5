// durability_bench: what the store's durability and bounds cost, against a baseline measured in
// the same run.
//
//   normal      synchronous=normal, unbounded (the baseline)
//   full        synchronous=full (fsync of the WAL at every commit), unbounded
//   acked       synchronous=normal, unbounded, each batch acknowledged right after its Append
//               (deleted, as when the forwarders keep up): the steady state of a healthy gateway
//   bounded     synchronous=normal, max_bytes=64 MiB already reached, nothing acknowledged:
//               every Append also drops the oldest readings (drop_oldest) and reuses their pages
//
// For each batch size and repetition every variant appends the same rows to a fresh file (the
// variants alternate so drift on the machine hits all of them). Prints a markdown table of the
// median rows/s, the median commit (Append call) latency, and the ratio to the baseline.
//
// Usage: durability_bench [--rows N] [--reps R] [--dir DIR]  (defaults: 40000 rows, 5 reps, /tmp)
#include <fmt/format.h>
#include <spdlog/spdlog.h>
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
#include <vector>

#include "core/record.h"
#include "gateway/store/store.h"

namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

std::vector<pn::NewRecord> MakeRows(std::size_t n) {
  std::vector<pn::NewRecord> rows;
  rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    pn::NewRecord r;
    r.kind = i % 50 == 0 ? pn::RecordKind::kEvent : pn::RecordKind::kReading;
    r.ts_ns = 1'767'225'600'000'000'000 + static_cast<std::int64_t>(i) * 1'000'000;
    r.device = fmt::format("pump-{}", i % 10);
    r.series = "temperature";
    r.body = fmt::format(
        R"({{"type":"reading","ts_ns":{},"device":"{}","series":"temperature","value":{:.3f},)"
        R"("quality":"good"}})",
        r.ts_ns, r.device, 40.0 + static_cast<double>(i % 1000) / 100.0);
    rows.push_back(std::move(r));
  }
  return rows;
}

struct Result {
  double rows_per_s = 0;
  double commit_us = 0;  // median Append latency
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

Result RunOnce(const std::string& dir, const std::string& variant, std::size_t batch,
               const std::vector<pn::NewRecord>& rows) {
  const std::string path = dir + "/durability_bench.db";
  for (const char* s : {"", "-wal", "-shm"}) fs::remove(path + s);
  pn::StoreOptions opt;
  opt.path = path;
  opt.synchronous = variant == "full" ? "full" : "normal";
  if (variant == "bounded") opt.max_bytes = 64 << 20;
  auto store = pn::Store::Open(opt, {"down"});
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().ToString().c_str());
    std::exit(1);
  }
  if (variant == "bounded") {  // fill it to the bound first (not timed)
    for (int k = 0; k < 100 && (*store)->Drops().size_readings == 0; ++k) {
      for (std::size_t i = 0; i < rows.size(); i += 1000) {
        auto n = std::min<std::size_t>(1000, rows.size() - i);
        (void)(*store)->Append(std::span<const pn::NewRecord>(rows.data() + i, n));
      }
    }
    if ((*store)->Drops().size_readings == 0) {
      std::fprintf(stderr, "bounded: the prefill did not reach max_bytes\n");
      std::exit(1);
    }
  }
  std::vector<double> lat;
  lat.reserve(rows.size() / batch + 1);
  auto t0 = SteadyClock::now();
  for (std::size_t i = 0; i < rows.size(); i += batch) {
    auto n = std::min(batch, rows.size() - i);
    auto c0 = SteadyClock::now();
    auto r = (*store)->Append(std::span<const pn::NewRecord>(rows.data() + i, n));
    lat.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - c0).count());
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().ToString().c_str());
      std::exit(1);
    }
    if (variant == "acked" && !(*store)->Ack("down", r->last_seq).ok()) std::exit(1);
  }
  double s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  store->reset();
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);
  return {static_cast<double>(rows.size()) / s, Median(lat)};
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t rows_n = 40000;
  int reps = 5;
  std::string dir = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rows") == 0) rows_n = std::strtoul(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
  }
  spdlog::set_level(spdlog::level::err);
  const std::vector<pn::NewRecord> rows = MakeRows(rows_n);
  const char* variants[] = {"normal", "full", "acked", "bounded"};
  constexpr int kVariants = 4;
  std::printf("durability_bench: %zu rows per run, %d reps, files in %s\n\n", rows_n, reps,
              dir.c_str());
  std::printf(
      "| batch | variant | rows/s (median) | Append latency (median) | ratio to normal |\n");
  std::printf("|---:|---|---:|---:|---:|\n");
  for (std::size_t batch : {100, 1000}) {
    std::vector<double> rate[kVariants], lat[kVariants];
    for (int r = 0; r < reps; ++r) {
      for (int v = 0; v < kVariants; ++v) {
        Result res = RunOnce(dir, variants[v], batch, rows);
        rate[v].push_back(res.rows_per_s);
        lat[v].push_back(res.commit_us);
      }
    }
    double base = Median(rate[0]);
    for (int v = 0; v < kVariants; ++v) {
      double m = Median(rate[v]);
      std::printf("| %zu | %s | %.0f | %.0f us | %.2f |\n", batch, variants[v], m, Median(lat[v]),
                  m / base);
    }
  }
  return 0;
}
