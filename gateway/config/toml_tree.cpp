#include "gateway/config/toml_tree.h"

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace pn::config {

namespace {

SourcePos PosOf(const toml::source_region& r) {
  return SourcePos{static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
}

Node Convert(const toml::node& n) {
  Node out;
  out.pos = PosOf(n.source());
  switch (n.type()) {
    case toml::node_type::table: {
      out.kind = Node::Kind::kTable;
      const auto& t = *n.as_table();
      // toml++ keeps tables in key order; restore file order for stable error listings.
      for (auto&& [k, v] : t) {
        Node child = Convert(v);
        // A key's own position is more useful than its value's for "key.path" errors.
        if (k.source().begin.line != 0) child.pos = PosOf(k.source());
        out.table.push_back(TableEntry{std::string(k.str()), std::move(child)});
      }
      std::stable_sort(out.table.begin(), out.table.end(), [](const auto& a, const auto& b) {
        return a.value.pos.line != b.value.pos.line ? a.value.pos.line < b.value.pos.line
                                                    : a.value.pos.col < b.value.pos.col;
      });
      break;
    }
    case toml::node_type::array: {
      out.kind = Node::Kind::kArray;
      for (auto&& v : *n.as_array()) out.array.push_back(Convert(v));
      break;
    }
    case toml::node_type::string:
      out.kind = Node::Kind::kString;
      out.str = n.as_string()->get();
      break;
    case toml::node_type::integer:
      out.kind = Node::Kind::kInteger;
      out.integer = n.as_integer()->get();
      break;
    case toml::node_type::floating_point:
      out.kind = Node::Kind::kFloat;
      out.floating = n.as_floating_point()->get();
      break;
    case toml::node_type::boolean:
      out.kind = Node::Kind::kBool;
      out.boolean = n.as_boolean()->get();
      break;
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: {
      out.kind = Node::Kind::kDateTime;
      std::ostringstream os;
      if (auto* d = n.as_date()) os << *d;
      if (auto* t = n.as_time()) os << *t;
      if (auto* dt = n.as_date_time()) os << *dt;
      out.str = os.str();
      break;
    }
    case toml::node_type::none:
      break;
  }
  return out;
}

}  // namespace

const Node* Node::Find(std::string_view key) const {
  for (const auto& [k, v] : table) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string_view KindName(Node::Kind kind) {
  switch (kind) {
    case Node::Kind::kTable:
      return "table";
    case Node::Kind::kArray:
      return "array";
    case Node::Kind::kString:
      return "string";
    case Node::Kind::kInteger:
      return "integer";
    case Node::Kind::kFloat:
      return "float";
    case Node::Kind::kBool:
      return "boolean";
    case Node::Kind::kDateTime:
      return "date-time";
  }
  return "value";
}

Result<Document> ParseString(std::string_view text, const std::string& name) {
  try {
    toml::table t = toml::parse(text, name);
    Document doc;
    doc.file = name;
    doc.root = Convert(t);
    doc.root.pos = SourcePos{1, 1};
    return doc;
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return Err(Status::Config(name + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                              ": " + std::string(e.description())));
  }
}

Result<Document> ParseFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Err(Status::Config(path + ": cannot read: " + std::strerror(errno)));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ParseString(ss.str(), path);
}

}  // namespace pn::config
