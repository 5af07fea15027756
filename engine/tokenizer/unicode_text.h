// UTF-8 and Unicode helpers for the tokenizer: decoding one code point, validation, Rust's lossy conversion,
// and the character classes Hugging Face tokenizers tests (Rust's char::is_whitespace and regex \w).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fp4lab::tokenizer {

// Decodes the code point starting at text[pos]. Returns its length in bytes (1-4) and sets *code_point, or returns
// 0 when the bytes there are not valid UTF-8 (overlong forms, surrogates and values above U+10FFFF are invalid).
int DecodeUtf8(std::string_view text, size_t pos, char32_t* code_point);

// Length in bytes of the valid UTF-8 character at text[pos], or 0 if invalid.
inline int Utf8CharLength(std::string_view text, size_t pos) {
  char32_t unused;
  return DecodeUtf8(text, pos, &unused);
}

// Byte offset of the first invalid UTF-8 sequence, or std::string_view::npos when `text` is valid.
size_t FindInvalidUtf8(std::string_view text);

void AppendUtf8(char32_t code_point, std::string* out);

// Rust's String::from_utf8_lossy: each maximal invalid subpart (Unicode's "substitution of maximal subparts")
// becomes one U+FFFD.
std::string Utf8Lossy(std::string_view bytes);

// Rust's char::is_whitespace (the Unicode White_Space property).
bool IsWhitespace(char32_t c);
// Rust regex's \w: Alphabetic, marks, decimal digits, connector punctuation, Join_Control.
bool IsWordChar(char32_t c);

}  // namespace fp4lab::tokenizer
