// Helpers shared by the modbus driver tests: config parsing through the spec and check, and a
// collecting sink.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/driver.h"
#include "drivers/modbus/modbus_config.h"
#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"
#include "tests/unit/drivers/driver_test_util.h"

namespace pn::modbus::testing {

using Loaded = pn::testing::LoadedDriver;

// The [drivers.NAME] table of a config text, validated like the gateway loader does.
inline Loaded Load(std::string_view toml, const std::string& file = "gateway.toml",
                   const std::string& name = "plc") {
  return pn::testing::LoadDriverSection(toml, Spec(), Check, file, name);
}

// Collects readings from the driver thread.
class CollectSink final : public ReadingSink {
 public:
  bool Deliver(std::vector<Reading>& batch) override {
    std::lock_guard lock(mu_);
    for (auto& r : batch) readings_.push_back(std::move(r));
    ++batches_;
    return true;
  }
  std::vector<Reading> readings() const {
    std::lock_guard lock(mu_);
    return readings_;
  }
  std::size_t batches() const {
    std::lock_guard lock(mu_);
    return batches_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Reading> readings_;
  std::size_t batches_ = 0;
};

}  // namespace pn::modbus::testing
