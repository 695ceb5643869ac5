// Opening the store: the options check, one attempt at opening a file (refuse a foreign one,
// auto_vacuum and WAL for a new one, the schema, then SqliteStore::Init), the open policies of
// Store::Open (a WAL without its database, CorruptPolicy::kMoveAside renaming a damaged file to
// <path>.corrupt-<UTC time> and starting a fresh store above its numbers), and the reboot check
// that Init runs (sequence numbers skip 2^32 after a reboot with synchronous=normal). See
// README.md, Corrupt or foreign files and Sequence numbers.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "gateway/store/sqlite_conn.h"
#include "gateway/store/sqlite_store_impl.h"
#include "gateway/store/store.h"
#include "gateway/store/store_schema.h"

namespace pn {
namespace store_detail {
namespace {

constexpr std::uint64_t kRebootSeqGap = std::uint64_t{1} << 32;

}  // namespace

Status SqliteStore::CheckReboot() {
  std::string boot = options_.boot_id;
  if (boot.empty()) {
    std::FILE* f = std::fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f != nullptr) {
      char buf[64] = {};
      if (std::fgets(buf, sizeof buf, f) != nullptr) boot = buf;
      std::fclose(f);
    }
    while (!boot.empty() && (boot.back() == '\n' || boot.back() == ' ')) boot.pop_back();
  }
  if (boot.empty()) return Status::Ok();     // unknown: nothing to compare
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a, stable across builds
  for (unsigned char c : boot) h = (h ^ c) * 1099511628211ull;
  const auto hash = static_cast<std::int64_t>(h & 0x7fffffffffffffffull);
  Result<std::int64_t> stored = writer_.QueryInt(
      "SELECT ifnull((SELECT value FROM meta WHERE key='boot_id'), -1)", "read boot id");
  if (!stored) return stored.error();
  if (*stored == hash) return Status::Ok();
  const bool skip = *stored != -1 && options_.synchronous == "normal" && last_seq_.load() > 0;
  const std::uint64_t new_last = skip ? last_seq_.load() + kRebootSeqGap : last_seq_.load();
  if (new_last > kMaxSeq) {
    return Status::ResourceExhausted(
        fmt::format("store {}: sequence numbers exhausted", options_.path));
  }
  std::string sql = fmt::format(
      "BEGIN IMMEDIATE; INSERT INTO meta(key, value) VALUES('boot_id', {0}) ON CONFLICT(key) "
      "DO UPDATE SET value=excluded.value; UPDATE meta SET value={1} WHERE key='last_seq'; "
      "COMMIT",
      hash, new_last);
  if (Status s = writer_.Exec(sql.c_str(), "record boot id"); !s.ok()) {
    writer_.Rollback();
    return s;
  }
  if (skip) {
    spdlog::warn(
        "store {}: first start after a reboot with synchronous=normal: commits made just "
        "before a power loss may be lost, so sequence numbers continue after {} instead of {} "
        "(never reused; a jump, not a loss)",
        options_.path, new_last, last_seq_.load());
  }
  last_seq_ = new_last;
  return Status::Ok();
}

}  // namespace store_detail

