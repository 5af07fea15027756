// tokenizer.json "post_processor": what encoding with special tokens adds around the ids of one sequence.
// Supported types: TemplateProcessing (its "single" template), ByteLevel (offsets only: ids unchanged),
// BertProcessing and RobertaProcessing ([cls] ids [sep]), Sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"
#include "engine/tokenizer/json_fields.h"

namespace fp4lab::tokenizer {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Applies the processor to the ids of one sequence (called only when special tokens are wanted).
  virtual void AddSpecialTokens(std::vector<int32_t>* ids) const = 0;
};

// `node` is the JSON object at `path` (not null).
Result<std::unique_ptr<PostProcessor>> ParsePostProcessor(const nlohmann::json& node, std::string_view path,
                                                          const JsonFields& fields);

}  // namespace fp4lab::tokenizer
