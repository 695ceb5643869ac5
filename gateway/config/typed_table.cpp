#include "gateway/config/typed_table.h"

namespace pn::config::typed_table_internal {

std::optional<std::string> ReadDiscriminator(
    const Node& table, std::string_view path, const std::string& file, const std::string& key,
    const std::string& default_name,
    const std::function<std::string(const Node& value)>& wrong_type_message, ErrorList& errors) {
  const Node* value = table.Find(key);
  if (value == nullptr) {
    if (!default_name.empty()) return default_name;
    errors.Add(file, table.pos, JoinPath(path, key), "required key is missing");
    return std::nullopt;
  }
  if (value->kind != Node::Kind::kString) {
    errors.Add(file, value->pos, JoinPath(path, key),
               wrong_type_message ? wrong_type_message(*value)
                                  : WrongTypeMessage(ValueType::kString, *value));
    return std::nullopt;
  }
  return value->str;
}

}  // namespace pn::config::typed_table_internal
