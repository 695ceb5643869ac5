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

#include "core/clock.h"
#include "core/record.h"
#include "core/status.h"
#include "gateway/config/schema.h"

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

  // Pipelining, optional (the MQTT upstream has it): Send() returns once its messages are
  // handed to the client, while the broker's acknowledgements are still on their way, so the
  // next batch goes out without waiting for the last one's round trip. The forwarder turns it
  // on before Start(); an upstream that cannot pipeline returns false and nothing changes.
  // `acknowledged` may be called from any thread when acknowledgements arrive (at least once
  // per Send() whose messages are all acknowledged, and on a failure), to wake the forwarder.
  //
  // Once on, the records of every Send() returning kOk are in flight, and `delivered` of
  // Send() and Collect() counts records acknowledged in order from the oldest record still in
  // flight (earlier sends first). kRetry forgets every record in flight and not delivered: the
  // forwarder sends them again. A pipelining upstream never returns kError.
  virtual bool EnablePipelining(std::function<void()> acknowledged) {
    (void)acknowledged;
    return false;
  }
  // Pipelining: the acknowledgements that arrived, without waiting; kRetry when the oldest
  // message in flight is past its timeout or the connection is lost.
  virtual SendResult Collect() { return {SendCode::kOk, 0, {}}; }
};

struct UpstreamContext {
  std::string name;
  std::string gateway_id;
  // The time an upstream reads (timeouts, timestamps): the pipeline's clock; tests may pass a
  // FakeClock. Waits inside client libraries (Paho, librdkafka) still run on real time.
  Clock* clock = &SystemClock::Instance();
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
