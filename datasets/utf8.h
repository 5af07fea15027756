// UTF-8 validation (RFC 3629: no overlong forms, no UTF-16 surrogates, nothing above U+10FFFF) and repair.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace fp4lab {

// Where the first invalid sequence starts.
struct Utf8Error {
  size_t byte_offset = 0;  // 0-based offset into the text
  size_t line = 0;         // 1-based line (count of '\n' before byte_offset, plus one)
};

// std::nullopt when `text` is entirely valid UTF-8.
std::optional<Utf8Error> FindInvalidUtf8(std::string_view text);

// Returns `bytes` with every byte that does not start a valid sequence replaced by U+FFFD, so that arbitrary
// program output can be stored as JSON text. Valid input is returned unchanged.
std::string ToValidUtf8(std::string_view bytes);

// The longest prefix of valid UTF-8 `text` with at most `max_bytes` bytes that does not split a character.
std::string_view TruncateUtf8(std::string_view text, size_t max_bytes);

}  // namespace fp4lab
