// SerialPort: a termios serial line opened raw and non-blocking (POSIX; works on ttyS, ttyUSB,
// ttyACM and pseudo-terminals). Owns its file descriptor.
//
// Thread-safety: none; one port is used by one thread (the serial driver's).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace pn::serial {

struct PortSettings {
  std::string device;  // e.g. "/dev/ttyUSB0"
  int baud_rate = 9600;
  char parity = 'N';  // 'N', 'E' or 'O'
  int data_bits = 8;  // 5..8
  int stop_bits = 1;  // 1 or 2
};

// Whether `baud` is a rate termios can set (50 .. 4000000, the standard B* constants).
bool IsSupportedBaudRate(int baud);

class SerialPort {
 public:
  SerialPort() = default;
  ~SerialPort();
  SerialPort(SerialPort&& other) noexcept;
  SerialPort& operator=(SerialPort&& other) noexcept;
  SerialPort(const SerialPort&) = delete;
  SerialPort& operator=(const SerialPort&) = delete;

  // Opens and configures the line: raw mode, no flow control, no echo, ignore modem control
  // lines (CLOCAL). Errors: kNotFound (no such device), kIoError otherwise.
  static Result<SerialPort> Open(const PortSettings& settings);

  bool is_open() const { return fd_ >= 0; }

  // Waits up to timeout_ms for input and reads what is there into buf (at most n bytes).
  // Returns the count (0: nothing arrived in time). Returns kUnavailable when the line is gone
  // (EOF, hang-up, read error: an unplugged adapter); the caller closes and reopens.
  Result<std::size_t> Read(char* buf, std::size_t n, int timeout_ms);

  // Writes all of `data` (waiting up to timeout_ms for room). kUnavailable when the line is gone.
  Status Write(std::string_view data, int timeout_ms);

  void Close();

 private:
  explicit SerialPort(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace pn::serial
