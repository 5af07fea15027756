#include "datasets/utf8.h"

#include <gtest/gtest.h>

namespace fp4lab {
namespace {

TEST(Utf8Test, AcceptsValidText) {
  EXPECT_FALSE(FindInvalidUtf8("").has_value());
  EXPECT_FALSE(FindInvalidUtf8("plain ASCII\n").has_value());
  // U+00E9 (2 bytes), U+20AC (3 bytes), U+1F600 (4 bytes), U+10FFFF (largest code point).
  EXPECT_FALSE(FindInvalidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF").has_value());
}

TEST(Utf8Test, ReportsOffsetAndLineOfFirstInvalidSequence) {
  const auto error = FindInvalidUtf8("ok\nline2 \xFF rest");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->byte_offset, 9u);  // "ok\n" (3) + "line2 " (6)
  EXPECT_EQ(error->line, 2u);
}

TEST(Utf8Test, RejectsOverlongSurrogateTruncatedAndOutOfRange) {
  EXPECT_TRUE(FindInvalidUtf8("\xC0\x80").has_value());          // overlong NUL
  EXPECT_TRUE(FindInvalidUtf8("\xE0\x80\xAF").has_value());      // overlong '/'
  EXPECT_TRUE(FindInvalidUtf8("\xED\xA0\x80").has_value());      // surrogate U+D800
  EXPECT_TRUE(FindInvalidUtf8("\xF4\x90\x80\x80").has_value());  // U+110000
  EXPECT_TRUE(FindInvalidUtf8("ab\xE2\x82").has_value());        // cut at the end
  EXPECT_TRUE(FindInvalidUtf8("\x80").has_value());              // lone continuation byte
  const auto cut = FindInvalidUtf8("ab\xE2\x82");
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(cut->byte_offset, 2u);
}

TEST(Utf8Test, ToValidUtf8ReplacesEachBadByte) {
  EXPECT_EQ(ToValidUtf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(ToValidUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(ToValidUtf8("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Utf8Test, TruncateNeverSplitsACharacter) {
  const std::string text = "ab\xE2\x82\xAC" "cd";  // "ab€cd"
  EXPECT_EQ(TruncateUtf8(text, 100), text);
  EXPECT_EQ(TruncateUtf8(text, 5), "ab\xE2\x82\xAC");
  EXPECT_EQ(TruncateUtf8(text, 4), "ab");
  EXPECT_EQ(TruncateUtf8(text, 3), "ab");
  EXPECT_EQ(TruncateUtf8(text, 2), "ab");
}

}  // namespace
}  // namespace fp4lab
