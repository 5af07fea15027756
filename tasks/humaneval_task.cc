#include "tasks/humaneval_task.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "datasets/sha256.h"
#include "results/stats.h"
#include "tasks/causal_only.h"
#include "tasks/evalplus_program.h"
#include "tasks/humaneval_scoring.h"
#include "tasks/lm_requests.h"
#include "tasks/paired_accuracy.h"
#include "tasks/pass_at_k.h"

namespace fp4lab {
namespace {

constexpr std::string_view kTask = "humaneval";

std::string DrawId(const std::string& task_id, int draw) { return task_id + "#" + std::to_string(draw); }

MetricRecord Metric(const std::string& precision, std::string name, double value, int64_t n, const char* unit,
                    const char* higher_is) {
  return MakeMetric(kTask, precision, std::move(name), value, n, unit, higher_is);
}

// evalplus's stop strings (evalplus/provider/utility.py EOS and extra_eos_for_direct_completion).
constexpr std::array<std::string_view, 6> kEvalPlusEos = {"<|endoftext|>", "<|endofmask|>", "</s>",
                                                          "\nif __name__",  "\ndef main(",    "\nprint("};
constexpr std::array<std::string_view, 5> kEvalPlusHumanEvalStops = {"\ndef ", "\nclass ", "\nimport ", "\nfrom ",
                                                                     "\nassert "};
constexpr std::array<std::string_view, 2> kEvalPlusMbppStops = {"\n\"\"\"", "\nassert"};

// Python's str.strip() for the ASCII whitespace a prompt holds.
std::string_view StripWhitespace(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

// One stored draw, read back for aggregation.
struct StoredDraw {
  bool passed = false;
  std::string outcome;
  bool prompt_truncated = false;
  bool base_passed = false;  // evalplus suites: the base tests passed (data "base_status" == "pass")
};

// Draws by task id, then draw index (so sums do not depend on the order the store returned them in).
Result<std::map<std::string, std::map<int64_t, StoredDraw>>> ReadDraws(const std::vector<SampleRecord>& samples) {
  std::map<std::string, std::map<int64_t, StoredDraw>> draws;
  for (const SampleRecord& sample : samples) {
    const std::string& id = sample.sample_id;
    const size_t hash = id.rfind('#');
    const std::string_view digits =
        hash == std::string::npos ? std::string_view() : std::string_view(id).substr(hash + 1);
    const bool well_formed = hash != std::string::npos && hash > 0 && !digits.empty() && digits.size() <= 9 &&
                             (digits.size() == 1 || digits[0] != '0') &&
                             digits.find_first_not_of("0123456789") == std::string_view::npos;
    if (!well_formed) return Status::InvalidArgument("humaneval: sample id '" + id + "' is not '<task_id>#<draw>'");
    if (sample.score != 0.0 && sample.score != 1.0) {
      return Status::InvalidArgument("humaneval: sample '" + id + "' has score " + std::to_string(sample.score) +
                                     ", expected 0 or 1");
    }
    const auto truncated = sample.data.find("prompt_truncated");
    if (truncated == sample.data.end() || !truncated->is_boolean()) {
      return Status::InvalidArgument("humaneval: sample '" + id +
                                     "': data field 'prompt_truncated' is missing or not a boolean");
    }
    StoredDraw draw{sample.score == 1.0, sample.outcome, truncated->get<bool>(),
                    sample.data.value("base_status", nlohmann::json()) == "pass"};
    if (!draws[id.substr(0, hash)].emplace(std::stoll(std::string(digits)), std::move(draw)).second) {
      return Status::InvalidArgument("humaneval: sample id '" + id + "' occurs twice");
    }
  }
  return draws;
}

}  // namespace

std::string_view CodeSuiteName(CodeSuite suite) {
  switch (suite) {
    case CodeSuite::kHumanEval: return "humaneval";
    case CodeSuite::kHumanEvalPlus: return "humaneval+";
    case CodeSuite::kMbppPlus: return "mbpp+";
  }
  return "unknown";
}

Result<CodeSuite> ParseCodeSuite(std::string_view name) {
  for (CodeSuite suite : {CodeSuite::kHumanEval, CodeSuite::kHumanEvalPlus, CodeSuite::kMbppPlus}) {
    if (name == CodeSuiteName(suite)) return suite;
  }
  return Status::InvalidArgument("--suite must be one of humaneval, humaneval+, mbpp+, got '" + std::string(name) +
                                 "'");
}

std::vector<std::string_view> StopSequences(CodeSuite suite) {
  if (suite == CodeSuite::kHumanEval) return {kHumanEvalStopSequences.begin(), kHumanEvalStopSequences.end()};
  std::vector<std::string_view> stops(kEvalPlusEos.begin(), kEvalPlusEos.end());
  if (suite == CodeSuite::kHumanEvalPlus) {
    stops.insert(stops.end(), kEvalPlusHumanEvalStops.begin(), kEvalPlusHumanEvalStops.end());
  } else {
    stops.insert(stops.end(), kEvalPlusMbppStops.begin(), kEvalPlusMbppStops.end());
  }
  return stops;
}

size_t FindStopSequence(std::string_view text, std::span<const std::string_view> stop) {
  size_t earliest = std::string_view::npos;
  for (std::string_view s : stop) earliest = std::min(earliest, text.find(s));
  return earliest;
}

Result<GenerationResult> GenerateUntil(LanguageModel& model, std::span<const TokenId> prompt,
                                       std::span<const std::string_view> stop, int max_new_tokens,
                                       const SamplingOptions& sampling) {
  const GenerationRequest request{prompt, max_new_tokens, sampling};
  FP4LAB_ASSIGN_OR_RETURN(std::vector<GenerationResult> results, GenerateUntilBatch(model, {&request, 1}, stop));
  return std::move(results.front());
}

Result<std::vector<GenerationResult>> GenerateUntilBatch(LanguageModel& model,
                                                         std::span<const GenerationRequest> requests,
                                                         std::span<const std::string_view> stop) {
  for (size_t i = 0; i < requests.size(); ++i) {
    const size_t prompt = requests[i].prompt.size();
    const int max_new_tokens = requests[i].max_new_tokens;
    if (prompt == 0 || max_new_tokens < 1 || static_cast<int64_t>(prompt) + max_new_tokens > model.MaxContext()) {
      return Status::InvalidArgument("GenerateUntil: request " + std::to_string(i) + ": a prompt of " +
                                     std::to_string(prompt) + " tokens and " + std::to_string(max_new_tokens) +
                                     " new tokens must fit the model's context of " +
                                     std::to_string(model.MaxContext()) + " (prompt >= 1, new tokens >= 1)");
    }
  }
  std::vector<std::vector<TokenId>> seen(requests.size());
  std::vector<bool> stopped(requests.size(), false);
  const auto on_token = [&](size_t i, TokenId token) {
    seen[i].push_back(token);
    stopped[i] = FindStopSequence(model.Decode(seen[i]), stop) != std::string_view::npos;
    return !stopped[i];
  };
  FP4LAB_ASSIGN_OR_RETURN(std::vector<std::vector<TokenId>> generated, model.GenerateBatch(requests, on_token));
  std::vector<GenerationResult> results(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    GenerationResult& result = results[i];
    result.tokens = std::move(generated[i]);
    result.text = model.Decode(result.tokens);
    const size_t cut = FindStopSequence(result.text, stop);
    if (cut != std::string_view::npos) result.text.resize(cut);
    if (stopped[i]) {
      result.finish = "stop";
    } else {
      result.finish = static_cast<int64_t>(result.tokens.size()) >= requests[i].max_new_tokens ? "length" : "eos";
    }
  }
  return results;
}

Result<std::unique_ptr<HumanevalTask>> HumanevalTask::Create(HumanevalOptions options) {
  if (options.samples_per_problem < 1 || options.max_new_tokens < 1 || options.limit < 0) {
    return Status::InvalidArgument("humaneval: samples_per_problem " + std::to_string(options.samples_per_problem) +
                                   " and max_new_tokens " + std::to_string(options.max_new_tokens) +
                                   " must be >= 1 and limit " + std::to_string(options.limit) + " >= 0");
  }
  for (int k : options.ks) {
    if (k < 1) return Status::InvalidArgument("humaneval: pass@k needs k >= 1, got " + std::to_string(k));
  }
  if (options.samples_per_problem > 1 && options.sampling.temperature <= 0.0f) {
    return Status::InvalidArgument("humaneval: " + std::to_string(options.samples_per_problem) +
                                   " draws per problem need temperature > 0 (greedy draws are identical; lm-eval "
                                   "humaneval_64 uses temperature 0.2, top_p 0.95)");
  }
  const bool evalplus = options.suite != CodeSuite::kHumanEval;
  if (options.problems_path.empty()) {
    const char* release = options.suite == CodeSuite::kMbppPlus ? "MbppPlus.jsonl.gz" : "HumanEvalPlus.jsonl.gz";
    return Status::InvalidArgument(std::string(CodeSuiteName(options.suite)) +
                                   ": no problems file (nothing is bundled for this suite): pass --humaneval-data with "
                                   "the evalplus release, " + release);
  }
  FP4LAB_ASSIGN_OR_RETURN(std::vector<HumanEvalProblem> problems,
                          evalplus ? ReadEvalPlusProblems(options.problems_path)
                                   : ReadHumanEvalProblems(options.problems_path));
  FP4LAB_ASSIGN_OR_RETURN(std::string sha, Sha256FileHex(options.problems_path));
  if (options.limit > 0 && problems.size() > static_cast<size_t>(options.limit)) {
    problems.resize(static_cast<size_t>(options.limit));
  }
  return std::unique_ptr<HumanevalTask>(new HumanevalTask(std::move(options), std::move(problems), std::move(sha)));
}

nlohmann::json HumanevalTask::Config() const {
  nlohmann::json stop = nlohmann::json::array();
  for (std::string_view s : StopSequences(options_.suite)) stop.push_back(std::string(s));
  nlohmann::json config = {{"suite", CodeSuiteName(options_.suite)},
          {"problems", options_.problems_path},
          {"n", options_.samples_per_problem},
          {"temperature", options_.sampling.temperature},
          {"top_k", options_.sampling.top_k},
          {"top_p", options_.sampling.top_p},
          {"seed", options_.sampling.seed},
          {"max_new_tokens", options_.max_new_tokens},
          {"ks", options_.ks},
          {"limit", options_.limit},
          {"timeout_s", options_.sandbox.limits.wall_timeout_s},
          {"stop", stop}};
  config["bos"] = options_.chat.chat_template == nullptr ? nlohmann::json(true)
                                                         : nlohmann::json("unless the context starts with bos_token");
  config.update(options_.chat.ToJson());
  return config;
}

Status HumanevalTask::Preflight(const LanguageModel& model, const LanguageModel* reference) const {
  (void)reference;
  if (!options_.sandbox.allow_code_exec) {
    return Status::FailedPrecondition(
        "humaneval: this task executes model-written Python code; pass --allow-code-exec to opt in");
  }
  if (model.MaxContext() < 2) {
    return Status::InvalidArgument("humaneval: the model's context of " + std::to_string(model.MaxContext()) +
                                   " tokens cannot hold a prompt and a generated token");
  }
  return Status::Ok();
}

Status HumanevalTask::Run(TaskRun& run) {
  FP4LAB_RETURN_IF_ERROR(Preflight(run.model, nullptr));
  LanguageModel& model = run.model;
  const int max_context = model.MaxContext();
  const int min_generation_room = MinGenerationRoom(model);
  std::vector<std::pair<size_t, int>> pending;  // (problem index, draw)
  for (size_t p = 0; p < problems_.size(); ++p) {
    for (int draw = 0; draw < options_.samples_per_problem; ++draw) {
      if (run.should_run(DrawId(problems_[p].task_id, draw))) pending.emplace_back(p, draw);
    }
  }
  if (pending.empty()) return Status::Ok();
  FP4LAB_ASSIGN_OR_RETURN(const CodeSandbox sandbox, CodeSandbox::Create(options_.sandbox));
  const std::string isolation(SandboxIsolationName(sandbox.isolation()));
  const bool evalplus = options_.suite != CodeSuite::kHumanEval;
  const std::vector<std::string_view> stops = StopSequences(options_.suite);
  const int64_t total = static_cast<int64_t>(pending.size());
  for (size_t start = 0; start < pending.size(); start += kBatchSamples) {
    const size_t end = std::min(pending.size(), start + kBatchSamples);
    // Every draw's prompt first, then one batched generation of them all.
    struct Draw {
      std::string task_prompt, context;
      std::vector<TokenId> prompt;
      bool truncated = false;
    };
    std::vector<Draw> draws;
    std::vector<GenerationRequest> requests;
    for (size_t i = start; i < end; ++i) {
      const auto [p, draw] = pending[i];
      const HumanEvalProblem& problem = problems_[p];
      Draw d;
      // evalplus codegen: prompt.strip() + "\n", and the solution it tests is that prompt + the completion.
      d.task_prompt = evalplus ? std::string(StripWhitespace(problem.prompt)) + "\n" : problem.prompt;
      std::vector<PromptTurn> turns;
      if (!options_.chat.system_prompt.empty()) turns.push_back({"system", options_.chat.system_prompt, ""});
      turns.push_back({"user", d.task_prompt, ""});
      FP4LAB_ASSIGN_OR_RETURN(d.context, RenderTurns(std::move(turns), options_.chat));
      FP4LAB_ASSIGN_OR_RETURN(d.prompt, model.Encode(d.context));
      if (PrependBos(d.context, options_.chat)) d.prompt.insert(d.prompt.begin(), model.BosId());
      const size_t max_prompt = static_cast<size_t>(std::max(1, max_context - min_generation_room));
      d.truncated = d.prompt.size() > max_prompt;
      if (d.truncated) d.prompt.erase(d.prompt.begin(), d.prompt.end() - static_cast<std::ptrdiff_t>(max_prompt));
      draws.push_back(std::move(d));
    }
    for (size_t i = start; i < end; ++i) {
      const Draw& d = draws[i - start];
      SamplingOptions sampling = options_.sampling;
      sampling.seed += static_cast<uint64_t>(pending[i].second);
      const int new_tokens = std::min(options_.max_new_tokens, max_context - static_cast<int>(d.prompt.size()));
      requests.push_back({d.prompt, new_tokens, sampling});
    }
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<GenerationResult> generations, GenerateUntilBatch(model, requests, stops));
    std::vector<SampleRecord> batch;
    std::vector<std::string> programs;
    for (size_t i = start; i < end; ++i) {
      const auto [p, draw] = pending[i];
      const HumanEvalProblem& problem = problems_[p];
      const Draw& d = draws[i - start];
      const GenerationResult& generation = generations[i - start];
      SampleRecord sample;
      sample.sample_id = DrawId(problem.task_id, draw);
      sample.prompt_sha256 = TokensSha256(d.prompt);
      sample.data = {{"task_id", problem.task_id},
                     {"draw", draw},
                     {"isolation", isolation},
                     {"finish", generation.finish},
                     {"completion_tokens", generation.tokens.size()},
                     {"prompt_truncated", d.truncated}};
      if (run.log_samples) {
        sample.prompt_text = d.context;
        sample.output_text = generation.text;
      }
      if (evalplus) {
        const EvalPlusDataset dataset =
            options_.suite == CodeSuite::kMbppPlus ? EvalPlusDataset::kMbpp : EvalPlusDataset::kHumanEval;
        programs.push_back(BuildEvalPlusProgram(problem, dataset, d.task_prompt + generation.text));
      } else {
        programs.push_back(BuildHumanEvalProgram(problem, generation.text));
      }
      batch.push_back(std::move(sample));
    }
    std::vector<EvalPlusVerdict> verdicts;
    const std::vector<SandboxRunResult> results =
        evalplus ? RunEvalPlusPrograms(sandbox, programs, &verdicts) : RunHumanEvalPrograms(sandbox, programs);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].score = results[i].outcome == SandboxOutcome::kPassed ? 1.0 : 0.0;
      batch[i].outcome = std::string(SandboxOutcomeName(results[i].outcome));
      batch[i].data["message"] = results[i].message;
      if (evalplus) {
        batch[i].data["base_status"] = verdicts[i].base;
        batch[i].data["plus_status"] = verdicts[i].plus;
      }
    }
    FP4LAB_RETURN_IF_ERROR(run.emit(std::move(batch)));
    if (run.progress) run.progress(static_cast<int64_t>(end), total);
  }
  return Status::Ok();
}

