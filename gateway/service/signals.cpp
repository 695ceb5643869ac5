#include "gateway/service/signals.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace pn::service {

namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_stop_count = 0;
volatile std::sig_atomic_t g_reload = 0;
int g_wake[2] = {-1, -1};  // self-pipe: a handler writes a byte, WaitForSignal polls the other end

void Wake() {
  if (g_wake[1] < 0) return;
  const int saved = errno;  // write() may change it; the interrupted code may be reading it
  const char b = 1;
  (void)!::write(g_wake[1], &b, 1);  // async-signal-safe; a full pipe already wakes
  errno = saved;
}

extern "C" void OnStop(int) {
  g_stop = 1;
  g_stop_count = g_stop_count + 1;
  Wake();
}

extern "C" void OnReload(int) {
  g_reload = 1;
  Wake();
}

}  // namespace

void InstallSignalHandlers() {
  if (g_wake[0] < 0 && ::pipe2(g_wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    g_wake[0] = g_wake[1] = -1;  // WaitForSignal then sleeps its whole timeout
  }
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = OnStop;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sa.sa_handler = OnReload;
  sigaction(SIGHUP, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, nullptr);  // a closed stdout or socket is an error return, not a kill
  // A file size limit (RLIMIT_FSIZE) reached is a write error (EFBIG) the store handles like a
  // full disk, not a kill.
  sigaction(SIGXFSZ, &sa, nullptr);
}

bool TakeStopRequest() {
  if (g_stop == 0) return false;
  g_stop = 0;
  return true;
}

bool TakeReloadRequest() {
  if (g_reload == 0) return false;
  g_reload = 0;
  return true;
}

int StopSignalCount() { return g_stop_count; }

void WaitForSignal(std::chrono::milliseconds timeout) {
  if (g_stop != 0 || g_reload != 0) return;
  pollfd p{g_wake[0], POLLIN, 0};
  const int n = ::poll(&p, g_wake[0] < 0 ? 0 : 1, static_cast<int>(timeout.count()));
  if (n > 0) {
    char buf[64];
    while (::read(g_wake[0], buf, sizeof buf) > 0) {
    }
  }
}

}  // namespace pn::service
