#include "engine/tokenizer/json_fields.h"

namespace fp4lab::tokenizer {

std::string JoinPath(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

std::string IndexPath(std::string_view path, size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

Status JsonFields::Error(std::string_view path, std::string_view message) const {
  return Status::InvalidArgument(file_ + ": field '" + std::string(path) + "': " + std::string(message));
}

Status JsonFields::TypeError(std::string_view path, std::string_view expected, const nlohmann::json& value) const {
  return Error(path, "expected " + std::string(expected) + ", got " + value.type_name());
}

Result<const nlohmann::json*> JsonFields::Required(const nlohmann::json& object, std::string_view path,
                                                   const char* key, std::string_view expected) const {
  if (!object.is_object()) return TypeError(path, "an object", object);
  const auto it = object.find(key);
  if (it == object.end()) return Error(JoinPath(path, key), "missing, expected " + std::string(expected));
  return &*it;
}

Result<std::string> JsonFields::RequiredString(const nlohmann::json& object, std::string_view path,
                                               const char* key) const {
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* value, Required(object, path, key, "a string"));
  if (!value->is_string()) return TypeError(JoinPath(path, key), "a string", *value);
  return value->get<std::string>();
}

Result<std::string> JsonFields::OptionalString(const nlohmann::json& object, std::string_view path, const char* key,
                                               std::string fallback) const {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_string()) return TypeError(JoinPath(path, key), "a string", *it);
  return it->get<std::string>();
}

Result<bool> JsonFields::OptionalBool(const nlohmann::json& object, std::string_view path, const char* key,
                                      bool fallback) const {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return TypeError(JoinPath(path, key), "true or false", *it);
  return it->get<bool>();
}

Result<int64_t> JsonFields::OptionalInt(const nlohmann::json& object, std::string_view path, const char* key,
                                        int64_t fallback) const {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) return TypeError(JoinPath(path, key), "an integer", *it);
  return it->get<int64_t>();
}

Result<std::string> JsonFields::Type(const nlohmann::json& component, std::string_view path) const {
  if (!component.is_object()) return TypeError(path, "an object with a \"type\"", component);
  return RequiredString(component, path, "type");
}

}  // namespace fp4lab::tokenizer
