#include "datasets/csv.h"

#include <gtest/gtest.h>

namespace fp4lab {
namespace {

using Fields = std::vector<std::string>;

TEST(CsvTest, PlainAndQuotedFields) {
  const auto records = ParseCsv("a,b,c\n\"x, y\",\"say \"\"hi\"\"\",\"\"\n", "t.csv");
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].fields, (Fields{"a", "b", "c"}));
  EXPECT_EQ((*records)[0].line, 1);
  EXPECT_EQ((*records)[1].fields, (Fields{"x, y", "say \"hi\"", ""}));
  EXPECT_EQ((*records)[1].line, 2);
}

TEST(CsvTest, EmbeddedNewlinesKeepVerbatimAndAdvanceLines) {
  const auto records = ParseCsv("\"line 1\nline 2\r\nline 3\",z\nnext,row\n", "t.csv");
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].fields, (Fields{"line 1\nline 2\r\nline 3", "z"}));
  EXPECT_EQ((*records)[0].line, 1);
  EXPECT_EQ((*records)[1].fields, (Fields{"next", "row"}));
  EXPECT_EQ((*records)[1].line, 4);  // the first record spans physical lines 1..3
}

TEST(CsvTest, CrlfAndLfLineEndsAndNoFinalNewline) {
  const auto records = ParseCsv("a,b\r\nc,d\ne,f", "t.csv");
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].fields, (Fields{"a", "b"}));
  EXPECT_EQ((*records)[1].fields, (Fields{"c", "d"}));
  EXPECT_EQ((*records)[2].fields, (Fields{"e", "f"}));
  EXPECT_EQ((*records)[2].line, 3);
}

TEST(CsvTest, EmptyFieldsBlankLinesAndByteOrderMark) {
  const auto records = ParseCsv("\xEF\xBB\xBF" "a,,\n\n,\n", "t.csv");
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].fields, (Fields{"a", "", ""}));
  EXPECT_EQ((*records)[1].fields, (Fields{"", ""}));
  EXPECT_EQ((*records)[1].line, 3);
}

TEST(CsvTest, UnterminatedQuoteNamesFileAndLines) {
  const auto records = ParseCsv("ok,row\n\"open\nstill open\n", "bad.csv");
  ASSERT_FALSE(records.ok());
  EXPECT_EQ(records.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(records.status().message(), "bad.csv:4: unterminated quoted field (the quote opens on line 2)");
}

TEST(CsvTest, TextAfterClosingQuoteIsRejected) {
  const auto records = ParseCsv("a,b\n\"x\"y,z\n", "bad.csv");
  ASSERT_FALSE(records.ok());
  EXPECT_EQ(records.status().message(), "bad.csv:2: expected ',' or end of line after closing quote, got 'y'");
}

TEST(CsvTest, QuoteInsideUnquotedFieldIsRejected) {
  const auto records = ParseCsv("a,b\"c\n", "bad.csv");
  ASSERT_FALSE(records.ok());
  EXPECT_NE(records.status().message().find("bad.csv:1: '\"' inside an unquoted field"), std::string::npos);
}

}  // namespace
}  // namespace fp4lab
