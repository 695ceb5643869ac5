// Typed sub-tables: tables whose allowed keys depend on a discriminator key.
//
// [drivers.NAME] and [upstreams.NAME] choose their keys with `type = "modbus"`, [rule.detector]
// with `type = "zscore"`, [rule.health] with `method = "similarity"`. The discriminator names an
// entry of a registry (DriverType, UpstreamType, DetectorType, HealthModelType) that brings the
// spec of the table's other keys and, optionally, a semantic check. LoadTypedTable() is the part
// they share:
//
//   1. read the discriminator: absent means the default name, or "required key is missing" when
//      there is none; a value other than a string is an error;
//   2. look the name up; a name the registry does not know is an error (the caller words it,
//      listing the known names);
//   3. validate the table against the entry's spec, leaving out the discriminator and the keys
//      the caller checks itself;
//   4. run the entry's check, only when step 3 found nothing (a check may assume valid keys).
//
// Every error names the file, the position, the dotted key path and what is wrong. Keys a table
// has beyond its type's spec (a detector's min_score, an instance's enabled) are the caller's:
// it passes them in `skip` and checks them on its own.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"

namespace pn::config {

// How a typed table is read. `Entry` is a registry entry with the members
//   const TableSpec* spec;  // the table's keys, the discriminator excluded
//   check;                  // check(const Section&, ErrorList&), or empty (tests false)
template <typename Entry>
struct TypedTableSpec {
  std::string key;  // the discriminator: "type", "method"
  // The registry lookup: the entry called `name`, or nullptr.
  std::function<const Entry*(std::string_view name)> find;
  // The error for a name find() does not know, e.g. "unknown detector \"x\" (known: a, b)".
  std::function<std::string(const std::string& name)> unknown_message;
  // The name used when the key is absent; "": the key is required.
  std::string default_name = {};
  // The error for a value that is not a string; empty: Validate()'s ("expected a string, found
  // an integer").
  std::function<std::string(const Node& value)> wrong_type_message = {};
  // Keys besides the discriminator left for the caller to check.
  std::vector<std::string> skip = {};
  // false: validate the keys but do not run the entry's check (a disabled driver).
  bool run_check = true;
};

template <typename Entry>
struct TypedTable {
  const Entry* entry;  // never null
  Section section;     // the table, read against entry->spec
  bool ok;             // no error in the table's own keys, none from entry->check
};

namespace typed_table_internal {

// Step 1: the discriminator's value, or the default name when it is absent; nullopt once the
// error is added (missing and no default, not a string).
std::optional<std::string> ReadDiscriminator(
    const Node& table, std::string_view path, const std::string& file, const std::string& key,
    const std::string& default_name,
    const std::function<std::string(const Node& value)>& wrong_type_message, ErrorList& errors);

}  // namespace typed_table_internal

// Reads `table` (REQUIRES: a table node) found at `path` in `file` as `spec` says, appending every
// problem to `errors`. Returns nullopt when the discriminator is missing, not a string or unknown
// (one error about it, nothing about the other keys); otherwise the entry and the Section, also
// when the table's own keys have errors (`ok` says so), so the caller can still reason about the
// entry (e.g. report that a univariate detector cannot serve a health rule).
template <typename Entry>
std::optional<TypedTable<Entry>> LoadTypedTable(const Node& table, std::string_view path,
                                                const std::string& file,
                                                const TypedTableSpec<Entry>& spec,
                                                ErrorList& errors) {
  std::optional<std::string> name = typed_table_internal::ReadDiscriminator(
      table, path, file, spec.key, spec.default_name, spec.wrong_type_message, errors);
  if (!name) return std::nullopt;
  const Entry* entry = spec.find(*name);
  if (entry == nullptr) {
    // Without the key, the default name is unknown: point at the table itself.
    const Node* value = table.Find(spec.key);
    errors.Add(file, value != nullptr ? value->pos : table.pos, JoinPath(path, spec.key),
               spec.unknown_message(*name));
    return std::nullopt;
  }
  std::vector<std::string> skip = spec.skip;
  skip.push_back(spec.key);
  const std::size_t before = errors.size();
  Validate(table, *entry->spec, path, file, errors, skip);
  Section section(&table, entry->spec, std::string(path), file);
  if (errors.size() == before && spec.run_check && entry->check) entry->check(section, errors);
  return TypedTable<Entry>{entry, std::move(section), errors.size() == before};
}

}  // namespace pn::config
