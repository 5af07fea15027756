#include "datasets/utf8.h"

#include <algorithm>
#include <cstdint>

namespace fp4lab {
namespace {

bool IsContinuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Length (1..4) of the valid sequence starting at text[i], or 0 if none starts there (RFC 3629 table 3-7).
size_t ValidSequenceLength(std::string_view text, size_t i) {
  const auto at = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t b0 = at(i);
  if (b0 < 0x80) return 1;
  size_t length = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 == 0xE0) {
    length = 3, lo = 0xA0;  // excludes overlong 3-byte forms
  } else if (b0 >= 0xE1 && b0 <= 0xEC) {
    length = 3;
  } else if (b0 == 0xED) {
    length = 3, hi = 0x9F;  // excludes surrogates U+D800..U+DFFF
  } else if (b0 >= 0xEE && b0 <= 0xEF) {
    length = 3;
  } else if (b0 == 0xF0) {
    length = 4, lo = 0x90;  // excludes overlong 4-byte forms
  } else if (b0 >= 0xF1 && b0 <= 0xF3) {
    length = 4;
  } else if (b0 == 0xF4) {
    length = 4, hi = 0x8F;  // excludes code points above U+10FFFF
  } else {
    return 0;  // 0x80..0xC1 and 0xF5..0xFF never start a sequence
  }
  if (i + length > text.size()) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (!IsContinuation(at(i + k))) return 0;
  }
  return length;
}

}  // namespace

std::optional<Utf8Error> FindInvalidUtf8(std::string_view text) {
  size_t line = 1;
  for (size_t i = 0; i < text.size();) {
    const size_t length = ValidSequenceLength(text, i);
    if (length == 0) return Utf8Error{i, line};
    if (text[i] == '\n') ++line;
    i += length;
  }
  return std::nullopt;
}

std::string ToValidUtf8(std::string_view bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const size_t length = ValidSequenceLength(bytes, i);
    if (length == 0) {
      out.append(kReplacement);
      ++i;
    } else {
      out.append(bytes.substr(i, length));
      i += length;
    }
  }
  return out;
}

std::string_view TruncateUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  while (end > 0 && IsContinuation(static_cast<uint8_t>(text[end]))) --end;
  return text.substr(0, end);
}

}  // namespace fp4lab
