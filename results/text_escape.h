// Escaping text for Markdown, shared by the gate's summary and the report's Markdown rendering.
#pragma once

#include <string>
#include <string_view>

namespace fp4lab {

// Escapes one line of text for Markdown (also inside a table cell): backslash before \ ` * _ [ ] | # ~,
// entities for < > &, and newlines folded to spaces.
std::string MarkdownEscape(std::string_view text);

}  // namespace fp4lab
