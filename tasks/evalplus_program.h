// Differential testing of a HumanEval+ / MBPP+ solution as evalplus runs it (evalplus/evaluate.py check_correctness
// and evalplus/eval/__init__.py untrusted_check at commit 26d6d00; EVAL_CONVENTIONS.md section 5), as one Python
// program for the CodeSandbox.
//
// What the program does, in order:
//   1. ground truth: runs prompt + canonical_solution on a deep copy of every base and plus input, recording each
//      output and its wall time (evalplus trusted_exec); for MBPP's "output not None" tasks the expected output is
//      `out is not None`. It runs before any model-written code exists in the process, so that code cannot alter it.
//   2. the solution (prompt + completion) is executed, then each phase (base tests, then plus tests) calls the entry
//      point on every input: per-test time limit max(4 s, 4 x ground-truth time) (evalplus DEFAULT_MIN_TIME_LIMIT,
//      DEFAULT_GT_TIME_LIMIT_FACTOR), a test over its limit fails the phase; the whole phase has
//      min(60 s, sum of the limits) + 2 s (evalplus's process join timeout), after which the phase is "timeout".
//      Comparison as evalplus: ==, its special oracles (HumanEval find_zero; MBPP are_equivalent, sum_div,
//      surface_Area, digit_distance_nums, set-equality and not-None tasks), and for floats (atol 0 becomes 1e-6 once
//      a float output is seen) the same type, the same length and allclose with rtol 1e-7. The first failing test
//      ends a phase (evalplus's default fast check). MBPP inputs are first converted as evalplus's
//      mbpp_deserialize_inputs does (lists to tuples, sets, complex numbers for the tasks it names).
//   3. one line "fp4lab-evalplus {json}" on stdout: {"base": status, "plus": status, "message": why the first
//      non-passing phase did not pass}, status "pass" | "fail" | "timeout"; exit status 0 only when both pass.
// A solution counts as passed (evalplus's "plus" pass@k) only when both phases pass; "base" alone is evalplus's
// original-tests score.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/humaneval_jsonl.h"
#include "engine/status.h"
#include "tasks/code_sandbox.h"

namespace fp4lab {

// Which evalplus dataset a problem belongs to: its special oracles and input conversions differ.
enum class EvalPlusDataset { kHumanEval, kMbpp };

inline constexpr double kEvalPlusMinTimeLimitS = 4.0;    // evalplus DEFAULT_MIN_TIME_LIMIT
inline constexpr double kEvalPlusTimeLimitFactor = 4.0;  // evalplus DEFAULT_GT_TIME_LIMIT_FACTOR
inline constexpr double kEvalPlusPhaseCapS = 60.0;       // evalplus EVALPLUS_TIMEOUT_PER_TASK default

// The sandbox limits an evalplus program needs: the ground truth plus two phases of at most 62 s each, with room for
// the interpreter (a wall timeout and RLIMIT_CPU of 240 s; the phases stop themselves earlier unless the solution is
// stuck in C code).
SandboxLimits EvalPlusSandboxLimits();

// The program described above for `solution` (the full program text evalplus executes: prompt + completion).
// `problem` must come from ReadEvalPlusProblems (datasets/humaneval_jsonl.h).
std::string BuildEvalPlusProgram(const HumanEvalProblem& problem, EvalPlusDataset dataset, std::string_view solution);

struct EvalPlusVerdict {
  std::string base = "fail";  // "pass" | "fail" | "timeout"
  std::string plus = "fail";
};

// Runs programs built by BuildEvalPlusProgram (CodeSandbox::RunAll) and reads each verdict line. Outcome: passed when
// both phases pass; timed_out when a phase timed out (or the sandbox's wall clock ran out); failed otherwise, with
// the program's message; a program that ended without its verdict line is failed ("exited before its verdict"),
// and its verdict stays fail/fail. `verdicts` gets one entry per program.
std::vector<SandboxRunResult> RunEvalPlusPrograms(const CodeSandbox& sandbox, std::span<const std::string> programs,
                                                  std::vector<EvalPlusVerdict>* verdicts);

}  // namespace fp4lab
