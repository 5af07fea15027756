// HumanEval-style JSON Lines: problem files (openai/human-eval HumanEval.jsonl; extra keys are ignored), the evalplus
// releases HumanEvalPlus.jsonl and MbppPlus.jsonl (differential tests: base_input, plus_input, atol), and sample files
// ({"task_id", "completion"} per line, any number of lines per task). Problem files may be gzipped (a path ending
// in ".gz", as the releases ship them); line numbers in errors are those of the inflated text.
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
  std::string test;                // defines check(candidate); empty for evalplus problems (their "test" is unused)
  int line = 0;                    // 1-based line in the file
  // evalplus problems only (empty / 0 otherwise): the problem's JSON line exactly as stored, which the checker reads
  // for base_input and plus_input (one argument list per test: the original tests, then evalplus's extra ones) so
  // that Python's json keeps integers beyond 64 bits exact; the number of each; the absolute float tolerance.
  std::string evalplus_json;
  size_t base_tests = 0;
  size_t plus_tests = 0;
  double atol = 0.0;
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
// `path` ending in ".gz" is inflated first (engine/file_util.h ReadGzipFile).
Result<std::vector<HumanEvalProblem>> ReadHumanEvalProblems(const std::string& path);

// evalplus HumanEval+ / MBPP+ problems: required keys task_id, prompt, entry_point, canonical_solution (strings),
// base_input and plus_input (arrays of argument arrays), atol (a number >= 0); other keys are ignored. Same line
// and duplicate rules, errors as above plus "<file>:<line>: key 'plus_input' must be an array of argument lists".
Result<std::vector<HumanEvalProblem>> ParseEvalPlusProblems(std::string_view text, std::string_view file_name);
Result<std::vector<HumanEvalProblem>> ReadEvalPlusProblems(const std::string& path);

// Same line rules; required keys "task_id" and "completion" (strings). A file without samples is an error.
Result<std::vector<HumanEvalSample>> ParseHumanEvalSamples(std::string_view text, std::string_view file_name);
Result<std::vector<HumanEvalSample>> ReadHumanEvalSamples(const std::string& path);

}  // namespace fp4lab