Result<std::vector<MetricRecord>> HumanevalTask::Aggregate(const std::vector<SampleRecord>& samples) const {
  if (samples.empty()) return Status::InvalidArgument("humaneval: no samples to aggregate");
  FP4LAB_ASSIGN_OR_RETURN(const auto draws, ReadDraws(samples));
  const std::string& precision = samples.front().precision;
  std::vector<PassCounts> counts;
  int64_t timed_out = 0, errors = 0, truncated = 0;
  for (const auto& [task_id, by_draw] : draws) {
    PassCounts c;
    for (const auto& [draw, stored] : by_draw) {
      ++c.n;
      if (stored.passed) ++c.c;
      if (stored.outcome == SandboxOutcomeName(SandboxOutcome::kTimedOut)) ++timed_out;
      if (stored.outcome == SandboxOutcomeName(SandboxOutcome::kError)) ++errors;
      if (stored.prompt_truncated) ++truncated;
    }
    counts.push_back(c);
  }
  std::vector<int> ks = options_.ks;
  ks.push_back(1);
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  const int64_t problems = static_cast<int64_t>(counts.size());
  const int64_t total = static_cast<int64_t>(samples.size());
  std::vector<MetricRecord> metrics;
  for (int k : ks) {
    std::vector<double> estimates;
    for (const PassCounts& c : counts) {
      const std::optional<double> estimate = PassAtK(c.n, c.c, k);
      if (!estimate) break;
      estimates.push_back(*estimate);
    }
    if (estimates.size() != counts.size()) continue;  // some problem has fewer than k draws: not reported
    FP4LAB_ASSIGN_OR_RETURN(const double mean, Mean(estimates));
    MetricRecord m = Metric(precision, "pass@" + std::to_string(k), mean, problems, "", "better");
    if (estimates.size() >= 2) {
      FP4LAB_ASSIGN_OR_RETURN(const double se, StandardError(estimates));
      m.stderr_value = se;
    }
    metrics.push_back(std::move(m));
  }
  if (options_.suite != CodeSuite::kHumanEval) {
    std::vector<double> base_estimates;
    for (const auto& [task_id, by_draw] : draws) {
      int64_t passed = 0;
      for (const auto& [draw, stored] : by_draw) passed += stored.base_passed ? 1 : 0;
      base_estimates.push_back(*PassAtK(static_cast<int64_t>(by_draw.size()), passed, 1));
    }
    FP4LAB_ASSIGN_OR_RETURN(const double mean, Mean(base_estimates));
    MetricRecord m = Metric(precision, "base_pass@1", mean, problems, "", "better");
    if (base_estimates.size() >= 2) {
      FP4LAB_ASSIGN_OR_RETURN(const double se, StandardError(base_estimates));
      m.stderr_value = se;
    }
    metrics.push_back(std::move(m));
  }
  metrics.push_back(Metric(precision, "problems", static_cast<double>(problems), problems, "problems", ""));
  metrics.push_back(Metric(precision, "samples", static_cast<double>(total), total, "samples", ""));
  metrics.push_back(Metric(precision, "timed_out", static_cast<double>(timed_out), total, "samples", "worse"));
  metrics.push_back(Metric(precision, "errors", static_cast<double>(errors), total, "samples", "worse"));
  metrics.push_back(Metric(precision, "truncated", static_cast<double>(truncated), total, "samples", ""));
  return metrics;
}

Result<std::vector<ComparisonRecord>> HumanevalTask::Compare(const std::vector<SampleRecord>& candidate,
                                                             const std::vector<SampleRecord>& reference) const {
  return ComparePairedAccuracy(Name(), "pass@1", candidate, reference);
}

}  // namespace fp4lab
