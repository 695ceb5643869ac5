// systemd integration: sd_notify(3) messages (READY=1, STATUS=, WATCHDOG=1, RELOADING=1,
// STOPPING=1) and the watchdog interval systemd asked for (WATCHDOG_USEC).
//
// Harmless without systemd: when NOTIFY_SOCKET is unset every call is a no-op and
// watchdog_interval() is zero.
//
// Thread-safety: all methods may be called from any thread (sd_notify opens its own socket per
// call); in the daemon only the main thread calls them.
#pragma once

#include <chrono>
#include <string_view>

namespace pn::service {

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET and WATCHDOG_USEC (honouring WATCHDOG_PID) once.
  SystemdNotifier();

  // True when NOTIFY_SOCKET is set.
  bool active() const { return active_; }
  // How often systemd expects WATCHDOG=1 at the latest; zero when no watchdog is configured.
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }

  void Ready() const;                        // READY=1 plus a STATUS= line
  void Status(std::string_view text) const;  // STATUS=<text>
  void Watchdog() const;                     // WATCHDOG=1
  void Reloading() const;                    // RELOADING=1 (follow with Ready())
  void Stopping() const;                     // STOPPING=1

 private:
  void Send(const char* message) const;
  bool active_ = false;
  std::chrono::microseconds watchdog_{0};
};

// True when stderr is connected to the journal (JOURNAL_STREAM names stderr's device and inode),
// i.e. the process runs as a systemd service whose output goes to journald.
bool StderrIsJournal();

}  // namespace pn::service
