// Token ids given on the command line: "1,2,3" for one sequence, "1,2,3;4,5,6" for several.
#pragma once

#include <string>
#include <vector>

#include "engine/language_model.h"
#include "engine/status.h"

namespace fp4lab {

// Parses `text` (sequences separated by ';', ids by ',', spaces allowed) into non-empty sequences of non-negative
// ids. InvalidArgument naming `flag` and the offending piece otherwise.
Result<std::vector<std::vector<TokenId>>> ParseTokenIdSequences(const std::string& text, const std::string& flag);

}  // namespace fp4lab
