// Status and Result<T>: the error currency of processnow.
//
// A Status is a small value: a code and a human-readable message. Functions that can fail at run
// time return Status (no value) or Result<T> (a value or a Status). No exception crosses a thread
// or an interface; adapters around third-party libraries catch and convert.
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

namespace pn {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // the caller passed something malformed
  kNotFound,
  kIoError,            // file system, socket or device failure
  kCorruption,         // stored data is not what we wrote
  kUnavailable,        // a peer is down; retrying later may succeed
  kResourceExhausted,  // a bound was hit (disk full, queue full)
  kConfig,             // configuration error (exit code 78)
  kInternal,
};

std::string_view CodeName(Code code);

// [[nodiscard]]: ignoring a returned Status is a warning, and -Werror makes it a build error;
// a caller that really has nothing to do with a failure says so with (void) and a comment.
class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status ResourceExhausted(std::string m) {
    return {Code::kResourceExhausted, std::move(m)};
  }
  static Status Config(std::string m) { return {Code::kConfig, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "IoError: disk full" or "OK".
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
using Result = tl::expected<T, Status>;

// Wraps a Status as the error alternative of a Result: `return Err(Status::NotFound("x"));`
inline tl::unexpected<Status> Err(Status s) { return tl::unexpected<Status>(std::move(s)); }

}  // namespace pn
