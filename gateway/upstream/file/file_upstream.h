// The `file` upstream: JSON lines (one record per line, the wire schema of
// gateway/upstream/README.md) appended to a file, or written to stdout with path = "-".
// A send is acknowledged once the lines are written and flushed (and fsync'ed when `fsync`).
// Thread-safety: one forwarder thread owns an instance.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "gateway/upstream/upstream.h"

namespace pn::file_upstream {

struct Options {
  std::string path = "-";  // "-" is stdout
  bool fsync = false;
};

class FileUpstream final : public Upstream {
 public:
  FileUpstream(std::string name, std::string gateway_id, Options options);
  ~FileUpstream() override;

  const std::string& name() const override { return name_; }
  Status Start() override;
  SendResult Send(std::span<const Record> records) override;
  void Stop() override;

 private:
  std::string name_;
  std::string gateway_id_;
  Options options_;
  std::FILE* out_ = nullptr;
  bool owns_ = false;
  std::string buffer_;
};

UpstreamType UpstreamTypeEntry();

}  // namespace pn::file_upstream
