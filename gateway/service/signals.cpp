#include "gateway/service/signals.h"

#include <csignal>

namespace pn::service {

namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_stop_count = 0;
volatile std::sig_atomic_t g_reload = 0;

extern "C" void OnStop(int) {
  g_stop = 1;
  g_stop_count = g_stop_count + 1;
}
extern "C" void OnReload(int) { g_reload = 1; }

}  // namespace

void InstallSignalHandlers() {
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

}  // namespace pn::service
