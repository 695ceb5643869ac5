// Shared by every driver's tests: parses a gateway config text and validates one
// [drivers.NAME] table against a driver's spec and check, the way the gateway loader does
// (the spec first, `type` and `enabled` left to the loader, then the check if that passed).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"

namespace pn::testing {

struct LoadedDriver {
  config::Document doc;
  config::ErrorList errors;
  std::optional<config::Section> section;  // set when errors is empty
};

inline LoadedDriver LoadDriverSection(
    std::string_view toml, const config::TableSpec& spec,
    const std::function<void(const config::Section&, config::ErrorList&)>& check,
    const std::string& file, const std::string& name) {
  LoadedDriver l;
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
  config::Validate(*node, spec, path, file, l.errors, {"type", "enabled"});
  if (!l.errors.empty()) return l;
  config::Section section(node, &spec, path, file);
  if (check) check(section, l.errors);
  if (l.errors.empty()) l.section = section;
  return l;
}

}  // namespace pn::testing
