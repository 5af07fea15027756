// `fp4lab score-humaneval`: score an existing HumanEval samples file (openai/human-eval's
// evaluate_functional_correctness) in the code sandbox and print pass@k.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "harness/command.h"
#include "tasks/humaneval_scoring.h"
#include "tasks/sandbox_dirs.h"

namespace fp4lab {

namespace {

struct ScoreHumanevalFlags {
  std::string problems;
  std::string samples;
  std::vector<int> ks = {1, 10, 100};
  double timeout_s = 3.0;
  int workers = 0;
  bool json = false;
  bool allow_partial = false;
};

void PrintTable(const HumanEvalScore& score) {
  std::printf("%-24s %5s  %-9s  %s\n", "task_id", "draw", "outcome", "message");
  for (const HumanEvalSampleResult& r : score.results) {
    std::printf("%-24s %5d  %-9s  %s\n", r.task_id.c_str(), r.completion_id,
                std::string(SandboxOutcomeName(r.outcome)).c_str(), r.message.c_str());
  }
  std::printf("\n%d tasks, %zu samples, isolation %s%s%s\n", score.num_tasks, score.results.size(),
              score.isolation.c_str(), score.isolation_note.empty() ? "" : ": ", score.isolation_note.c_str());
  if (score.num_tasks < score.num_problems) {
    std::printf("partial: pass@k over %d of %d problems (--allow-partial)\n", score.num_tasks, score.num_problems);
  }
  if (score.pass_at_k.empty()) std::printf("no pass@k: every task needs at least k samples for a requested k\n");
  for (const auto& [k, value] : score.pass_at_k) std::printf("pass@%-4d %.4f\n", k, value);
}

Result<int> RunScoreHumaneval(const ScoreHumanevalFlags& f) {
  RemoveSandboxDirsOnSignal();  // before the sandbox starts its worker threads
  SandboxOptions options;
  options.allow_code_exec = true;  // running this command is the opt-in
  options.workers = f.workers;
  options.limits.wall_timeout_s = f.timeout_s;
  // The CPU limit must not cut a program off before its wall-clock timeout (the sandbox's default keeps 1 s spare).
  options.limits.cpu_seconds = static_cast<int>(std::ceil(f.timeout_s)) + 1;
  FP4LAB_ASSIGN_OR_RETURN(const HumanEvalScore score,
                          ScoreHumanEvalFiles(f.problems, f.samples, f.ks, options, f.allow_partial));
  if (f.json) {
    std::cout << HumanEvalScoreToJson(score).dump(2) << "\n";
  } else {
    PrintTable(score);
  }
  return 0;
}

}  // namespace

Command AddScoreHumanevalCommand(CLI::App& root) {
  auto flags = std::make_shared<ScoreHumanevalFlags>();
  CLI::App* app = root.add_subcommand(
      "score-humaneval",
      "Run HumanEval completions against their problems' tests and print pass@k.\n"
      "This EXECUTES the code in the samples file (in a bubblewrap sandbox when available, else under rlimits only);\n"
      "running this command is the opt-in, no --allow-code-exec is needed.");
  app->add_option("--problems", flags->problems, "Problems JSONL (HumanEval.jsonl format)")->required();
  app->add_option("--samples", flags->samples, "Samples JSONL: {\"task_id\", \"completion\"} per line")->required();
  app->add_option("--k", flags->ks, "pass@k values, comma-separated (k above a task's sample count is skipped)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(1, std::numeric_limits<int>::max()));
  app->add_option("--timeout", flags->timeout_s, "Seconds each program may run (human-eval uses 3)")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  app->add_option("--workers", flags->workers, "Programs run in parallel (0 = one per CPU core)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_flag("--json", flags->json, "Print {\"pass_at_k\": {...}, \"results\": [...]} as JSON");
  app->add_flag("--allow-partial", flags->allow_partial,
                "Score a samples file that lacks some problems (human-eval refuses); the output says over how many");
  return {app, [flags] { return RunScoreHumaneval(*flags); }};
}

}  // namespace fp4lab
