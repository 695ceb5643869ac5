// Starts and stops the real peers of the modbus driver tests: pn_modbus_server (TCP or RTU) and
// a socat pty pair. Each process is killed (SIGTERM, then SIGKILL) when its owner goes away.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

// The emulator command as comma-separated string literals: program, then its arguments.
#ifndef PN_PEER_EMULATOR
#define PN_PEER_EMULATOR  // native build: run the peer directly
#endif

namespace pn::modbus::testing {

class PeerProcess {
 public:
  PeerProcess() = default;
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;
  ~PeerProcess() { Stop(); }

  // Spawns argv[0] with stdout on a pipe. Returns false when it cannot be started.
  // In a cross build (tests run under qemu user emulation) our own peer binary is for the
  // target too: it is started through the emulator, PN_PEER_EMULATOR (empty natively), with the
  // emulator's own arguments (qemu-arm -L SYSROOT).
  bool Start(std::vector<std::string> argv) {
    const std::vector<std::string> emulator = {PN_PEER_EMULATOR};
    if (!emulator.empty() && !argv.empty() && argv[0] == PN_MODBUS_SERVER) {
      argv.insert(argv.begin(), emulator.begin(), emulator.end());
    }
    int fds[2];
    if (pipe(fds) != 0) return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    out_ = fds[0];
    if (rc != 0) pid_ = -1;
    return rc == 0;
  }

  // Reads stdout until a line starting with `prefix` arrives; returns the line ("" on timeout).
  std::string WaitForLine(const std::string& prefix, int timeout_ms = 10000) {
    std::string buf;
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char c;
      if (read(out_, &c, 1) != 1) return "";
      if (c != '\n') {
        buf += c;
        continue;
      }
      if (buf.rfind(prefix, 0) == 0) return buf;
      buf.clear();
    }
    return "";
  }

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      for (int i = 0; i < 100; ++i) {
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
      pid_ = -1;
    }
    if (out_ >= 0) close(out_);
    out_ = -1;
  }

  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

// pn_modbus_server on a free loopback port.
class TcpServer {
 public:
  // Starts the server with `extra` options on `port` (0: any free port). Check ok().
  explicit TcpServer(std::vector<std::string> extra = {}, int port = 0) {
    Start(std::move(extra), port);
  }
  bool Start(std::vector<std::string> extra, int port) {
    std::vector<std::string> argv = {PN_MODBUS_SERVER, "--tcp", std::to_string(port)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    extra_ = extra;
    if (!proc_.Start(argv)) return false;
    const std::string line = proc_.WaitForLine("READY ");
    port_ = line.empty() ? 0 : std::atoi(line.c_str() + 6);
    return port_ != 0;
  }
  // Stops and starts again on the same port (SO_REUSEADDR). Retries while the port is busy.
  bool Restart() {
    proc_.Stop();
    const int port = port_;
    for (int i = 0; i < 50; ++i) {
      if (Start(extra_, port)) return true;
      proc_.Stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  void Stop() { proc_.Stop(); }
  bool ok() const { return port_ != 0; }
  int port() const { return port_; }

 private:
  PeerProcess proc_;
  std::vector<std::string> extra_;
  int port_ = 0;
};

// A socat pty pair: `a` and `b` are symlinks to the two ends, in a fresh temporary directory.
class PtyPair {
 public:
  PtyPair() {
    char tmpl[] = "/tmp/pn-modbus-pty-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    a_ = dir_ + "/a";
    b_ = dir_ + "/b";
    if (!proc_.Start({"/usr/bin/socat", "-d", "-d", "pty,raw,echo=0,link=" + a_,
                      "pty,raw,echo=0,link=" + b_})) {
      return;
    }
    for (int i = 0; i < 100 && !ok(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~PtyPair() {
    proc_.Stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  bool ok() const { return std::filesystem::exists(a_) && std::filesystem::exists(b_); }
  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }

 private:
  PeerProcess proc_;
  std::string dir_, a_, b_;
};

}  // namespace pn::modbus::testing
