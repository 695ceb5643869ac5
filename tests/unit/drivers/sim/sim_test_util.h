// Helpers shared by the sim driver tests: config parsing through the spec, and a fake sink.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/sim/sim_driver.h"
#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"
#include "tests/unit/drivers/driver_test_util.h"

namespace pn::sim::testing {

using Loaded = pn::testing::LoadedDriver;

// The [drivers.NAME] table of a config text, validated like the gateway loader does.
inline Loaded Load(std::string_view toml, const std::string& file = "gateway.toml",
                   const std::string& name = "plant") {
  return pn::testing::LoadDriverSection(toml, Spec(), Check, file, name);
}

// Collects readings; optionally calls `on_deliver` after each batch (from the driver thread).
class FakeSink final : public ReadingSink {
 public:
  bool Deliver(std::vector<Reading>& batch) override {
    std::lock_guard lock(mu_);
    sizes_.push_back(batch.size());
    count_ += batch.size();
    if (keep_) {
      for (auto& r : batch) readings_.push_back(std::move(r));
    }
    if (on_deliver) on_deliver();
    return accept_;
  }

  std::size_t count() const { return count_.load(); }
  std::vector<Reading> readings() const {
    std::lock_guard lock(mu_);
    return readings_;
  }
  std::vector<std::size_t> sizes() const {
    std::lock_guard lock(mu_);
    return sizes_;
  }
  void set_keep(bool keep) { keep_ = keep; }
  void set_accept(bool accept) { accept_ = accept; }

  std::function<void()> on_deliver;

 private:
  mutable std::mutex mu_;
  std::atomic<std::size_t> count_{0};
  std::vector<Reading> readings_;
  std::vector<std::size_t> sizes_;
  bool keep_ = true;
  bool accept_ = true;
};

}  // namespace pn::sim::testing
