#include "engine/tokenizer/byte_level.h"

#include <array>

#include "engine/tokenizer/unicode_text.h"

namespace fp4lab::tokenizer {

namespace {

// Printable ASCII and printable Latin-1 (but the soft hyphen) stand for themselves.
bool StandsForItself(char32_t b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

constexpr char32_t kFirstShifted = 256;
constexpr int kShiftedCount = 68;  // 256 bytes minus the 188 that stand for themselves

struct ByteLevelTables {
  std::array<std::string, 256> utf8_of_byte;
  std::array<int, kShiftedCount> byte_of_shifted{};  // byte of U+0100 + i

  ByteLevelTables() {
    char32_t next = kFirstShifted;  // the other bytes take U+0100, U+0101, ... in byte order
    for (int b = 0; b < 256; ++b) {
      char32_t c = static_cast<char32_t>(b);
      if (!StandsForItself(c)) {
        byte_of_shifted[next - kFirstShifted] = b;
        c = next++;
      }
      AppendUtf8(c, &utf8_of_byte[b]);
    }
  }
};

const ByteLevelTables& Tables() {
  static const ByteLevelTables tables;
  return tables;
}

}  // namespace

void AppendByteLevel(std::string_view bytes, std::string* out) {
  const ByteLevelTables& tables = Tables();
  for (const char b : bytes) *out += tables.utf8_of_byte[static_cast<unsigned char>(b)];
}

int ByteOfByteLevelChar(char32_t c) {
  if (c < kFirstShifted) return StandsForItself(c) ? static_cast<int>(c) : -1;
  if (c < kFirstShifted + kShiftedCount) return Tables().byte_of_shifted[c - kFirstShifted];
  return -1;
}

}  // namespace fp4lab::tokenizer
