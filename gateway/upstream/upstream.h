// Upstream: where records go (a file, MQTT, Kafka). One forwarder thread per upstream reads the
// store from the upstream's cursor, calls Send() and acknowledges what was delivered.
//
// The three-way result (after Fluent Bit): kOk, kRetry (transient: the engine backs off and
// sends the same records again), kError (these records can never be delivered; the engine logs,
// counts and skips them). An upstream never throws; third-party exceptions are caught inside.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/schema.h"
#include "gateway/core/record.h"
#include "gateway/core/status.h"

namespace pn {

enum class SendCode { kOk, kRetry, kError };

struct SendResult {
  SendCode code = SendCode::kOk;
  // Records [0, delivered) are delivered and may be acknowledged, whatever the code.
  std::size_t delivered = 0;
  std::string error;  // why, for kRetry and kError
};

class Upstream {
 public:
  virtual ~Upstream() = default;
  virtual const std::string& name() const = 0;
  // Connects or opens. A failure here is retried by the engine like a kRetry.
  virtual Status Start() = 0;
  // Delivers records in order. Called from the upstream's forwarder thread only.
  virtual SendResult Send(std::span<const Record> records) = 0;
  // Finishes in-flight work and closes. Called once, from the forwarder thread.
  virtual void Stop() = 0;
};

struct UpstreamContext {
  std::string name;
  std::string gateway_id;
};

struct UpstreamType {
  std::string type;
  std::string summary;
  const config::TableSpec* spec;  // keys of [upstreams.NAME], `type` excluded
  std::function<void(const config::Section&, config::ErrorList&)> check;
  std::function<Result<std::unique_ptr<Upstream>>(const config::Section&, const UpstreamContext&)>
      create;
};

const std::vector<UpstreamType>& UpstreamTypes();
const UpstreamType* FindUpstreamType(std::string_view type);

}  // namespace pn
