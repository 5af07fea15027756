#include "engine/arch/config_reader.h"

#include <cmath>
#include <utility>

namespace fp4lab {

namespace {

std::string Range(int64_t min, int64_t max) {
  return "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
}

std::string Describe(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 40) + "...";
  return text;
}

}  // namespace

ConfigReader::ConfigReader(const nlohmann::json& object, std::string path, std::string prefix)
    : object_(&object), path_(std::move(path)), prefix_(std::move(prefix)) {}

Status ConfigReader::CheckObject() const {
  if (object_->is_object()) return Status::Ok();
  if (prefix_.empty()) return Status::InvalidArgument(path_ + ": expected a JSON object");
  return Status::InvalidArgument(path_ + ": field '" + prefix_.substr(0, prefix_.size() - 1) +
                                 "' must be an object");
}

bool ConfigReader::Has(const std::string& key) const {
  return object_->is_object() && object_->contains(key) && !(*object_)[key].is_null();
}

Status ConfigReader::Error(const std::string& key, const std::string& what) const {
  return Status::InvalidArgument(path_ + ": field '" + prefix_ + key + "' " + what);
}

std::vector<std::string> ConfigReader::Keys() const {
  std::vector<std::string> keys;
  if (!object_->is_object()) return keys;
  for (const auto& item : object_->items()) keys.push_back(item.key());
  return keys;
}

Result<ConfigReader> ConfigReader::Child(const std::string& key) const {
  if (!Has(key) || !(*object_)[key].is_object()) return Error(key, "must be an object");
  return ConfigReader((*object_)[key], path_, prefix_ + key + ".");
}

Result<int64_t> ConfigReader::Int(const std::string& key, int64_t min, int64_t max) const {
  if (!Has(key)) return Error(key, "is missing (expected an integer in " + Range(min, max) + ")");
  const nlohmann::json& v = (*object_)[key];
  // nlohmann stores integers above INT64_MAX as unsigned and 1e12 as a float: neither may be narrowed silently.
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(max)) {
    return Error(key, "is " + Describe(v) + ", expected an integer in " + Range(min, max));
  }
  if (!v.is_number_integer()) return Error(key, "is " + Describe(v) + ", expected an integer in " + Range(min, max));
  const int64_t value = v.get<int64_t>();
  if (value < min || value > max) {
    return Error(key, "is " + std::to_string(value) + ", expected an integer in " + Range(min, max));
  }
  return value;
}

Result<int64_t> ConfigReader::OptionalInt(const std::string& key, int64_t fallback, int64_t min, int64_t max) const {
  if (!Has(key)) return fallback;
  return Int(key, min, max);
}

Result<double> ConfigReader::Number(const std::string& key, double min, double max) const {
  const std::string expected = "a number in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (!Has(key)) return Error(key, "is missing (expected " + expected + ")");
  const nlohmann::json& v = (*object_)[key];
  if (!v.is_number()) return Error(key, "is " + Describe(v) + ", expected " + expected);
  const double value = v.get<double>();
  if (!std::isfinite(value) || value < min || value > max) {
    return Error(key, "is " + Describe(v) + ", expected " + expected);
  }
  return value;
}

Result<double> ConfigReader::OptionalNumber(const std::string& key, double fallback, double min, double max) const {
  if (!Has(key)) return fallback;
  return Number(key, min, max);
}

Result<bool> ConfigReader::OptionalBool(const std::string& key, bool fallback) const {
  if (!Has(key)) return fallback;
  if (!(*object_)[key].is_boolean()) return Error(key, "is " + Describe((*object_)[key]) + ", expected true or false");
  return (*object_)[key].get<bool>();
}

Result<std::string> ConfigReader::OptionalString(const std::string& key, const std::string& fallback) const {
  if (!Has(key)) return fallback;
  if (!(*object_)[key].is_string()) return Error(key, "is " + Describe((*object_)[key]) + ", expected a string");
  return (*object_)[key].get<std::string>();
}

Result<std::vector<int64_t>> ConfigReader::IdList(const std::string& key, int64_t max) const {
  std::vector<int64_t> ids;
  if (!Has(key)) return ids;
  const nlohmann::json& v = (*object_)[key];
  if (!v.is_array()) {
    FP4LAB_ASSIGN_OR_RETURN(const int64_t id, Int(key, 0, max));
    ids.push_back(id);
    return ids;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number_integer() || v[i].get<int64_t>() < 0 || v[i].get<int64_t>() > max) {
      return Error(key + "[" + std::to_string(i) + "]",
                   "is " + Describe(v[i]) + ", expected a token id in " + Range(0, max));
    }
    ids.push_back(v[i].get<int64_t>());
  }
  return ids;
}

Result<std::vector<int64_t>> ConfigReader::OptionalIntList(const std::string& key, int64_t min, int64_t max) const {
  std::vector<int64_t> values;
  if (!Has(key)) return values;
  const nlohmann::json& v = (*object_)[key];
  if (!v.is_array()) return Error(key, "is " + Describe(v) + ", expected a list of integers in " + Range(min, max));
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number_integer() || v[i].get<int64_t>() < min || v[i].get<int64_t>() > max) {
      return Error(key + "[" + std::to_string(i) + "]", "is " + Describe(v[i]) + ", expected an integer in " +
                                                            Range(min, max));
    }
    values.push_back(v[i].get<int64_t>());
  }
  return values;
}

Result<std::vector<std::string>> ConfigReader::OptionalStringList(const std::string& key, size_t size) const {
  std::vector<std::string> values;
  if (!Has(key)) return values;
  const nlohmann::json& v = (*object_)[key];
  if (!v.is_array() || v.size() != size) {
    return Error(key, "must be a list of " + std::to_string(size) + " strings (one per layer)");
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) return Error(key + "[" + std::to_string(i) + "]", "must be a string");
    values.push_back(v[i].get<std::string>());
  }
  return values;
}

}  // namespace fp4lab
