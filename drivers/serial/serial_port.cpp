#include "drivers/serial/serial_port.h"

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace pn::serial {

namespace {

struct BaudEntry {
  int rate;
  speed_t code;
};

constexpr BaudEntry kBauds[] = {
    {50, B50},           {75, B75},           {110, B110},         {134, B134},
    {150, B150},         {200, B200},         {300, B300},         {600, B600},
    {1200, B1200},       {1800, B1800},       {2400, B2400},       {4800, B4800},
    {9600, B9600},       {19200, B19200},     {38400, B38400},     {57600, B57600},
    {115200, B115200},   {230400, B230400},   {460800, B460800},   {500000, B500000},
    {576000, B576000},   {921600, B921600},   {1000000, B1000000}, {1152000, B1152000},
    {1500000, B1500000}, {2000000, B2000000}, {2500000, B2500000}, {3000000, B3000000},
    {3500000, B3500000}, {4000000, B4000000},
};

std::string Errno(const std::string& what, int err) { return what + ": " + std::strerror(err); }

}  // namespace

bool IsSupportedBaudRate(int baud) {
  for (const auto& b : kBauds) {
    if (b.rate == baud) return true;
  }
  return false;
}

SerialPort::~SerialPort() { Close(); }

SerialPort::SerialPort(SerialPort&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

SerialPort& SerialPort::operator=(SerialPort&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void SerialPort::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

Result<SerialPort> SerialPort::Open(const PortSettings& s) {
  const int fd = ::open(s.device.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg = Errno("open " + s.device, err);
    return Err(err == ENOENT ? Status::NotFound(msg) : Status::IoError(msg));
  }
  SerialPort port(fd);
  termios tio{};
  if (::tcgetattr(fd, &tio) != 0)
    return Err(Status::IoError(Errno("tcgetattr " + s.device, errno)));
  ::cfmakeraw(&tio);
  tio.c_cflag |= CLOCAL | CREAD;
  tio.c_cflag &= ~static_cast<tcflag_t>(CRTSCTS | CSIZE | PARENB | PARODD | CSTOPB);
  switch (s.data_bits) {
    case 5:
      tio.c_cflag |= CS5;
      break;
    case 6:
      tio.c_cflag |= CS6;
      break;
    case 7:
      tio.c_cflag |= CS7;
      break;
    default:
      tio.c_cflag |= CS8;
      break;
  }
  if (s.parity == 'E') tio.c_cflag |= PARENB;
  if (s.parity == 'O') tio.c_cflag |= PARENB | PARODD;
  if (s.parity != 'N') tio.c_iflag |= INPCK;
  if (s.stop_bits == 2) tio.c_cflag |= CSTOPB;
  tio.c_iflag &= ~static_cast<tcflag_t>(IXON | IXOFF | IXANY);
  tio.c_cc[VMIN] = 0;
  tio.c_cc[VTIME] = 0;
  speed_t speed = B9600;
  for (const auto& b : kBauds) {
    if (b.rate == s.baud_rate) speed = b.code;
  }
  ::cfsetispeed(&tio, speed);
  ::cfsetospeed(&tio, speed);
  if (::tcsetattr(fd, TCSANOW, &tio) != 0) {
    return Err(Status::IoError(Errno("tcsetattr " + s.device, errno)));
  }
  ::tcflush(fd, TCIFLUSH);  // stale bytes from before the open are not ours
  return port;
}

Result<std::size_t> SerialPort::Read(char* buf, std::size_t n, int timeout_ms) {
  if (fd_ < 0) return Err(Status::Unavailable("port is closed"));
  pollfd p{fd_, POLLIN, 0};
  const int rc = ::poll(&p, 1, timeout_ms);
  if (rc < 0) {
    if (errno == EINTR) return std::size_t{0};
    return Err(Status::Unavailable(Errno("poll", errno)));
  }
  if (rc == 0) return std::size_t{0};
  if ((p.revents & POLLIN) == 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
    return Err(Status::Unavailable("the line hung up"));
  }
  const ssize_t got = ::read(fd_, buf, n);
  if (got > 0) return static_cast<std::size_t>(got);
  if (got == 0) return Err(Status::Unavailable("end of file"));
  if (errno == EAGAIN || errno == EINTR) return std::size_t{0};
  return Err(Status::Unavailable(Errno("read", errno)));
}

Status SerialPort::Write(std::string_view data, int timeout_ms) {
  if (fd_ < 0) return Status::Unavailable("port is closed");
  while (!data.empty()) {
    const ssize_t put = ::write(fd_, data.data(), data.size());
    if (put > 0) {
      data.remove_prefix(static_cast<std::size_t>(put));
      continue;
    }
    if (put < 0 && errno != EAGAIN && errno != EINTR)
      return Status::Unavailable(Errno("write", errno));
    pollfd p{fd_, POLLOUT, 0};
    const int rc = ::poll(&p, 1, timeout_ms);
    if (rc == 0) return Status::Unavailable("write timed out");
    if (rc < 0 && errno != EINTR) return Status::Unavailable(Errno("poll", errno));
    if (rc > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
      return Status::Unavailable("the line hung up");
    }
  }
  return Status::Ok();
}

}  // namespace pn::serial
