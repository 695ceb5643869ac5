#include "gateway/clock/sync_source.h"

#include <sys/stat.h>
#include <sys/timex.h>

namespace pn {
namespace {

class KernelSyncSource final : public SyncSource {
 public:
  SyncState Read() override {
    struct timex tx {};
    tx.modes = 0;  // read only
    const int rc = ::adjtimex(&tx);
    if (rc == -1) return SyncState::kUnknown;
    if (rc == TIME_ERROR || (tx.status & STA_UNSYNC) != 0) return SyncState::kUnsynced;
    return SyncState::kSynced;
  }
  std::string Describe() const override { return "kernel (adjtimex)"; }
};

class FileSyncSource final : public SyncSource {
 public:
  explicit FileSyncSource(std::string path) : path_(std::move(path)) {}
  SyncState Read() override {
    struct stat st {};
    return ::stat(path_.c_str(), &st) == 0 ? SyncState::kSynced : SyncState::kUnsynced;
  }
  std::string Describe() const override { return "timesyncd (" + path_ + ")"; }

 private:
  std::string path_;
};

class AssumeSyncedSource final : public SyncSource {
 public:
  SyncState Read() override { return SyncState::kSynced; }
  std::string Describe() const override { return "none (the clock is trusted as it is)"; }
};

}  // namespace

std::unique_ptr<SyncSource> MakeKernelSyncSource() { return std::make_unique<KernelSyncSource>(); }

std::unique_ptr<SyncSource> MakeFileSyncSource(std::string path) {
  return std::make_unique<FileSyncSource>(std::move(path));
}

std::unique_ptr<SyncSource> MakeAssumeSyncedSource() {
  return std::make_unique<AssumeSyncedSource>();
}

}  // namespace pn
