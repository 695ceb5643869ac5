// Helpers shared by the similarity model tests: a [rule.health] body validated against the
// similarity spec and prepared into a model factory, and the `library = "..."` line.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/config/toml_tree.h"
#include "rules/maintenance/similarity/similarity_model.h"

namespace pn::rules::testing {

using Factory = std::function<std::unique_ptr<HealthModel>()>;

struct Prepared {
  config::ErrorList errors;
  Factory factory;
};

// Parses `body`, validates it against the similarity spec (and its check) and prepares it for
// a rule whose series are `series`; `factory` is empty when there were errors.
inline Prepared PrepareSimilarity(const std::string& body, const std::vector<std::string>& series) {
  Prepared out;
  const HealthModelType* type = FindHealthModelType("similarity");
  REQUIRE(type != nullptr);
  auto doc = config::ParseString(body, "rules.toml");
  REQUIRE(doc.has_value());
  config::Validate(doc->root, *type->spec, "rule.health", "rules.toml", out.errors, {"method"});
  if (!out.errors.empty()) return out;
  config::Section section(&doc->root, type->spec, "rule.health", "rules.toml");
  type->check(section, out.errors);
  if (!out.errors.empty()) return out;
  out.factory = type->prepare_named(section, series, "", out.errors);
  return out;
}

inline std::string LibraryKey(const std::string& path) { return "library = \"" + path + "\"\n"; }

}  // namespace pn::rules::testing
