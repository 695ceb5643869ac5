// Helpers for the mqtt driver tests: config loading through the spec like the gateway loader.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/mqtt/mqtt_driver.h"
#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"

namespace pn::mqtt::testing {

struct Loaded {
  config::Document doc;
  config::ErrorList errors;
  std::optional<config::Section> section;
};

inline Loaded Load(std::string_view toml, const std::string& file = "gateway.toml",
                   const std::string& name = "broker") {
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

}  // namespace pn::mqtt::testing
