// tokenizer.json "pre_tokenizer": splits normalized text into the words the model tokenizes one by one.
// Supported types: Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit, Sequence.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"
#include "engine/tokenizer/json_fields.h"

namespace fp4lab::tokenizer {

// One word on its way to the model.
struct PreToken {
  std::string text;
  bool starts_input = false;  // begins at byte 0 of the encoded text (Metaspace's prepend_scheme "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces each word by its pieces, in order; empty pieces are dropped. Fails only if a regex gives up
  // (Regex::FindSegments).
  virtual Status PreTokenize(std::vector<PreToken>* words) const = 0;
};

// `node` is the JSON object at `path` (not null).
Result<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const nlohmann::json& node, std::string_view path,
                                                        const JsonFields& fields);

}  // namespace fp4lab::tokenizer
