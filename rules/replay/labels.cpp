#include "rules/replay/labels.h"

#include <simdjson.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace pn::rules {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;

Result<std::string> TimeText(element e) {
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  double v = 0;
  if (e.get_double().get(v) == simdjson::SUCCESS) return std::to_string(v);
  return tl::unexpected(Status::InvalidArgument("a window time must be a string or a number"));
}

Result<std::vector<LabelWindowText>> Windows(element list, const std::string& where) {
  array pairs;
  if (list.get_array().get(pairs) != simdjson::SUCCESS) {
    return tl::unexpected(Status::InvalidArgument(where + ": expected a list of [start, end]"));
  }
  std::vector<LabelWindowText> out;
  for (element pair : pairs) {
    array two;
    if (pair.get_array().get(two) != simdjson::SUCCESS || two.size() != 2) {
      return tl::unexpected(
          Status::InvalidArgument(where + ": each window must be a [start, end] pair"));
    }
    auto start = TimeText(two.at(0).value_unsafe());
    auto end = TimeText(two.at(1).value_unsafe());
    if (!start || !end) {
      return tl::unexpected(
          Status::InvalidArgument(where + ": " + (start ? end : start).error().message()));
    }
    out.push_back({*start, *end});
  }
  return out;
}

bool EndsWithPath(const std::string& path, const std::string& key) {
  if (key.empty() || key.size() > path.size()) return false;
  if (path.compare(path.size() - key.size(), key.size(), key) != 0) return false;
  return key.size() == path.size() || path[path.size() - key.size() - 1] == '/';
}

}  // namespace

Result<std::vector<LabelWindowText>> LoadLabelWindows(const std::string& labels_path,
                                                      const std::string& csv_path) {
  simdjson::dom::parser parser;
  element doc;
  if (auto err = parser.load(labels_path).get(doc); err != simdjson::SUCCESS) {
    if (err == simdjson::IO_ERROR) {
      return tl::unexpected(
          Status::IoError(labels_path + ": cannot read: " + std::strerror(errno)));
    }
    return tl::unexpected(
        Status::InvalidArgument(labels_path + ": invalid JSON: " + simdjson::error_message(err)));
  }
  if (doc.is_array()) return Windows(doc, labels_path);
  simdjson::dom::object files;
  if (doc.get_object().get(files) != simdjson::SUCCESS) {
    return tl::unexpected(Status::InvalidArgument(
        labels_path + ": expected an object of file -> windows, or a list of windows"));
  }
  const std::string csv = std::filesystem::path(csv_path).lexically_normal().generic_string();
  std::string best;
  element chosen;
  for (auto field : files) {
    const std::string key(field.key);
    if (EndsWithPath(csv, key) && key.size() > best.size()) {
      best = key;
      chosen = field.value;
    }
  }
  if (best.empty()) return std::vector<LabelWindowText>{};
  return Windows(chosen, labels_path + ": \"" + best + "\"");
}

}  // namespace pn::rules
