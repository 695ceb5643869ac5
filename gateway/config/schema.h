// Configuration keys declared as data.
//
// Every table the user can write (the gateway's own tables, each driver's and each upstream's
// settings, rule parameters) is described by a TableSpec: its keys with type, default, range,
// allowed choices and a description. The same spec drives validation (unknown keys, wrong types
// and out-of-range values are errors, every one reported), typed access with defaults (Section),
// and the generated reference config (config/gateway.toml).
//
// Renamed keys: a KeySpec lists its old names in `aliases`. An old name is still accepted and
// read as the new key (Section's accessors find either), Validate() adds a warning naming the
// old and the new key (`processnow check` prints it, `run` logs it), and writing both the new
// name and an old one in the same table is an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/config/toml_tree.h"

namespace pn::config {

enum class ValueType { kBool, kInt, kFloat, kString, kStringList, kTable, kTableArray };

std::string_view ValueTypeName(ValueType t);

using DefaultValue =
    std::variant<std::monostate, bool, std::int64_t, double, std::string, std::vector<std::string>>;

struct TableSpec;

struct KeySpec {
  // Every member has a default member initializer, so designated initializers may omit any.
  std::string name = {};
  ValueType type = ValueType::kString;
  DefaultValue default_value = {};  // monostate: no default (optional unless `required`)
  std::string description = {};     // one or more full sentences
  bool required = false;
  std::optional<double> min = std::nullopt;  // inclusive, for kInt / kFloat
  std::optional<double> max = std::nullopt;
  std::vector<std::string> choices = {};  // for kString: the allowed values
  const TableSpec* table = nullptr;       // for kTable / kTableArray: the nested spec
  std::string example = {};  // reference config: example value shown for keys w/o default
  std::vector<std::string> aliases = {};  // deprecated old names, still accepted with a warning
};

struct TableSpec {
  std::string description = {};
  std::vector<KeySpec> keys = {};
  bool allow_unknown = false;  // pass-through tables (e.g. librdkafka properties)

  const KeySpec* Find(std::string_view key) const;
  // The key named `key` or having `key` among its aliases.
  const KeySpec* FindNameOrAlias(std::string_view key) const;
};

struct ConfigError {
  std::string file;
  SourcePos pos;
  std::string path;  // dotted key path, e.g. "drivers.pump1.rate_hz"
  std::string message;
  // "FILE:LINE:COL: key.path: message"
  std::string ToString() const;
};

class ErrorList {
 public:
  void Add(std::string file, SourcePos pos, std::string path, std::string message);
  void Append(const ErrorList& other);
  bool empty() const { return errors_.empty(); }
  std::size_t size() const { return errors_.size(); }
  const std::vector<ConfigError>& errors() const { return errors_; }
  // Sorted by file, line, column; one error per line.
  std::string ToString() const;

  // Warnings (deprecated key names): they do not make the config invalid.
  void AddWarning(std::string file, SourcePos pos, std::string path, std::string message);
  const std::vector<ConfigError>& warnings() const { return warnings_; }
  // Sorted like ToString(), each "FILE:LINE:COL: key.path: warning: message".
  std::string WarningsToString() const;

 private:
  std::vector<ConfigError> errors_;
  std::vector<ConfigError> warnings_;
};

// Appends a key to `table` while it is being built and returns it, so the caller can set a
// range, choices or an example. REQUIRES: nothing holds a pointer into table.keys yet.
KeySpec& AddKey(TableSpec& table, std::string name, ValueType type, DefaultValue default_value,
                std::string description);

// Joins a table path and a key: Join("drivers.p1", "rate_hz") == "drivers.p1.rate_hz".
std::string JoinPath(std::string_view path, std::string_view key);

// What a value is, with its article, as the messages say it: "an integer", "a string", "an
// array of strings", "an empty array".
std::string DescribeKind(const Node& n);

// Validate()'s messages, for checks that report the same problems outside a TableSpec:
// "expected an integer, found a string"...
std::string WrongTypeMessage(ValueType expected, const Node& found);
// ...and "\"x\" is not one of the allowed values: \"a\", \"b\" (did you mean \"a\"?)".
std::string NotAllowedMessage(std::string_view value, const std::vector<std::string>& choices);

// Checks `table` (must be a table node) against `spec`, recursing into nested tables, and appends
// every problem found to `errors`. Keys named in `skip` are left for the caller to check.
void Validate(const Node& table, const TableSpec& spec, std::string_view path,
              const std::string& file, ErrorList& errors,
              const std::vector<std::string>& skip = {});

// Typed read access to a validated table, with the spec's defaults filled in.
// REQUIRES: the table passed Validate() against the same spec (accessors then cannot fail;
// asking for a key the spec does not declare is a programming error and aborts).
class Section {
 public:
  Section() = default;  // empty; only for assigning later
  Section(const Node* node, const TableSpec* spec, std::string path, std::string file);

  bool Has(std::string_view key) const;  // written in the file (not defaulted)
  bool GetBool(std::string_view key) const;
  std::int64_t GetInt(std::string_view key) const;
  double GetFloat(std::string_view key) const;
  std::string GetString(std::string_view key) const;
  std::vector<std::string> GetStringList(std::string_view key) const;
  std::optional<Section> GetTable(std::string_view key) const;
  std::vector<Section> GetTableArray(std::string_view key) const;

  SourcePos PosOf(std::string_view key) const;  // the key's position, or the table's
  std::string PathOf(std::string_view key) const { return JoinPath(path_, key); }
  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  const Node* node() const { return node_; }
  const TableSpec* spec() const { return spec_; }

  // Adds an error about `key` of this table (semantic checks beyond the spec), at the key's
  // position and under the name the file uses (a deprecated old name if that is written).
  void AddError(ErrorList& errors, std::string_view key, std::string message) const;

 private:
  const KeySpec& SpecOf(std::string_view key) const;
  // The key's node under its name or, failing that, under one of its aliases; null if unset.
  const Node* Lookup(std::string_view key) const;
  const Node* node_ = nullptr;
  const TableSpec* spec_ = nullptr;
  std::string path_;
  std::string file_;
};

// Renders `spec` as commented TOML for the reference config: "## Description" lines, then the key
// with its default, commented out ("# key = default") unless `uncomment_required`.
// `header` is the table header to print ("gateway", "drivers.NAME"), empty for none.
std::string RenderReference(const TableSpec& spec, std::string_view header);

// Formats a default value as TOML ("\"info\"", "1000", "[\"a\", \"b\"]").
std::string FormatDefault(const DefaultValue& v);

}  // namespace pn::config
