// Python string operations the Jinja interpreter needs, on UTF-8 text with Python's (code point) semantics:
// len, indexing and slicing count characters, strip() and split() use Python's Unicode whitespace.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fp4lab::jinja {

// Code points of UTF-8 text; an invalid byte becomes one code point of its own value (never fails).
std::u32string DecodeUtf8(std::string_view text);
std::string EncodeUtf8(std::u32string_view code_points);
void AppendUtf8(char32_t code_point, std::string& out);

// str.isspace() of one character: ASCII whitespace, \x1c-\x1f, \x85, \xa0, U+1680, U+2000-U+200A, U+2028,
// U+2029, U+202F, U+205F, U+3000.
bool IsPythonSpace(char32_t c);

// str.strip / lstrip / rstrip: with `chars` unset, Python whitespace; otherwise any character of `chars`.
std::string Strip(std::string_view text, const std::optional<std::string>& chars, bool left, bool right);

// str.split(sep, maxsplit): with `sep` unset, runs of whitespace separate and empty pieces are dropped.
// maxsplit < 0 = no limit. An empty `sep` is an error (as in Python).
std::vector<std::string> Split(std::string_view text, const std::optional<std::string>& sep, int64_t maxsplit);

// str.replace(old, new, count); count < 0 = all. An empty `old` inserts `new` between characters, as Python does.
std::string Replace(std::string_view text, std::string_view from, std::string_view to, int64_t count);

// str.upper / lower / capitalize / title and jinja2's title filter. Only ASCII letters are mapped: text with other
// letters is an error rather than a silently different result from Python's Unicode tables.
enum class CaseMapping { kUpper, kLower, kCapitalize, kTitle };
std::string MapCase(std::string_view text, CaseMapping mapping);

// The HTML escaping of jinja2's escape filter (markupsafe): & < > " '.
std::string EscapeHtml(std::string_view text);

}  // namespace fp4lab::jinja
