// GPT-2's byte-level alphabet: every byte maps to one printable code point (printable ASCII and Latin-1 map to
// themselves, the other 68 bytes to U+0100...), so any byte string becomes a string of vocabulary characters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fp4lab::tokenizer {

// Appends the UTF-8 of the code points that stand for each byte of `bytes`.
void AppendByteLevel(std::string_view bytes, std::string* out);

// The byte a code point stands for, or -1 if it stands for none.
int ByteOfByteLevelChar(char32_t c);

}  // namespace fp4lab::tokenizer