namespace {

using store_detail::CheckNotForeign;
using store_detail::Conn;
using store_detail::EnsureSchema;
using store_detail::SqliteStore;

constexpr std::int64_t kMinMaxBytes = 256 * 1024;

// YYYYMMDDTHHMMSSZ. Calendar arithmetic in std::chrono's 64-bit types, not time_t: that is 32
// bits on Debian 12 armhf and would wrap in 2038.
std::string UtcStamp(std::int64_t now_ns) {
  using namespace std::chrono;
  const auto t = floor<seconds>(sys_time<nanoseconds>(nanoseconds(now_ns)));
  const auto day = floor<days>(t);
  const year_month_day ymd(day);
  const hh_mm_ss hms(t - day);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

Status ValidateOptions(const StoreOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("store: path is empty");
  if (options.synchronous != "normal" && options.synchronous != "full") {
    return Status::InvalidArgument(
        fmt::format("store {}: synchronous must be \"normal\" or \"full\", not \"{}\"",
                    options.path, options.synchronous));
  }
  if (options.max_bytes != 0 && options.max_bytes < kMinMaxBytes) {
    return Status::InvalidArgument(
        fmt::format("store {}: max_bytes must be 0 (unbounded) or at least {}, not {}",
                    options.path, kMinMaxBytes, options.max_bytes));
  }
  if (options.max_age_s < 0) {
    return Status::InvalidArgument(
        fmt::format("store {}: max_age_s must not be negative", options.path));
  }
  return Status::Ok();
}

Result<std::unique_ptr<Store>> OpenOnce(const StoreOptions& options,
                                        const std::vector<std::string>& upstreams,
                                        std::uint64_t first_last_seq) {
  Result<Conn> writer = Conn::Open(options.path, options.synchronous);
  if (!writer) return Err(writer.error());
  if (Status s = CheckNotForeign(*writer); !s.ok()) return Err(s);
  // A new file gets auto_vacuum=INCREMENTAL, which can only be set before the first table and
  // before the switch to WAL writes the file's first page.
  Result<std::int64_t> objects =
      writer->QueryInt("SELECT count(*) FROM sqlite_schema", "inspect schema");
  if (!objects) return Err(objects.error());
  if (*objects == 0) {
    if (Status s = writer->Exec("PRAGMA auto_vacuum=INCREMENTAL", "set auto_vacuum"); !s.ok()) {
      return Err(s);
    }
  }
  if (Status s = writer->EnableWal(); !s.ok()) return Err(s);
  if (Status s = EnsureSchema(*writer, first_last_seq); !s.ok()) return Err(s);
  auto store = std::make_unique<SqliteStore>(options, std::move(*writer));
  if (Status s = store->Init(upstreams); !s.ok()) return Err(s);
  StoreStats st = store->Stats();
  spdlog::info(
      "store {}: opened, {} records held, last seq {}, {} upstreams, {} bytes on disk (max_bytes "
      "{}), drops so far: {} age, {} size_readings, {} size_events, {} rejected",
      options.path, st.records, st.last_seq, st.cursors.size(), st.bytes_on_disk, options.max_bytes,
      st.drops.age, st.drops.size_readings, st.drops.size_events, st.drops.rejected);
  return std::unique_ptr<Store>(std::move(store));
}

// Renames a damaged or foreign store file (and its WAL) to <path>.corrupt-<UTC time>[-N] and
// removes its -shm index (derived data). Returns the new name.
Result<std::string> MoveAside(const std::string& path, std::int64_t now_ns) {
  namespace fs = std::filesystem;
  std::string base = path + ".corrupt-" + UtcStamp(now_ns);
  std::string dest = base;
  std::error_code ec;
  for (int i = 1; fs::exists(dest, ec) || fs::exists(dest + "-wal", ec); ++i) {
    dest = fmt::format("{}-{}", base, i);
  }
  fs::rename(path, dest, ec);
  if (ec) {
    return Err(Status::IoError(
        fmt::format("store {}: cannot move it to {}: {}", path, dest, ec.message())));
  }
  if (fs::exists(path + "-wal", ec)) {
    fs::rename(path + "-wal", dest + "-wal", ec);
    if (ec) {
      return Err(
          Status::IoError(fmt::format("store {}: moved the database to {} but cannot "
                                      "move its WAL {}-wal: {}",
                                      path, dest, path, ec.message())));
    }
  }
  fs::remove(path + "-shm", ec);
  return dest;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options,
                                           const std::vector<std::string>& upstreams) {
  if (Status s = ValidateOptions(options); !s.ok()) return Err(s);
  {
    // A WAL without its database (a kill between the two renames of a move-aside, or someone
    // deleting only the database) holds committed records; SQLite silently deletes such a WAL
    // when it opens an empty database. Keep it instead.
    std::error_code ec;
    if (!std::filesystem::exists(options.path, ec) &&
        std::filesystem::exists(options.path + "-wal", ec)) {
      Status orphan = Status::Corruption(fmt::format(
          "store {}: there is a WAL file {}-wal but no database", options.path, options.path));
      if (options.on_corrupt != CorruptPolicy::kMoveAside) return Err(orphan);
      const Clock& clock = options.clock != nullptr ? *options.clock : SystemClock::Instance();
      std::string dest = options.path + ".corrupt-" + UtcStamp(clock.NowNs()) + "-orphan-wal";
      std::filesystem::rename(options.path + "-wal", dest, ec);
      if (ec)
        return Err(Status::Corruption(orphan.message() + "; cannot move it: " + ec.message()));
      std::filesystem::remove(options.path + "-shm", ec);
      spdlog::error("{}; MOVED it ASIDE to {}", orphan.message(), dest);
    }
  }
  Result<std::unique_ptr<Store>> store = OpenOnce(options, upstreams, 0);
  if (store || store.error().code() != Code::kCorruption ||
      options.on_corrupt != CorruptPolicy::kMoveAside) {
    return store;
  }
  const Clock& clock = options.clock != nullptr ? *options.clock : SystemClock::Instance();
  const std::int64_t now_ns = clock.NowNs();
  Result<std::string> moved = MoveAside(options.path, now_ns);
  if (!moved) {
    return Err(Status::Corruption(store.error().message() + "; " + moved.error().message()));
  }
  // The old file's numbers are unknown: start above the current time in microseconds, which
  // stays above them unless the old store averaged over a million records per second, so
  // consumers that deduplicate on (gateway, seq) do not drop new records as duplicates.
  const auto first_last_seq = static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_ns / 1000));
  spdlog::error(
      "store {}: {}. The file was MOVED ASIDE to {} (not deleted; its records were not "
      "forwarded and can be inspected with sqlite3). Starting with a fresh, empty store whose "
      "sequence numbers start after {}.",
      options.path, store.error().message(), *moved, first_last_seq);
  return OpenOnce(options, upstreams, first_last_seq);
}

}  // namespace pn
