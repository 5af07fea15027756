// Reading the fields of a tokenizer JSON file with errors that name the file, the field path (as in
// "pre_tokenizer.pretokenizers[0].pattern.Regex") and what was expected.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/status.h"

namespace fp4lab::tokenizer {

class JsonFields {
 public:
  explicit JsonFields(std::string file) : file_(std::move(file)) {}
  const std::string& file() const { return file_; }

  // InvalidArgument "<file>: field '<path>': <message>".
  Status Error(std::string_view path, std::string_view message) const;
  // "expected <expected>, got <the JSON type of value>".
  Status TypeError(std::string_view path, std::string_view expected, const nlohmann::json& value) const;

  // object[key] where object is a JSON object; a missing key is an error ("missing, expected <expected>").
  Result<const nlohmann::json*> Required(const nlohmann::json& object, std::string_view path, const char* key,
                                         std::string_view expected) const;
  Result<std::string> RequiredString(const nlohmann::json& object, std::string_view path, const char* key) const;
  // A missing or null field gives `fallback`.
  Result<std::string> OptionalString(const nlohmann::json& object, std::string_view path, const char* key,
                                     std::string fallback) const;
  Result<bool> OptionalBool(const nlohmann::json& object, std::string_view path, const char* key,
                            bool fallback) const;
  Result<int64_t> OptionalInt(const nlohmann::json& object, std::string_view path, const char* key,
                              int64_t fallback) const;
  // The "type" string of a component object (normalizer, pre_tokenizer, ...); `path` names the component.
  Result<std::string> Type(const nlohmann::json& component, std::string_view path) const;

 private:
  std::string file_;
};

// "a.b" (or "b" when `path` is empty) and "a[3]".
std::string JoinPath(std::string_view path, std::string_view key);
std::string IndexPath(std::string_view path, size_t index);

}  // namespace fp4lab::tokenizer
