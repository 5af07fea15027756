// HumanEval, generated as lm-evaluation-harness's `humaneval` task and scored as openai/human-eval does
// (EVAL_CONVENTIONS.md section 5); with suite humaneval+ or mbpp+, the evalplus releases generated and scored as
// evalplus does (see "evalplus suites" below).
//
// Generation: prompt = BOS + the problem's prompt (with --chat-template: the conversation [system prompt] + user
// prompt rendered as lm-eval's --apply_chat_template does, tasks/chat_prompt.h, BOS only when the rendering does
// not start with bos_token; a --system-prompt without a template is prepended as is, as lm-eval does);
// GenerateUntil with lm-eval's stop sequences "\nclass", "\ndef", "\n#", "\nif", "\nprint": generation stops as
// soon as the decoded continuation contains one (or at EOS or max_new_tokens) and the completion is cut before the
// earliest one. Defaults: greedy, one draw per problem,
// max_new_tokens 512 (lm-eval uses 1024; 512 keeps CPU runs short and is longer than every canonical solution).
// With n > 1 draws (lm-eval humaneval_64 samples with temperature 0.2, top_p 0.95), draw j uses the sampling options
// with seed = sampling.seed + j.
// Context: when prompt + max_new_tokens exceed the model's MaxContext(), fp4lab first shortens the generation to
// the room left and, only if the prompt leaves less than R tokens of room, keeps its last MaxContext() - R tokens
// (R = 1; the canvas length on a block-diffusion model, whose sampler emits whole canvases) (lm-eval instead
// truncates the prompt to MaxContext() - max_new_tokens). Such draws have data "prompt_truncated": true.
// Scoring: the program prompt + completion + test + check(entry_point) (tasks/humaneval_scoring.h) runs in the
// CodeSandbox (tasks/code_sandbox.h); code runs only with SandboxOptions::allow_code_exec (CLI --allow-code-exec).
//
// Samples: one per problem per draw, id "<task_id>#<draw>" (e.g. "HumanEval/3#0"), score 1 (passed) / 0, outcome
// "passed" | "failed" | "timed_out" | "error", data {task_id, draw, message (the sandbox's), isolation ("bubblewrap" |
// "rlimits-only"), finish ("stop" | "eos" | "length"), completion_tokens, prompt_truncated}; with log_samples,
// prompt_text = the problem prompt and output_text = the completion.
// Metrics: pass@k (unbiased estimator, tasks/pass_at_k.h) for k = 1 and each requested k that every problem has at
// least k draws for, stderr = sample std / sqrt(problems) of the per-problem estimates, n = problems; problems,
// samples, timed_out, errors, truncated (counts).
// Compare: paired accuracy "pass@1" over draws with the same id (tasks/paired_accuracy.h).
//
// evalplus suites (task names "humaneval+" and "mbpp+"; problems from the user's HumanEvalPlus.jsonl[.gz] or
// MbppPlus.jsonl[.gz], nothing bundled): as evalplus codegen for a base model, the prompt is the problem's prompt
// stripped of surrounding whitespace plus "\n", generation stops at evalplus's EOS strings plus its direct-completion
// stops for the dataset (kEvalPlusStops), and the solution is prompt + completion; it is scored by differential
// testing against the canonical solution on the base and plus inputs with evalplus's per-test time limits
// (tasks/evalplus_program.h). A draw passes (score 1, "pass@k" = evalplus's "plus" numbers) only when both the base
// and the plus tests pass; data adds {base_status, plus_status} ("pass" | "fail" | "timeout") and the metric
// base_pass@1 is evalplus's original-tests pass@1. The sandbox's default limits become EvalPlusSandboxLimits().
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/humaneval_jsonl.h"
#include "tasks/chat_prompt.h"
#include "tasks/code_sandbox.h"
#include "tasks/task.h"

