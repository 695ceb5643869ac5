#include "gateway/upstream/file/file_upstream.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pn::file_upstream {

namespace {

const config::TableSpec& Spec() {
  static const config::TableSpec spec{
      "JSON lines to a file or stdout.",
      {
          {.name = "path",
           .type = config::ValueType::kString,
           .default_value = std::string("-"),
           .description = "File to append JSON lines to, or \"-\" for standard output. A "
                          "relative path is relative to the working directory."},
          {.name = "fsync",
           .type = config::ValueType::kBool,
           .default_value = false,
           .description = "Call fsync after every send before acknowledging it, so records "
                          "acknowledged (and deleted from the buffer) survive a power loss."},
      }};
  return spec;
}

}  // namespace

FileUpstream::FileUpstream(std::string name, std::string gateway_id, Options options)
    : name_(std::move(name)), gateway_id_(std::move(gateway_id)), options_(std::move(options)) {}

FileUpstream::~FileUpstream() { Stop(); }

Status FileUpstream::Start() {
  if (out_ != nullptr) return Status::Ok();
  if (options_.path == "-") {
    out_ = stdout;
    owns_ = false;
    return Status::Ok();
  }
  // "a+" so the last byte can be read: a process killed mid-write leaves a partial line, and the
  // next record must not be glued onto it (readers skip lines that do not parse).
  out_ = std::fopen(options_.path.c_str(), "a+e");
  if (out_ == nullptr) {
    return Status::IoError("cannot open \"" + options_.path + "\": " + std::strerror(errno));
  }
  owns_ = true;
  struct stat st {};
  if (::fstat(fileno(out_), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
      std::fseek(out_, -1, SEEK_END) == 0) {
    int last = std::fgetc(out_);
    std::fseek(out_, 0, SEEK_END);
    if (last != '\n' && last != EOF && (std::fputc('\n', out_) == EOF || std::fflush(out_) != 0)) {
      int err = errno;
      Stop();
      return Status::IoError("cannot write to \"" + options_.path + "\": " + std::strerror(err));
    }
  }
  return Status::Ok();
}

SendResult FileUpstream::Send(std::span<const Record> records) {
  SendResult result;
  if (out_ == nullptr) {
    Status s = Start();
    if (!s.ok()) return {SendCode::kRetry, 0, s.message()};
  }
  buffer_.clear();
  for (const Record& r : records) {
    AppendWireJson(buffer_, gateway_id_, r);
    buffer_ += '\n';
  }
  std::size_t n = std::fwrite(buffer_.data(), 1, buffer_.size(), out_);
  if (n != buffer_.size() || std::fflush(out_) != 0) {
    int err = errno;
    // A partial line may have reached the file; the records are sent again, whole.
    std::clearerr(out_);
    return {SendCode::kRetry, 0,
            "write to \"" + options_.path + "\" failed: " + std::strerror(err)};
  }
  if (options_.fsync && owns_ && ::fsync(fileno(out_)) != 0) {
    return {SendCode::kRetry, 0,
            "fsync of \"" + options_.path + "\" failed: " + std::strerror(errno)};
  }
  result.code = SendCode::kOk;
  result.delivered = records.size();
  return result;
}

void FileUpstream::Stop() {
  if (out_ != nullptr) {
    std::fflush(out_);
    if (owns_) std::fclose(out_);
  }
  out_ = nullptr;
  owns_ = false;
}

UpstreamType UpstreamTypeEntry() {
  return UpstreamType{
      .type = "file",
      .summary =
          "JSON lines appended to a file or written to stdout (demo, debugging, "
          "log shippers).",
      .spec = &Spec(),
      .check = nullptr,
      .create = [](const config::Section& s,
                   const UpstreamContext& ctx) -> Result<std::unique_ptr<Upstream>> {
        Options o;
        o.path = s.GetString("path");
        o.fsync = s.GetBool("fsync");
        return std::make_unique<FileUpstream>(ctx.name, ctx.gateway_id, o);
      }};
}

}  // namespace pn::file_upstream
