// Comma-separated flag values ("bf16,nvfp4", "0,1").
#pragma once

#include <string>
#include <vector>

namespace fp4lab {

// The non-empty items of `text` split at commas, in order ("a,,b" -> {"a", "b"}).
std::vector<std::string> SplitCommaList(const std::string& text);

}  // namespace fp4lab
