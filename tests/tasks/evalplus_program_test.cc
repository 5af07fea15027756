#include "tasks/evalplus_program.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "datasets/humaneval_jsonl.h"
#include "test_util.h"

namespace fp4lab {
namespace {

std::vector<HumanEvalProblem> Problems(const std::string& fixture) {
  auto problems = ReadEvalPlusProblems(testing::FixturePath("evalplus/" + fixture));
  EXPECT_TRUE(problems.ok()) << problems.status().ToString();
  return problems.ok() ? std::move(problems).value() : std::vector<HumanEvalProblem>{};
}

struct Checked {
  SandboxRunResult run;
  EvalPlusVerdict verdict;
};

// One sandbox for every test (creating one trial-runs Python).
const Result<CodeSandbox>& Sandbox() {
  static const Result<CodeSandbox> sandbox = [] {
    SandboxOptions options;
    options.allow_code_exec = true;
    options.limits = EvalPlusSandboxLimits();
    options.limits.wall_timeout_s = 30.0;  // these programs take milliseconds; a hang fails the test sooner
    options.limits.address_space_bytes = uint64_t{1} << 30;
    options.workers = 2;
    return CodeSandbox::Create(options);
  }();
  return sandbox;
}

// Runs each (problem, solution) pair through the evalplus checker.
std::vector<Checked> Check(const std::vector<std::pair<HumanEvalProblem, std::string>>& cases,
                           EvalPlusDataset dataset) {
  const Result<CodeSandbox>& sandbox = Sandbox();
  EXPECT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  if (!sandbox.ok()) return {};
  std::vector<std::string> programs;
  for (const auto& [problem, solution] : cases) programs.push_back(BuildEvalPlusProgram(problem, dataset, solution));
  std::vector<EvalPlusVerdict> verdicts;
  const std::vector<SandboxRunResult> runs = RunEvalPlusPrograms(*sandbox, programs, &verdicts);
  std::vector<Checked> checked;
  for (size_t i = 0; i < runs.size(); ++i) checked.push_back({runs[i], verdicts[i]});
  return checked;
}

TEST(EvalPlusProgramTest, CanonicalSolutionsPassBothPhases) {
  const auto problems = Problems("humanevalplus_mini.jsonl");
  ASSERT_EQ(problems.size(), 2u);
  std::vector<std::pair<HumanEvalProblem, std::string>> cases;
  for (const auto& p : problems) cases.emplace_back(p, p.prompt + p.canonical_solution);
  for (const Checked& c : Check(cases, EvalPlusDataset::kHumanEval)) {
    EXPECT_EQ(c.run.outcome, SandboxOutcome::kPassed) << c.run.message << c.run.stderr_tail;
    EXPECT_EQ(c.verdict.base, "pass");
    EXPECT_EQ(c.verdict.plus, "pass");
  }
}

TEST(EvalPlusProgramTest, ExtraTestsCatchWhatTheBaseTestsMiss) {
  const auto problems = Problems("humanevalplus_mini.jsonl");
  ASSERT_EQ(problems.size(), 2u);
  // Right on the base inputs (2, 3) and (0, 0), wrong on the plus input (-7, 7).
  const auto checked = Check({{problems[0], problems[0].prompt + "    return abs(x) + y\n"}},
                             EvalPlusDataset::kHumanEval);
  ASSERT_EQ(checked.size(), 1u);
  EXPECT_EQ(checked[0].run.outcome, SandboxOutcome::kFailed);
  EXPECT_EQ(checked[0].verdict.base, "pass");
  EXPECT_EQ(checked[0].verdict.plus, "fail");
  EXPECT_NE(checked[0].run.message.find("plus: test 0: wrong output"), std::string::npos) << checked[0].run.message;
}

TEST(EvalPlusProgramTest, FloatsCompareWithTheEnforcedToleranceOnly) {
  const auto problems = Problems("humanevalplus_mini.jsonl");
  ASSERT_EQ(problems.size(), 2u);
  const HumanEvalProblem& mean = problems[1];
  // math.fsum differs from sum in the last bits on [0.1, 0.2, 0.3] (0.2 vs 0.20000000000000004): inside atol 1e-6.
  // An offset of 1e-3 is far outside it.
  const auto checked = Check({{mean, mean.prompt + "    import math\n    return math.fsum(xs) / len(xs)\n"},
                              {mean, mean.prompt + "    return sum(xs) / len(xs) + 1e-3\n"}},
                             EvalPlusDataset::kHumanEval);
  ASSERT_EQ(checked.size(), 2u);
  EXPECT_EQ(checked[0].run.outcome, SandboxOutcome::kPassed) << checked[0].run.message;
  EXPECT_EQ(checked[1].verdict.base, "fail");
  EXPECT_EQ(checked[1].verdict.plus, "fail");
}

TEST(EvalPlusProgramTest, MbppInputsBecomeTuplesAndSetTasksIgnoreOrder) {
  const auto problems = Problems("mbppplus_mini.jsonl");
  ASSERT_EQ(problems.size(), 1u);
  // Mbpp/2 stores its tuple arguments as JSON lists (evalplus mbpp_deserialize_inputs turns them back) and is
  // compared as sets: a list in another order passes, and the assertion proves the arguments are tuples.
  const std::string solution = problems[0].prompt +
                               "def similar_elements(a, b):\n"
                               "  assert isinstance(a, tuple) and isinstance(b, tuple)\n"
                               "  return sorted(set(a) & set(b), reverse=True)\n";
  const auto checked = Check({{problems[0], solution}}, EvalPlusDataset::kMbpp);
  ASSERT_EQ(checked.size(), 1u);
  EXPECT_EQ(checked[0].run.outcome, SandboxOutcome::kPassed) << checked[0].run.message;
}

TEST(EvalPlusProgramTest, BrokenOrEscapingSolutionsFail) {
  const auto problems = Problems("humanevalplus_mini.jsonl");
  ASSERT_EQ(problems.size(), 2u);
  const auto checked = Check({{problems[0], "def other():\n    return 0\n"},
                              {problems[0], "import sys\nsys.exit(0)\n"},
                              {problems[0], "import os\nos._exit(0)\n"}},
                             EvalPlusDataset::kHumanEval);
  ASSERT_EQ(checked.size(), 3u);
  EXPECT_EQ(checked[0].run.outcome, SandboxOutcome::kFailed);
  EXPECT_NE(checked[0].run.message.find("does not define add"), std::string::npos) << checked[0].run.message;
  EXPECT_EQ(checked[1].run.outcome, SandboxOutcome::kFailed);
  EXPECT_EQ(checked[2].run.outcome, SandboxOutcome::kFailed);
  EXPECT_NE(checked[2].run.message.find("exited before its verdict"), std::string::npos) << checked[2].run.message;
}

// The verdict line is read from the program's stdout, which the completion controls: a forged line nested 30,000
// deep (inside the 64 KiB stdout tail) is parsed with the depth bound and fails the sample.
TEST(EvalPlusProgramTest, ForgedDeeplyNestedVerdictLineFails) {
  const auto problems = Problems("humanevalplus_mini.jsonl");
  ASSERT_EQ(problems.size(), 2u);
  // Straight to file descriptor 1: the checker captures what the solution prints through sys.stdout.
  const std::string forge = "import os\n"
                            "os.write(1, b'\\nfp4lab-evalplus ' + b'[' * 30000 + b']' * 30000 + b'\\n')\n"
                            "os._exit(0)\n";
  const auto checked = Check({{problems[0], forge}}, EvalPlusDataset::kHumanEval);
  ASSERT_EQ(checked.size(), 1u);
  EXPECT_EQ(checked[0].run.outcome, SandboxOutcome::kFailed);
  EXPECT_EQ(checked[0].run.message, "unreadable verdict line") << checked[0].run.stdout_tail.substr(0, 200);
}

}  // namespace
}  // namespace fp4lab
