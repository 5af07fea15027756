// What a checkpoint directory says about its tokenizer outside tokenizer.json / tokenizer.model:
// tokenizer_config.json (special token strings, chat template) and every EOS id of config.json and
// generation_config.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"

namespace fp4lab {

// The facts of tokenizer_config.json that chat templates and stopping need. Every field is empty / null when the
// file or the field is absent.
struct TokenizerConfig {
  std::string bos_token;  // "bos_token" (a string, or an added-token object's "content")
  std::string eos_token;
  nlohmann::json chat_template;  // as written: a string, a list of {"name", "template"} objects, or null
};

// Reads <model_dir>/tokenizer_config.json if present. InvalidArgument naming the file and field if it is not JSON
// or a field has the wrong type.
Result<TokenizerConfig> ReadTokenizerConfig(const std::string& model_dir);

// The "eos_token_id" of <model_dir>/config.json, then of generation_config.json (each an int or a list of ints),
// in that order; absent files or fields contribute nothing. InvalidArgument naming the file for a wrong type.
Result<std::vector<int32_t>> ReadConfigEosIds(const std::string& model_dir);

}  // namespace fp4lab
