// A parsed TOML document as a plain tree of Nodes with source positions.
//
// toml++ is a heavy header; it is included only by toml_tree.cpp. Everything else (the gateway
// config, driver and forwarder settings, rule files) works on this tree, so every error can name
// FILE:LINE:COL of the offending key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace pn::config {

struct SourcePos {
  int line = 0;  // 1-based; 0 when unknown
  int col = 0;
};

struct TableEntry;

class Node {
 public:
  enum class Kind { kTable, kArray, kString, kInteger, kFloat, kBool, kDateTime };

  Kind kind = Kind::kTable;
  SourcePos pos;
  std::string str;  // kString; kDateTime holds its TOML text
  std::int64_t integer = 0;
  double floating = 0.0;
  bool boolean = false;
  std::vector<TableEntry> table;  // kTable, in file order (binds as `auto& [key, node]`)
  std::vector<Node> array;        // kArray

  bool is_table() const { return kind == Kind::kTable; }
  bool is_array() const { return kind == Kind::kArray; }
  bool is_number() const { return kind == Kind::kInteger || kind == Kind::kFloat; }
  double as_double() const {
    return kind == Kind::kInteger ? static_cast<double>(integer) : floating;
  }
  // The child of a table by key, or nullptr.
  const Node* Find(std::string_view key) const;
};

// One key of a table. (A struct, not std::pair: pair needs a complete Node, which clang's
// checking of libstdc++ enforces.)
struct TableEntry {
  std::string key;
  Node value;
};

std::string_view KindName(Node::Kind kind);  // "table", "string", "integer", ...

struct Document {
  std::string file;  // as given, used in error messages
  Node root;
};

// Parses a TOML file. A syntax error comes back as Code::kConfig with the message
// "FILE:LINE:COL: what is wrong"; an unreadable file as "FILE: cannot read: reason".
Result<Document> ParseFile(const std::string& path);
// Parses TOML text; `name` stands for the file in messages.
Result<Document> ParseString(std::string_view text, const std::string& name);

}  // namespace pn::config
