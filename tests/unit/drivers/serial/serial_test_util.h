// Helpers for the serial driver tests: config loading through the spec like the gateway loader,
// a collecting sink, and a pseudo-terminal standing in for the sensor's end of the line.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "drivers/serial/serial_driver.h"
#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"
#include "tests/unit/drivers/driver_test_util.h"

namespace pn::serial::testing {

using Loaded = pn::testing::LoadedDriver;

// The [drivers.NAME] table of a config text, validated like the gateway loader does.
inline Loaded Load(std::string_view toml, const std::string& file = "gateway.toml",
                   const std::string& name = "sensor") {
  return pn::testing::LoadDriverSection(toml, Spec(), Check, file, name);
}

class CollectSink final : public ReadingSink {
 public:
  bool Deliver(std::vector<Reading>& batch) override {
    std::lock_guard lock(mu_);
    for (auto& r : batch) readings_.push_back(std::move(r));
    count_ = readings_.size();
    return true;
  }
  std::size_t count() const { return count_.load(); }
  std::vector<Reading> readings() const {
    std::lock_guard lock(mu_);
    return readings_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Reading> readings_;
  std::atomic<std::size_t> count_{0};
};

// A pty pair: the driver opens slave_path(); the test writes and reads the master side.
class Pty {
 public:
  Pty() {
    int slave = -1;
    char name[256] = {};
    if (::openpty(&master_, &slave, name, nullptr, nullptr) == 0) {
      path_ = name;
      termios tio{};
      ::tcgetattr(slave, &tio);
      ::cfmakeraw(&tio);
      ::tcsetattr(slave, TCSANOW, &tio);
      ::close(slave);  // the driver opens it by path
    }
  }
  ~Pty() { CloseMaster(); }
  Pty(const Pty&) = delete;
  Pty& operator=(const Pty&) = delete;

  bool ok() const { return master_ >= 0; }
  const std::string& slave_path() const { return path_; }
  void Write(std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::write(master_, s.data(), s.size());
      if (n <= 0) return;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // Reads what the driver wrote, waiting up to timeout_ms for the first byte.
  std::string Read(int timeout_ms) {
    pollfd p{master_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return {};
    char buf[256];
    const ssize_t n = ::read(master_, buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  void CloseMaster() {
    if (master_ >= 0) ::close(master_);
    master_ = -1;
  }

 private:
  int master_ = -1;
  std::string path_;
};

// Polls `pred` every 10 ms for up to `timeout`.
template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace pn::serial::testing