namespace fp4lab {

// lm-eval humaneval's `until`.
inline constexpr std::array<std::string_view, 5> kHumanEvalStopSequences = {"\nclass", "\ndef", "\n#", "\nif",
                                                                            "\nprint"};

// The code suites this task runs.
enum class CodeSuite { kHumanEval, kHumanEvalPlus, kMbppPlus };
// "humaneval", "humaneval+", "mbpp+" (also the task's name).
std::string_view CodeSuiteName(CodeSuite suite);
// Inverse of CodeSuiteName; InvalidArgument "--suite must be one of humaneval, humaneval+, mbpp+, got 'x'".
Result<CodeSuite> ParseCodeSuite(std::string_view name);
// Where generation stops: kHumanEvalStopSequences for humaneval; for the evalplus suites evalplus's EOS list
// (evalplus/provider/utility.py) plus extra_eos_for_direct_completion of the dataset.
std::vector<std::string_view> StopSequences(CodeSuite suite);

// Byte offset of the earliest occurrence of any of `stop` in `text`, or std::string_view::npos.
size_t FindStopSequence(std::string_view text, std::span<const std::string_view> stop);

struct GenerationResult {
  std::string text;             // the decoded continuation, cut before the earliest stop sequence
  std::vector<TokenId> tokens;  // every generated token (the one that completed a stop sequence included)
  std::string finish;           // "stop" (a stop sequence), "eos" (the model ended) or "length" (max_new_tokens)
};

// lm-eval's generate_until at token level: generates after `prompt`, decoding the whole continuation after each
// token and stopping once it contains a stop sequence. InvalidArgument unless 1 <= prompt.size(),
// max_new_tokens >= 1 and prompt.size() + max_new_tokens <= model.MaxContext(); the model's errors.
Result<GenerationResult> GenerateUntil(LanguageModel& model, std::span<const TokenId> prompt,
                                       std::span<const std::string_view> stop, int max_new_tokens,
                                       const SamplingOptions& sampling);
// GenerateUntil of several requests through one LanguageModel::GenerateBatch (batched decode in the engine):
// result[i] equals GenerateUntil(requests[i]...) wherever the model's GenerateBatch equals its Generate per request
// (bit for bit on the CPU reference). Errors: GenerateUntil's, naming the request.
Result<std::vector<GenerationResult>> GenerateUntilBatch(LanguageModel& model,
                                                         std::span<const GenerationRequest> requests,
                                                         std::span<const std::string_view> stop);

struct HumanevalOptions {
  CodeSuite suite = CodeSuite::kHumanEval;
  // HumanEval JSONL (or the evalplus release of the suite), plain or .gz; the CLI passes the bundled
  // datasets/humaneval/humaneval_sample.jsonl for humaneval and requires a file for the evalplus suites.
  std::string problems_path;
  int samples_per_problem = 1;  // n draws per problem
  SamplingOptions sampling;     // greedy by default; n > 1 needs temperature > 0
  int max_new_tokens = 512;
  std::vector<int> ks = {1};    // pass@k values to report (1 is always reported)
  int limit = 0;                // first `limit` problems; 0 = all
  // allow_code_exec, isolation, limits.wall_timeout_s (the per-program timeout; keep limits.cpu_seconds above it),
  // workers.
  SandboxOptions sandbox;
  ChatPromptOptions chat;  // chat template and system prompt (tasks/chat_prompt.h); no few-shot examples here
};

class HumanevalTask : public Task {
 public:
  // Reads and validates the problems file now. InvalidArgument for samples_per_problem < 1, max_new_tokens < 1,
  // a k < 1, limit < 0, samples_per_problem > 1 with temperature 0 (the draws would be identical), or an evalplus
  // suite without a problems file; datasets/humaneval_jsonl.h errors.
  static Result<std::unique_ptr<HumanevalTask>> Create(HumanevalOptions options);

  std::string Name() const override { return std::string(CodeSuiteName(options_.suite)); }
  std::string Version() const override { return "1"; }
  // {"suite", "problems", "n", "temperature", "top_k", "top_p", "seed", "max_new_tokens", "ks", "limit",
  //  "timeout_s", "stop": [...], "bos"} and the chat keys of ChatPromptOptions::ToJson ("bos" as in tasks/mmlu_task.h).
  nlohmann::json Config() const override;
  std::string DatasetSha256() const override { return dataset_sha256_; }

  // FailedPrecondition naming --allow-code-exec unless options.sandbox.allow_code_exec (checked before anything
  // runs); CodeSandbox::Create errors; the model's errors; whatever emit returns. Stores one batch per
  // kBatchSamples draws (generated together by one GenerateUntilBatch, then run in the sandbox in parallel).
  Status Run(TaskRun& run) override;
  // FailedPrecondition without allow_code_exec; InvalidArgument for a context below 2 tokens.
  Status Preflight(const LanguageModel& model, const LanguageModel* reference) const override;
  // InvalidArgument for no samples, an id that is not "<task_id>#<draw>", a duplicate id, a score other than 0/1
  // or a missing data field.
  Result<std::vector<MetricRecord>> Aggregate(const std::vector<SampleRecord>& samples) const override;
  Result<std::vector<ComparisonRecord>> Compare(const std::vector<SampleRecord>& candidate,
                                                const std::vector<SampleRecord>& reference) const override;

  // Draws per batch: enough requests for the engine to decode many at once (it sizes its slots from free memory
  // and queues the rest), few enough that samples are stored every few minutes on a GPU.
  static constexpr size_t kBatchSamples = 64;

 private:
  HumanevalTask(HumanevalOptions options, std::vector<HumanEvalProblem> problems, std::string dataset_sha256)
      : options_(std::move(options)), problems_(std::move(problems)), dataset_sha256_(std::move(dataset_sha256)) {}

  HumanevalOptions options_;
  std::vector<HumanEvalProblem> problems_;  // after limit
  std::string dataset_sha256_;
};

}  // namespace fp4lab
