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

namespace pn::modbus::testing {

// A parsed gateway config and the [drivers.<name>] section of it, validated like the gateway
// loader does: the spec first (`type` and `enabled` skipped), then Check() if that passed.
struct Loaded {
  config::Document doc;
  config::ErrorList errors;
  std::optional<config::Section> section;  // set when errors is empty
};

inline Loaded Load(std::string_view toml, const std::string& file = "gateway.toml",
                   const std::string& name = "plc") {
  Loaded l;
  auto doc = config::ParseString(toml, file);
  if (!doc) {
    l.errors.Add(file, {}, "", doc.error().message());
    return l;
  }
  l.doc = std::move(*doc);
  const config::Node* drivers = l.doc.root.Find("drivers");
  const config::Node* node = drivers ? drivers->Find(name) : nullptr;
  if (node == nullptr) {
    l.errors.Add(file, {}, "drivers." + name, "missing");
    return l;
  }
  const std::string path = "drivers." + name;
  config::Validate(*node, Spec(), path, file, l.errors, {"type", "enabled"});
  if (!l.errors.empty()) return l;
  config::Section section(node, &Spec(), path, file);
  Check(section, l.errors);
  if (l.errors.empty()) l.section = section;
  return l;
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
