#include "gateway/config/schema.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace pn::config {

std::string_view ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kBool:
      return "boolean";
    case ValueType::kInt:
      return "integer";
    case ValueType::kFloat:
      return "number";
    case ValueType::kString:
      return "string";
    case ValueType::kStringList:
      return "array of strings";
    case ValueType::kTable:
      return "table";
    case ValueType::kTableArray:
      return "array of tables";
  }
  return "value";
}

const KeySpec* TableSpec::Find(std::string_view key) const {
  for (const auto& k : keys) {
    if (k.name == key) return &k;
  }
  return nullptr;
}

const KeySpec* TableSpec::FindNameOrAlias(std::string_view key) const {
  if (const KeySpec* k = Find(key)) return k;
  for (const auto& k : keys) {
    if (std::find(k.aliases.begin(), k.aliases.end(), key) != k.aliases.end()) return &k;
  }
  return nullptr;
}

std::string ConfigError::ToString() const {
  std::string s = file;
  s += ':';
  s += std::to_string(pos.line);
  s += ':';
  s += std::to_string(pos.col);
  s += ": ";
  if (!path.empty()) {
    s += path;
    s += ": ";
  }
  s += message;
  return s;
}

void ErrorList::Add(std::string file, SourcePos pos, std::string path, std::string message) {
  errors_.push_back(ConfigError{std::move(file), pos, std::move(path), std::move(message)});
}

void ErrorList::Append(const ErrorList& other) {
  errors_.insert(errors_.end(), other.errors_.begin(), other.errors_.end());
  warnings_.insert(warnings_.end(), other.warnings_.begin(), other.warnings_.end());
}

void ErrorList::AddWarning(std::string file, SourcePos pos, std::string path, std::string message) {
  warnings_.push_back(ConfigError{std::move(file), pos, std::move(path), std::move(message)});
}

namespace {

std::string SortedLines(std::vector<ConfigError> sorted, std::string_view prefix) {
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    if (a.file != b.file) return a.file < b.file;
    if (a.pos.line != b.pos.line) return a.pos.line < b.pos.line;
    return a.pos.col < b.pos.col;
  });
  std::string out;
  for (auto& e : sorted) {
    e.message.insert(0, prefix);
    out += e.ToString();
    out += '\n';
  }
  return out;
}

}  // namespace

std::string ErrorList::ToString() const { return SortedLines(errors_, ""); }

std::string ErrorList::WarningsToString() const { return SortedLines(warnings_, "warning: "); }

KeySpec& AddKey(TableSpec& table, std::string name, ValueType type, DefaultValue default_value,
                std::string description) {
  KeySpec k;
  k.name = std::move(name);
  k.type = type;
  k.default_value = std::move(default_value);
  k.description = std::move(description);
  table.keys.push_back(std::move(k));
  return table.keys.back();
}

std::string JoinPath(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string s(path);
  s += '.';
  s += key;
  return s;
}

