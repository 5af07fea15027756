// Escaping of untrusted text (anything read from the database or a file) for HTML/SVG markup.
#pragma once

#include <string>
#include <string_view>

namespace fp4lab {

// Replaces & < > " ' with entities, so the result is safe in element content and in quoted attribute values.
// Control characters other than tab, newline and carriage return (invalid in HTML/XML) become U+FFFD.
std::string HtmlEscape(std::string_view text);

}  // namespace fp4lab
