#include "datasets/mmlu_csv.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace fp4lab {
namespace {

const std::string kMmluDir = std::string(FP4LAB_SOURCE_DIR) + "/datasets/mmlu";

std::string WriteTempFile(const std::string& name, std::string_view content) {
  const std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / ("fp4lab_mmlu_csv_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path path = dir / name;
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

// datasets/SOURCES.md: dev for all 57 subjects (5 rows each, 285 in all); test for three subjects with 100, 100
// and 171 rows.
TEST(MmluCsvTest, BundledSampleHasThePublishedSubjectsAndSizes) {
  const auto dev_subjects = ListMmluSubjects(kMmluDir, MmluSplit::kDev);
  ASSERT_TRUE(dev_subjects.ok()) << dev_subjects.status().ToString();
  ASSERT_EQ(dev_subjects->size(), 57u);
  EXPECT_EQ(dev_subjects->front(), "abstract_algebra");
  EXPECT_EQ(dev_subjects->back(), "world_religions");
  size_t dev_rows = 0;
  for (const std::string& subject : *dev_subjects) {
    const auto rows = LoadMmluSubject(kMmluDir, MmluSplit::kDev, subject);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    EXPECT_EQ(rows->size(), 5u) << subject;
    dev_rows += rows->size();
  }
  EXPECT_EQ(dev_rows, 285u);

  const auto test_subjects = ListMmluSubjects(kMmluDir, MmluSplit::kTest);
  ASSERT_TRUE(test_subjects.ok()) << test_subjects.status().ToString();
  EXPECT_EQ(*test_subjects,
            (std::vector<std::string>{"abstract_algebra", "college_computer_science", "world_religions"}));
  const std::pair<const char*, size_t> sizes[] = {
      {"abstract_algebra", 100}, {"college_computer_science", 100}, {"world_religions", 171}};
  for (const auto& [subject, expected] : sizes) {
    const auto rows = LoadMmluSubject(kMmluDir, MmluSplit::kTest, subject);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    EXPECT_EQ(rows->size(), expected) << subject;
  }
}

// Rows typed from datasets/mmlu/dev/abstract_algebra_dev.csv lines 1-2.
TEST(MmluCsvTest, ParsesQuotedChoicesWithCommas) {
  const auto rows = LoadMmluSubject(kMmluDir, MmluSplit::kDev, "abstract_algebra");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  const MmluQuestion& first = (*rows)[0];
  EXPECT_EQ(first.question, "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.");
  EXPECT_EQ(first.choices, (std::array<std::string, 4>{"0", "1", "2", "3"}));
  EXPECT_EQ(first.answer, 1);  // B
  const MmluQuestion& second = (*rows)[1];
  EXPECT_EQ(second.question,
            "Statement 1 | If aH is an element of a factor group, then |aH| divides |a|. Statement 2 | If H and K are "
            "subgroups of G then HK is a subgroup of G.");
  EXPECT_EQ(second.choices, (std::array<std::string, 4>{"True, True", "False, False", "True, False", "False, True"}));
  EXPECT_EQ(second.line, 2);
}

// college_computer_science dev row 2 spans physical lines 2..5; row 3 starts on line 6.
TEST(MmluCsvTest, MultiLineQuestionsKeepNewlinesAndLineNumbers) {
  const auto rows = LoadMmluSubject(kMmluDir, MmluSplit::kDev, "college_computer_science");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  const MmluQuestion& pipelined = (*rows)[1];
  EXPECT_TRUE(pipelined.question.starts_with(
      "A certain pipelined RISC machine has 8 general-purpose registers R0, R1, . . . , R7 and supports the "
      "following operations.\nADD Rs1, Rs2, Rd Add Rs1 to Rs2 and put the sum in Rd\nMUL Rs1, Rs2, Rd"));
  EXPECT_EQ(pipelined.line, 2);
  EXPECT_EQ((*rows)[2].line, 6);
  EXPECT_EQ((*rows)[2].choices[3], "I, II, and III");
}

TEST(MmluCsvTest, KeepsLeadingSpaceOfTheRelease) {
  const auto rows = LoadMmluSubject(kMmluDir, MmluSplit::kDev, "world_religions");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ((*rows)[0].question, " What is the sign of the covenant for Jewish males?");
  EXPECT_EQ((*rows)[2].question,
            " In which dynasty was the \"Mandate of Heaven\" developed to legitimatize the new rulers?");
}

TEST(MmluCsvTest, WrongFieldCountNamesFileAndLine) {
  const std::string path = WriteTempFile("five_fields.csv", "q1,a,b,c,d,A\n\"multi\nline\",a,b,c,d,B\nq3,a,b,c,D\n");
  const auto rows = ReadMmluCsv(path);
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(rows.status().message().find(path + ":4: expected 6 fields, got 5"), std::string::npos)
      << rows.status().message();
}

TEST(MmluCsvTest, AnswerOutsideAToDIsRejected) {
  const std::string path = WriteTempFile("bad_answer.csv", "q1,a,b,c,d,A\nq2,a,b,c,d,E\n");
  const auto rows = ReadMmluCsv(path);
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().message(), path + ":2: answer must be one of A, B, C, D, got 'E'");
  const auto lowercase = ParseMmluCsv("q,a,b,c,d,a\n", "lower.csv");
  ASSERT_FALSE(lowercase.ok());
  EXPECT_EQ(lowercase.status().message(), "lower.csv:1: answer must be one of A, B, C, D, got 'a'");
}

TEST(MmluCsvTest, EmptyFileIsRejected) {
  const auto rows = ParseMmluCsv("", "empty.csv");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(rows.status().message().find("empty.csv: no rows"), std::string::npos);
}

TEST(MmluCsvTest, MissingSubjectAndSplitAreNotFound) {
  const auto missing_subject = LoadMmluSubject(kMmluDir, MmluSplit::kTest, "anatomy");  // dev only in the sample
  ASSERT_FALSE(missing_subject.ok());
  EXPECT_EQ(missing_subject.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing_subject.status().message().find(kMmluDir + "/test/anatomy_test.csv"), std::string::npos);

  const auto missing_split = ListMmluSubjects(kMmluDir, MmluSplit::kVal);  // the sample ships no val split
  ASSERT_FALSE(missing_split.ok());
  EXPECT_EQ(missing_split.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing_split.status().message().find(kMmluDir + "/val"), std::string::npos);
}

TEST(MmluCsvTest, SubjectNamesCannotEscapeTheDataDir) {
  const auto rows = LoadMmluSubject(kMmluDir, MmluSplit::kDev, "../test/abstract_algebra");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().code(), StatusCode::kInvalidArgument);
}

TEST(MmluCsvTest, SplitNamesRoundTrip) {
  for (MmluSplit split : {MmluSplit::kDev, MmluSplit::kVal, MmluSplit::kTest}) {
    const auto parsed = ParseMmluSplit(MmluSplitName(split));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, split);
  }
  EXPECT_EQ(MmluSplitName(MmluSplit::kVal), "val");
  const auto bad = ParseMmluSplit("train");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "MMLU split must be one of dev, val, test, got 'train'");
}

// Issue 19: a question with invalid UTF-8 was accepted, stored with --log-samples, and `samples --json` aborted.
// It is refused at read time, naming file and line.
TEST(MmluCsvTest, InvalidUtf8IsRejectedWithFileAndLine) {
  const auto rows = ParseMmluCsv("ok,a,b,c,d,A\nbad \xff\xfe question,a,b,c,d,B\n", "astronomy_test.csv");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rows.status().message(), "astronomy_test.csv:2: invalid UTF-8 at byte offset 17");
  // A lone continuation byte and an overlong form, in a choice.
  EXPECT_FALSE(ParseMmluCsv("q,\x80,b,c,d,A\n", "c.csv").ok());
  EXPECT_FALSE(ParseMmluCsv("q,a,\xc0\xaf,c,d,A\n", "c.csv").ok());
}

}  // namespace
}  // namespace fp4lab
