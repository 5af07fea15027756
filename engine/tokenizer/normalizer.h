// tokenizer.json "normalizer": rewrites each piece of input text between added tokens before pre-tokenization.
// Supported types: NFC, NFD, NFKC, NFKD (ICU), Lowercase, Strip, Prepend, Replace, Sequence.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/status.h"
#include "engine/tokenizer/json_fields.h"

namespace fp4lab::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites `text` (valid UTF-8) in place. Fails only if a regex gives up (Regex::FindSegments).
  virtual Status Normalize(std::string* text) const = 0;
};

// `node` is the JSON object at `path` (not null). InvalidArgument naming the field for unknown types or bad fields.
Result<std::unique_ptr<Normalizer>> ParseNormalizer(const nlohmann::json& node, std::string_view path,
                                                    const JsonFields& fields);

}  // namespace fp4lab::tokenizer
