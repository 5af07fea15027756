// HumanEval-style JSON Lines: problem files (openai/human-eval HumanEval.jsonl; HumanEval+ loads too, extra keys are
// ignored) and sample files ({"task_id", "completion"} per line, any number of lines per task).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

struct HumanEvalProblem {
  std::string task_id;             // "HumanEval/0"
  std::string prompt;              // signature + docstring the model continues
  std::string entry_point;         // function name passed to check()
  std::string canonical_solution;  // reference body
  std::string test;                // defines check(candidate)
  int line = 0;                    // 1-based line in the file
};

struct HumanEvalSample {
  std::string task_id;
  std::string completion;  // appended to the problem's prompt
  int line = 0;            // 1-based line in the file (or index + 1 for samples built in memory)
};

// Blank lines are skipped. Errors: "<file>:<line>: invalid JSON: ...", "<file>:<line>: expected a JSON object",
// "<file>:<line>: missing key 'prompt'", "<file>:<line>: key 'prompt' must be a string",
// "<file>:<line>: duplicate task_id 'HumanEval/3' (first on line 4)"; a file without problems is an error.
Result<std::vector<HumanEvalProblem>> ParseHumanEvalProblems(std::string_view text, std::string_view file_name);
Result<std::vector<HumanEvalProblem>> ReadHumanEvalProblems(const std::string& path);

// Same line rules; required keys "task_id" and "completion" (strings). A file without samples is an error.
Result<std::vector<HumanEvalSample>> ParseHumanEvalSamples(std::string_view text, std::string_view file_name);
Result<std::vector<HumanEvalSample>> ReadHumanEvalSamples(const std::string& path);

}  // namespace fp4lab
