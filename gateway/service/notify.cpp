#include "gateway/service/notify.h"

#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace pn::service {

SystemdNotifier::SystemdNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  active_ = socket != nullptr && socket[0] != '\0';
  std::uint64_t usec = 0;
  // 0: keep the variables in the environment (nothing we start needs them, but keeping them
  // makes the state easy to inspect). > 0 means enabled for this very process.
  if (active_ && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_ = std::chrono::microseconds(static_cast<std::int64_t>(usec));
  }
}

void SystemdNotifier::Send(const char* message) const {
  if (!active_) return;
  (void)sd_notify(0, message);
}

void SystemdNotifier::Ready() const { Send("READY=1"); }

void SystemdNotifier::Status(std::string_view text) const {
  if (!active_) return;
  std::string msg = "STATUS=";
  // One line: sd_notify messages are newline-separated assignments.
  for (char c : text) msg += (c == '\n' ? ' ' : c);
  Send(msg.c_str());
}

void SystemdNotifier::Watchdog() const { Send("WATCHDOG=1"); }
void SystemdNotifier::Reloading() const { Send("RELOADING=1"); }
void SystemdNotifier::Stopping() const { Send("STOPPING=1"); }

bool StderrIsJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

}  // namespace pn::service
