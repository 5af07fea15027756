#include "datasets/humaneval_jsonl.h"

#include <gtest/gtest.h>

namespace fp4lab {
namespace {

const std::string kSample = std::string(FP4LAB_SOURCE_DIR) + "/datasets/humaneval/humaneval_sample.jsonl";

// datasets/SOURCES.md: the first 10 problems of HumanEval, task ids HumanEval/0 .. HumanEval/9.
TEST(HumanEvalJsonlTest, ReadsTheBundledSample) {
  const auto problems = ReadHumanEvalProblems(kSample);
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  ASSERT_EQ(problems->size(), 10u);
  for (size_t i = 0; i < problems->size(); ++i) {
    EXPECT_EQ((*problems)[i].task_id, "HumanEval/" + std::to_string(i));
    EXPECT_EQ((*problems)[i].line, static_cast<int>(i) + 1);
    EXPECT_NE((*problems)[i].test.find("def check(candidate)"), std::string::npos);
  }
  EXPECT_EQ((*problems)[0].entry_point, "has_close_elements");
  EXPECT_TRUE((*problems)[0].prompt.starts_with("from typing import List\n\n\ndef has_close_elements("));
  EXPECT_EQ((*problems)[9].entry_point, "rolling_max");
}

TEST(HumanEvalJsonlTest, ExtraKeysAreIgnoredAndBlankLinesSkipped) {
  const std::string text =
      "{\"task_id\": \"HumanEval/0\", \"prompt\": \"p\", \"entry_point\": \"f\", \"canonical_solution\": \"s\", "
      "\"test\": \"t\", \"base_input\": [[1]], \"atol\": 0}\n"
      "\n   \n";
  const auto problems = ParseHumanEvalProblems(text, "plus.jsonl");
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_EQ((*problems)[0].prompt, "p");
}

TEST(HumanEvalJsonlTest, MissingKeyNamesFileLineAndKey) {
  const std::string text =
      "{\"task_id\": \"A\", \"prompt\": \"p\", \"entry_point\": \"f\", \"canonical_solution\": \"s\", \"test\": \"t\"}\n"
      "{\"task_id\": \"B\", \"prompt\": \"p\", \"canonical_solution\": \"s\", \"test\": \"t\"}\n";
  const auto problems = ParseHumanEvalProblems(text, "problems.jsonl");
  ASSERT_FALSE(problems.ok());
  EXPECT_EQ(problems.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(problems.status().message(), "problems.jsonl:2: missing key 'entry_point'");
}

TEST(HumanEvalJsonlTest, WrongTypeAndNonObjectLines) {
  const auto wrong_type = ParseHumanEvalSamples("{\"task_id\": 3, \"completion\": \"x\"}\n", "s.jsonl");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.status().message(), "s.jsonl:1: key 'task_id' must be a string, got number");
  const auto array = ParseHumanEvalSamples("[1, 2]\n", "s.jsonl");
  ASSERT_FALSE(array.ok());
  EXPECT_EQ(array.status().message(), "s.jsonl:1: expected a JSON object, got array");
}

TEST(HumanEvalJsonlTest, MalformedJsonNamesFileAndLine) {
  const auto samples = ParseHumanEvalSamples(
      "{\"task_id\": \"HumanEval/0\", \"completion\": \"    return 1\\n\"}\n{\"task_id\": \"HumanEval/0\", \n", "s.jsonl");
  ASSERT_FALSE(samples.ok());
  EXPECT_EQ(samples.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(samples.status().message().starts_with("s.jsonl:2: not valid JSON: ")) << samples.status().message();
}

TEST(HumanEvalJsonlTest, SamplesAllowSeveralPerTask) {
  const auto samples = ParseHumanEvalSamples(
      "{\"task_id\": \"HumanEval/0\", \"completion\": \"a\"}\n"
      "{\"task_id\": \"HumanEval/0\", \"completion\": \"b\", \"score\": 1}\n"
      "{\"task_id\": \"HumanEval/1\", \"completion\": \"c\"}\n",
      "s.jsonl");
  ASSERT_TRUE(samples.ok()) << samples.status().ToString();
  ASSERT_EQ(samples->size(), 3u);
  EXPECT_EQ((*samples)[1].completion, "b");
  EXPECT_EQ((*samples)[2].task_id, "HumanEval/1");
  EXPECT_EQ((*samples)[2].line, 3);
}

TEST(HumanEvalJsonlTest, DuplicateProblemAndEmptyFilesAreRejected) {
  const std::string row =
      "{\"task_id\": \"A\", \"prompt\": \"p\", \"entry_point\": \"f\", \"canonical_solution\": \"s\", \"test\": \"t\"}\n";
  const auto duplicate = ParseHumanEvalProblems(row + row, "p.jsonl");
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.status().message(), "p.jsonl:2: duplicate task_id 'A' (first on line 1)");
  EXPECT_FALSE(ParseHumanEvalProblems("\n", "p.jsonl").ok());
  EXPECT_FALSE(ParseHumanEvalSamples("", "s.jsonl").ok());
}

TEST(HumanEvalJsonlTest, MissingFileIsNotFound) {
  const auto samples = ReadHumanEvalSamples("/nonexistent/samples.jsonl");
  ASSERT_FALSE(samples.ok());
  EXPECT_EQ(samples.status().code(), StatusCode::kNotFound);
  EXPECT_NE(samples.status().message().find("/nonexistent/samples.jsonl"), std::string::npos);
}


const std::string kEvalPlus = std::string(FP4LAB_SOURCE_DIR) + "/tests/fixtures/evalplus/";

TEST(EvalPlusJsonlTest, ReadsTestCountsToleranceAndTheLineAsStored) {
  const auto problems = ReadEvalPlusProblems(kEvalPlus + "humanevalplus_mini.jsonl");
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  ASSERT_EQ(problems->size(), 2u);
  const HumanEvalProblem& add = (*problems)[0];
  EXPECT_EQ(add.task_id, "HumanEval/9000");
  EXPECT_EQ(add.entry_point, "add");
  EXPECT_EQ(add.base_tests, 2u);
  EXPECT_EQ(add.plus_tests, 2u);
  EXPECT_EQ(add.atol, 0.0);
  EXPECT_TRUE(add.test.empty());
  // The 30-digit integer is kept digit for digit (nlohmann would read it as a double).
  EXPECT_NE(add.evalplus_json.find("123456789012345678901234567890"), std::string::npos);
}

TEST(EvalPlusJsonlTest, GzippedReleaseReadsLikeThePlainFile) {
  const auto plain = ReadEvalPlusProblems(kEvalPlus + "humanevalplus_mini.jsonl");
  const auto gzipped = ReadEvalPlusProblems(kEvalPlus + "humanevalplus_mini.jsonl.gz");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  ASSERT_TRUE(gzipped.ok()) << gzipped.status().ToString();
  ASSERT_EQ(plain->size(), gzipped->size());
  for (size_t i = 0; i < plain->size(); ++i) {
    EXPECT_EQ((*plain)[i].evalplus_json, (*gzipped)[i].evalplus_json);
    EXPECT_EQ((*plain)[i].line, (*gzipped)[i].line);
  }
  // The HumanEval reader inflates too (HumanEval.jsonl.gz as openai/human-eval ships it).
  const auto human_eval = ReadHumanEvalProblems(kEvalPlus + "humanevalplus_mini.jsonl.gz");
  ASSERT_FALSE(human_eval.ok());
  EXPECT_NE(human_eval.status().message().find("humanevalplus_mini.jsonl.gz:1: missing key 'test'"),
            std::string::npos)
      << human_eval.status().ToString();
}

TEST(EvalPlusJsonlTest, MalformedInputsNameFileLineAndKey) {
  const std::string head =
      "{\"task_id\": \"A\", \"prompt\": \"p\", \"entry_point\": \"f\", \"canonical_solution\": \"s\", ";
  const auto missing = ParseEvalPlusProblems(head + "\"base_input\": [[1]], \"atol\": 0}\n", "plus.jsonl");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "plus.jsonl:1: missing key 'plus_input'");
  const auto flat =
      ParseEvalPlusProblems(head + "\"base_input\": [1], \"plus_input\": [], \"atol\": 0}\n", "plus.jsonl");
  ASSERT_FALSE(flat.ok());
  EXPECT_EQ(flat.status().message(), "plus.jsonl:1: key 'base_input' must be an array of argument lists");
  const auto atol =
      ParseEvalPlusProblems(head + "\"base_input\": [], \"plus_input\": [], \"atol\": -1}\n", "plus.jsonl");
  ASSERT_FALSE(atol.ok());
  EXPECT_EQ(atol.status().message(), "plus.jsonl:1: key 'atol' must be a number >= 0");
}

}  // namespace
}  // namespace fp4lab
