// SyncSource: whether the system clock is synchronised (set from NTP, GPS, ...), as the system
// knows it. A Raspberry Pi has no real-time clock: it boots with the time of its last shutdown
// (or 1970) and jumps when NTP first syncs, possibly hours later.
#pragma once

#include <atomic>
#include <memory>
#include <string>

namespace pn {

enum class SyncState : std::uint8_t { kUnknown, kSynced, kUnsynced };

class SyncSource {
 public:
  virtual ~SyncSource() = default;
  // Reads the state now. Cheap (a system call or a stat); called about once a second.
  virtual SyncState Read() = 0;
  // For logs: "kernel (adjtimex)", "timesyncd (/run/systemd/timesync/synchronized)".
  virtual std::string Describe() const = 0;
};

// The kernel's NTP status, as `timedatectl` shows it ("System clock synchronized"): adjtimex()
// returns TIME_ERROR, or STA_UNSYNC is set, until an NTP client (systemd-timesyncd, chrony,
// ntpd) has disciplined the clock. kUnknown when adjtimex fails.
std::unique_ptr<SyncSource> MakeKernelSyncSource();

// systemd-timesyncd's flag file (/run/systemd/timesync/synchronized, created at its first sync
// since boot): it exists: synced; it does not: unsynced.
std::unique_ptr<SyncSource> MakeFileSyncSource(std::string path);

// Always synced: the clock is trusted as it is (a gateway with an RTC, or no way to know).
std::unique_ptr<SyncSource> MakeAssumeSyncedSource();

// A source the caller sets (tests).
class ManualSyncSource final : public SyncSource {
 public:
  explicit ManualSyncSource(SyncState s = SyncState::kSynced) : state_(s) {}
  SyncState Read() override { return state_.load(); }
  std::string Describe() const override { return "manual"; }
  void Set(SyncState s) { state_ = s; }

 private:
  std::atomic<SyncState> state_;
};

}  // namespace pn
