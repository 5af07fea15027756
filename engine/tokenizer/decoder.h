// tokenizer.json "decoder": turns the token strings of an id sequence back into text. Supported types: ByteLevel,
// ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"
#include "engine/tokenizer/json_fields.h"

namespace fp4lab::tokenizer {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Hugging Face's decode_chain: rewrites the list of token strings (a step may join several into one). Fails only
  // if a regex gives up (Regex::FindSegments).
  virtual Status DecodeChain(std::vector<std::string>* tokens) const = 0;
};

// `node` is the JSON object at `path` (not null).
Result<std::unique_ptr<Decoder>> ParseDecoder(const nlohmann::json& node, std::string_view path,
                                              const JsonFields& fields);

}  // namespace fp4lab::tokenizer
