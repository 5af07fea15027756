// Denoiser fidelity ("denoiser_fidelity"): how far a candidate precision's block-diffusion decoder is from the
// reference precision's, on identical inputs. It is its own task rather than a mode of `fidelity` because its items,
// samples and metrics differ (canvases and denoising steps, not text chunks and next tokens), and a task's stored
// config must say which convention made its numbers; `fidelity`, `perplexity` and `mmlu` refuse a diffusion model
// and name this task (tasks/causal_only.h).
//
// Items: `prompts` prompts of `prompt_tokens` tokens each: BOS + the next prompt_tokens - 1 tokens of the data text
// (encoded once, without BOS; prompt i reads text tokens [i (prompt_tokens - 1), (i + 1) (prompt_tokens - 1))).
// Canvas of prompt i: canvas_length() uniform vocabulary ids, DenoiserCanvas(seed + i) (SplitMix64, modulo vocab).
// Per prompt, on each model: Reset, Commit(prompt), then
//   step 1: Denoise(canvas, no self-conditioning)
//   step 2: Denoise(canvas, S), S = the reference's step-1 logits as stored (below), fed to both models.
// The reference stores its step-1 and step-2 rows with its sample as attachments (canvas_length() parts per step,
// the 16-bit form of tasks/reference_logprobs.h, with the canvas id of the position as the row's `correct` token, so
// a candidate checks that it denoises the identical canvas). S is the decoded step-1 rows (log-probabilities, f32),
// which the reference and every candidate read from the same bytes: the self-conditioning input is bit-identical.
// Passing log-probabilities instead of the raw logits assumes the decoder reads self-conditioning only through
// softmax (DiffusionGemma: softmax(previous logits) x embedding), which is shift-invariant; they differ from the
// exact logits' log-softmax by at most ReferenceRow::max_logprob_error.
// Per canvas position, with P = the reference's distribution (decoded) and Q = softmax(candidate logits):
//   kld = KL(P || Q) over the full vocabulary (error from storage <= kld_bound, tasks/reference_logprobs.h),
//   same_top = argmax P == argmax Q (argmax exact; lowest id on ties).
// The reference's own sample compares its logits with themselves: kld == 0, same_top == true.
//
// Samples: id "prompt<i>", score = mean step-1 kld, data {step1_kld: [C], step1_kld_bound: [C], step1_same_top: [C],
// step2_kld, step2_kld_bound, step2_same_top, canvas_length, prompt_tokens}.
// Metrics for s = 1, 2 (all canvas positions of all prompts; stderr over the per-prompt means, n = prompts, because
// the positions of one canvas are not independent; absent with one prompt):
//   step<s>/kld_mean ± stderr, step<s>/kld_p99, step<s>/kld_max        ("nats", worse)
//   step<s>/same_top_p ± stderr                                        ("%", better)
//   step<s>/kld_bound_mean                                            ("nats", "")
//   positions (n = prompts)                                           ("tokens", "")
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tasks/task.h"

namespace fp4lab {

// `length` ids uniform in [0, vocab): SplitMix64 seeded with `seed`, each output modulo vocab (the modulo bias is
// below vocab / 2^64). REQUIRES length >= 0, vocab >= 1.
std::vector<TokenId> DenoiserCanvas(int64_t length, int64_t vocab, uint64_t seed);

struct DenoiserFidelityOptions {
  std::string data_path;   // a UTF-8 text file the prompts are cut from
  int prompts = 4;         // >= 1
  int prompt_tokens = 64;  // >= 2 (BOS + at least one text token)
  uint64_t seed = 0;       // canvas seeds: seed + prompt index
};

class DenoiserFidelityTask : public Task {
 public:
  // Reads the text file now. InvalidArgument for prompts < 1 or prompt_tokens < 2; text_corpus.h errors.
  static Result<std::unique_ptr<DenoiserFidelityTask>> Create(DenoiserFidelityOptions options);

  std::string Name() const override { return "denoiser_fidelity"; }
  std::string Version() const override { return "1"; }
  // {"data", "prompts", "prompt_tokens", "seed", "convention"}.
  nlohmann::json Config() const override;
  std::string DatasetSha256() const override { return sha256_; }
  bool NeedsReference() const override { return true; }

  // InvalidArgument when a model is not a block-diffusion model (use fidelity), the vocabularies or canvas lengths
  // differ, a prompt plus a canvas exceeds a model's max_context, the two tokenizers encode the text differently, or
  // the text is too short for the prompts; FailedPrecondition without a reference.
  Status Preflight(const LanguageModel& model, const LanguageModel* reference) const override;
  // FailedPrecondition when the model is not a block-diffusion model or a candidate finds the reference's rows
  // missing; InvalidArgument when they do not match (count, vocabulary, canvas); model and emit errors.
  Status Run(TaskRun& run) override;
  // InvalidArgument for no samples, ids other than "prompt<i>", duplicates, missing/mistyped or ragged fields.
  Result<std::vector<MetricRecord>> Aggregate(const std::vector<SampleRecord>& samples) const override;

 private:
  DenoiserFidelityTask(DenoiserFidelityOptions options, std::string text, std::string sha256)
      : options_(std::move(options)), text_(std::move(text)), sha256_(std::move(sha256)) {}
  // The prompts for `model` (see above). InvalidArgument when the text has too few tokens.
  Result<std::vector<std::vector<TokenId>>> Prompts(const LanguageModel& model) const;

  DenoiserFidelityOptions options_;
  std::string text_;
  std::string sha256_;
};

}  // namespace fp4lab