namespace {

std::string FormatNumber(double v) {
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // Shortest form that round-trips, to keep messages readable.
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

bool TypeMatches(const Node& n, ValueType t) {
  switch (t) {
    case ValueType::kBool:
      return n.kind == Node::Kind::kBool;
    case ValueType::kInt:
      return n.kind == Node::Kind::kInteger;
    case ValueType::kFloat:
      return n.is_number();
    case ValueType::kString:
      return n.kind == Node::Kind::kString;
    case ValueType::kStringList:
      return n.is_array() && std::all_of(n.array.begin(), n.array.end(), [](const Node& e) {
               return e.kind == Node::Kind::kString;
             });
    case ValueType::kTable:
      return n.is_table();
    case ValueType::kTableArray:
      return n.is_array() && std::all_of(n.array.begin(), n.array.end(),
                                         [](const Node& e) { return e.is_table(); });
  }
  return false;
}

std::string Article(std::string_view type) {
  return (type[0] == 'a' || type[0] == 'i') ? "an " + std::string(type) : "a " + std::string(type);
}

// "did you mean": the candidate with the smallest edit distance <= 2 to `key`, or "".
std::string Closest(std::string_view key, const std::vector<std::string>& candidates) {
  auto dist = [](std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::string best;
  std::size_t best_d = 3;
  for (const auto& c : candidates) {
    std::size_t d = dist(key, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

std::string Suggest(std::string_view key, const TableSpec& spec) {
  std::vector<std::string> names;
  for (const auto& k : spec.keys) names.push_back(k.name);
  return Closest(key, names);
}

}  // namespace

std::string DescribeKind(const Node& n) {
  if (n.is_array()) {
    if (n.array.empty()) return "an empty array";
    return "an array of " + std::string(KindName(n.array.front().kind)) + "s";
  }
  std::string k(KindName(n.kind));
  return (k[0] == 'a' || k[0] == 'i') ? "an " + k : "a " + k;
}

std::string WrongTypeMessage(ValueType expected, const Node& found) {
  return "expected " + Article(ValueTypeName(expected)) + ", found " + DescribeKind(found);
}

std::string NotAllowedMessage(std::string_view value, const std::vector<std::string>& choices) {
  std::string list;
  for (const auto& c : choices) {
    if (!list.empty()) list += ", ";
    list += Quote(c);
  }
  std::string hint = Closest(value, choices);
  return Quote(value) + " is not one of the allowed values: " + list +
         (hint.empty() ? "" : " (did you mean " + Quote(hint) + "?)");
}

void Validate(const Node& table, const TableSpec& spec, std::string_view path,
              const std::string& file, ErrorList& errors, const std::vector<std::string>& skip) {
  if (!table.is_table()) {
    errors.Add(file, table.pos, std::string(path),
               "expected a table, found " + DescribeKind(table));
    return;
  }
  for (const auto& [key, value] : table.table) {
    if (std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
    std::string kpath = JoinPath(path, key);
    const KeySpec* ks = spec.Find(key);
    if (ks == nullptr && (ks = spec.FindNameOrAlias(key)) != nullptr) {
      // An old name of a renamed key: accepted with a warning, unless the key is also set under
      // its new name or another old one.
      std::string other;
      if (table.Find(ks->name) != nullptr) other = ks->name;
      for (const auto& a : ks->aliases) {
        if (other.empty() && a != key && table.Find(a) != nullptr) other = a;
      }
      if (!other.empty()) {
        errors.Add(file, value.pos, kpath,
                   "is the deprecated name of " + ks->name + " and " + other +
                       " is set too: keep only " + ks->name);
        continue;
      }
      errors.AddWarning(
          file, value.pos, kpath,
          "\"" + key + "\" is deprecated; use \"" + ks->name + "\" instead (same meaning)");
    }
    if (ks == nullptr) {
      if (spec.allow_unknown) continue;
      std::string msg = "unknown key";
      std::string hint = Suggest(key, spec);
      if (!hint.empty()) msg += " (did you mean '" + hint + "'?)";
      errors.Add(file, value.pos, kpath, msg);
      continue;
    }
    if (!TypeMatches(value, ks->type)) {
      errors.Add(file, value.pos, kpath, WrongTypeMessage(ks->type, value));
      continue;
    }
    if (ks->type == ValueType::kInt || ks->type == ValueType::kFloat) {
      double v = value.as_double();
      if (!std::isfinite(v)) {
        errors.Add(file, value.pos, kpath, "must be a finite number");
      } else if ((ks->min && v < *ks->min) || (ks->max && v > *ks->max)) {
        std::string range;
        if (ks->min && ks->max) {
          range = "between " + FormatNumber(*ks->min) + " and " + FormatNumber(*ks->max);
        } else if (ks->min) {
          range = "at least " + FormatNumber(*ks->min);
        } else {
          range = "at most " + FormatNumber(*ks->max);
        }
        errors.Add(file, value.pos, kpath,
                   "value " + FormatNumber(v) + " is out of range: must be " + range);
      }
    }
    if (ks->type == ValueType::kString && !ks->choices.empty() &&
        std::find(ks->choices.begin(), ks->choices.end(), value.str) == ks->choices.end()) {
      errors.Add(file, value.pos, kpath, NotAllowedMessage(value.str, ks->choices));
    }
    if (ks->type == ValueType::kTable && ks->table != nullptr) {
      Validate(value, *ks->table, kpath, file, errors);
    }
    if (ks->type == ValueType::kTableArray && ks->table != nullptr) {
      for (std::size_t i = 0; i < value.array.size(); ++i) {
        Validate(value.array[i], *ks->table, kpath + "[" + std::to_string(i) + "]", file, errors);
      }
    }
  }
  for (const auto& ks : spec.keys) {
    const bool aliased = std::any_of(ks.aliases.begin(), ks.aliases.end(),
                                     [&table](const std::string& a) { return table.Find(a); });
    if (ks.required && table.Find(ks.name) == nullptr && !aliased &&
        std::find(skip.begin(), skip.end(), ks.name) == skip.end()) {
      errors.Add(file, table.pos, JoinPath(path, ks.name), "required key is missing");
    }
  }
}

Section::Section(const Node* node, const TableSpec* spec, std::string path, std::string file)
    : node_(node), spec_(spec), path_(std::move(path)), file_(std::move(file)) {}

const KeySpec& Section::SpecOf(std::string_view key) const {
  const KeySpec* ks = spec_->Find(key);
  if (ks == nullptr) {
    std::fprintf(stderr, "processnow: internal error: key '%.*s' is not declared for '%s'\n",
                 static_cast<int>(key.size()), key.data(), path_.c_str());
    std::abort();
  }
  return *ks;
}

const Node* Section::Lookup(std::string_view key) const {
  if (node_ == nullptr) return nullptr;
  if (const Node* n = node_->Find(key)) return n;
  const KeySpec* ks = spec_ != nullptr ? spec_->Find(key) : nullptr;
  if (ks == nullptr) return nullptr;
  for (const auto& a : ks->aliases) {
    if (const Node* n = node_->Find(a)) return n;
  }
  return nullptr;
}

bool Section::Has(std::string_view key) const { return Lookup(key) != nullptr; }

bool Section::GetBool(std::string_view key) const {
  const KeySpec& ks = SpecOf(key);
  if (const Node* n = Lookup(key)) return n->boolean;
  if (auto* d = std::get_if<bool>(&ks.default_value)) return *d;
  return false;
}

std::int64_t Section::GetInt(std::string_view key) const {
  const KeySpec& ks = SpecOf(key);
  if (const Node* n = Lookup(key)) return n->integer;
  if (auto* d = std::get_if<std::int64_t>(&ks.default_value)) return *d;
  return 0;
}

double Section::GetFloat(std::string_view key) const {
  const KeySpec& ks = SpecOf(key);
  if (const Node* n = Lookup(key)) return n->as_double();
  if (auto* d = std::get_if<double>(&ks.default_value)) return *d;
  if (auto* i = std::get_if<std::int64_t>(&ks.default_value)) return static_cast<double>(*i);
  return 0.0;
}

std::string Section::GetString(std::string_view key) const {
  const KeySpec& ks = SpecOf(key);
  if (const Node* n = Lookup(key)) return n->str;
  if (auto* d = std::get_if<std::string>(&ks.default_value)) return *d;
  return {};
}

std::vector<std::string> Section::GetStringList(std::string_view key) const {
  const KeySpec& ks = SpecOf(key);
  if (const Node* n = Lookup(key)) {
    std::vector<std::string> out;
    for (const auto& e : n->array) out.push_back(e.str);
    return out;
  }
  if (auto* d = std::get_if<std::vector<std::string>>(&ks.default_value)) return *d;
  return {};
}

std::optional<Section> Section::GetTable(std::string_view key) const {
  const KeySpec& ks = SpecOf(key);
  const Node* n = Lookup(key);
  if (n == nullptr) return std::nullopt;
  return Section(n, ks.table, PathOf(key), file_);
}

std::vector<Section> Section::GetTableArray(std::string_view key) const {
  const KeySpec& ks = SpecOf(key);
  std::vector<Section> out;
  const Node* n = Lookup(key);
  if (n == nullptr) return out;
  for (std::size_t i = 0; i < n->array.size(); ++i) {
    out.emplace_back(&n->array[i], ks.table, PathOf(key) + "[" + std::to_string(i) + "]", file_);
  }
  return out;
}

SourcePos Section::PosOf(std::string_view key) const {
  if (node_ == nullptr) return {};
  if (const Node* n = Lookup(key)) return n->pos;
  return node_->pos;
}

void Section::AddError(ErrorList& errors, std::string_view key, std::string message) const {
  // Named as the file writes it: under a deprecated old name, that name.
  std::string_view written = key;
  const KeySpec* ks = spec_ != nullptr ? spec_->Find(key) : nullptr;
  if (node_ != nullptr && ks != nullptr && node_->Find(key) == nullptr) {
    for (const auto& a : ks->aliases) {
      if (node_->Find(a) != nullptr) written = a;
    }
  }
  errors.Add(file_, PosOf(key), PathOf(written), std::move(message));
}

std::string FormatDefault(const DefaultValue& v) {
  struct Visitor {
    std::string operator()(std::monostate) const { return ""; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      std::string s = FormatNumber(d);
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
      return s;
    }
    std::string operator()(const std::string& s) const { return Quote(s); }
    std::string operator()(const std::vector<std::string>& v) const {
      std::string s = "[";
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) s += ", ";
        s += Quote(v[i]);
      }
      return s + "]";
    }
  };
  return std::visit(Visitor{}, v);
}

namespace {

void WrapComment(std::ostringstream& os, std::string_view text, std::string_view prefix) {
  // Wraps at ~98 columns on spaces.
  std::size_t width = 98 - prefix.size();
  while (!text.empty()) {
    std::size_t n = text.size() <= width ? text.size() : text.rfind(' ', width);
    if (n == std::string_view::npos || n == 0) n = std::min(text.size(), width);
    os << prefix << text.substr(0, n) << '\n';
    text.remove_prefix(n);
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  }
}

void RenderTable(std::ostringstream& os, const TableSpec& spec, std::string_view header,
                 bool array_header) {
  if (!header.empty()) {
    os << (array_header ? "[[" : "[") << header << (array_header ? "]]" : "]") << '\n';
  }
  std::vector<const KeySpec*> nested;
  for (const auto& ks : spec.keys) {
    if (ks.type == ValueType::kTable || ks.type == ValueType::kTableArray) {
      nested.push_back(&ks);
      continue;
    }
    std::string desc = ks.description;
    if (ks.min || ks.max) {
      desc += " Range: ";
      desc += ks.min ? FormatNumber(*ks.min) : "";
      desc += "..";
      desc += ks.max ? FormatNumber(*ks.max) : "";
      desc += ".";
    }
    if (!ks.choices.empty()) {
      desc += " One of:";
      for (std::size_t i = 0; i < ks.choices.size(); ++i) {
        desc += (i ? ", " : " ") + Quote(ks.choices[i]);
      }
      desc += ".";
    }
    if (ks.required) desc += " Required.";
    for (const auto& a : ks.aliases) desc += " Formerly " + a + " (still accepted, deprecated).";
    WrapComment(os, desc, "## ");
    std::string value = FormatDefault(ks.default_value);
    if (value.empty()) value = ks.example.empty() ? "\"\"" : ks.example;
    os << (ks.required ? "" : "# ") << ks.name << " = " << value << "\n\n";
  }
  for (const KeySpec* ks : nested) {
    if (ks->table == nullptr) continue;
    WrapComment(os, ks->description, "## ");
    RenderTable(os, *ks->table, JoinPath(header, ks->name), ks->type == ValueType::kTableArray);
  }
}

}  // namespace

std::string RenderReference(const TableSpec& spec, std::string_view header) {
  std::ostringstream os;
  RenderTable(os, spec, header, false);
  return os.str();
}

}  // namespace pn::config
