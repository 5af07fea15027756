// The "pattern" objects of tokenizer.json ({"String": "..."} or {"Regex": "..."}) and Hugging Face's
// SplitDelimiterBehavior: how matches and the text between them become pieces.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"
#include "engine/tokenizer/json_fields.h"
#include "engine/tokenizer/regex.h"

namespace fp4lab::tokenizer {

// {"String": s} finds s literally, {"Regex": r} is a regular expression. `path` names the pattern field.
Result<std::shared_ptr<const Regex>> ParsePattern(const nlohmann::json& pattern, std::string_view path,
                                                  const JsonFields& fields);

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// "Removed", "Isolated", "MergedWithPrevious", "MergedWithNext" or "Contiguous".
Result<SplitBehavior> ParseSplitBehavior(const nlohmann::json& value, std::string_view path,
                                         const JsonFields& fields);

// Splits `text` as NormalizedString::split does: finds the segments of `regex` (with `invert`, matches and gaps
// swap roles), applies `behavior`, and appends the non-empty pieces to `pieces`. Fails only as FindSegments does.
Status SplitText(std::string_view text, const Regex& regex, SplitBehavior behavior, bool invert,
               std::vector<std::string_view>* pieces);

}  // namespace fp4lab::tokenizer
