// ConfigReader: the one validated way to read a field of a model's config.json. Every number is range-checked in
// 64 bits before it is narrowed (1e12 or 2^32 + 5 layers is an error, never 0 or 5 layers), a field of the wrong
// type is an error, and every error names the file, the field's full path ("text_config.num_hidden_layers") and
// what was expected.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"

namespace fp4lab {

class ConfigReader {
 public:
  // Reads fields of `object` (which must outlive the reader); `path` names the file and `prefix` the object's place
  // in it ("" at the top, "text_config." for a nested config).
  ConfigReader(const nlohmann::json& object, std::string path, std::string prefix = "");

  // InvalidArgument unless the object is a JSON object.
  Status CheckObject() const;
  bool Has(const std::string& key) const;  // present and not null
  // A nested object as a reader of its own; InvalidArgument when present but not an object.
  Result<ConfigReader> Child(const std::string& key) const;
  // The object's keys, in order (per-layer override tables keyed by layer index).
  std::vector<std::string> Keys() const;

  // An integer in [min, max]. Required: missing -> InvalidArgument; Optional: missing or null -> fallback.
  Result<int64_t> Int(const std::string& key, int64_t min, int64_t max) const;
  Result<int64_t> OptionalInt(const std::string& key, int64_t fallback, int64_t min, int64_t max) const;
  // A finite number in [min, max] (integers accepted).
  Result<double> Number(const std::string& key, double min, double max) const;
  Result<double> OptionalNumber(const std::string& key, double fallback, double min, double max) const;
  Result<bool> OptionalBool(const std::string& key, bool fallback) const;
  Result<std::string> OptionalString(const std::string& key, const std::string& fallback) const;
  // One id or a list of ids (eos_token_id), each in [0, max]; empty when missing or null.
  Result<std::vector<int64_t>> IdList(const std::string& key, int64_t max) const;
  // A list of integers, each in [min, max] (mlp_only_layers); empty when missing or null.
  Result<std::vector<int64_t>> OptionalIntList(const std::string& key, int64_t min, int64_t max) const;
  // A list of exactly `size` strings (layer_types); empty when missing or null.
  Result<std::vector<std::string>> OptionalStringList(const std::string& key, size_t size) const;

  // "<path>: field '<prefix><key>' " + what: for errors the reader's callers raise about a field.
  Status Error(const std::string& key, const std::string& what) const;
  const std::string& path() const { return path_; }

 private:
  const nlohmann::json* object_;  // not owned
  std::string path_, prefix_;
};

// Bounds for sizes in a config: dimensions and counts above these cannot be a real model (and would overflow the
// int32 shapes and the int64 byte counts downstream).
inline constexpr int64_t kMaxModelDimension = int64_t{1} << 20;   // hidden, FFN, head_dim, ...
inline constexpr int64_t kMaxVocabulary = int64_t{1} << 24;
inline constexpr int64_t kMaxLayers = 1024;
inline constexpr int64_t kMaxHeads = 4096;
inline constexpr int64_t kMaxExperts = 4096;  // routed experts of one MoE layer
inline constexpr int64_t kMaxContext = int64_t{1} << 24;

}  // namespace fp4lab
