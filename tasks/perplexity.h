// Perplexity of a text file under two named conventions (EVAL_CONVENTIONS.md section 5; never compare across them).
//
// "lmeval" (lm-evaluation-harness loglikelihood_rolling, document level):
//   each document (datasets/text_corpus.h split on <|endoftext|>, then Python str.strip()) is encoded WITHOUT
//   BOS and cut into RollingTokenWindows(tokens, BOS, ctx) (tasks/lm_requests.h), one forward per window.
//   One sample per document, id "doc<i>" (i = 0-based document index), score = nll_sum, data
//     {nll_sum (nats), tokens, bytes (UTF-8 bytes of the stripped document),
//      words (len(re.split(r"\s+", doc)), Python's Unicode whitespace), windows, ctx (the resolved window size)}.
//   Aggregate (sums over documents, then divide): token_ppl = exp(sum nll / sum tokens), byte_ppl, word_ppl,
//   bits_per_byte = sum nll / (sum bytes * ln 2), nll_sum, and the counts docs, tokens, bytes, words.
// "llamacpp" (llama-perplexity): the whole file encoded as one stream with BOS first, LlamaCppChunk()s of ctx
//   tokens; rows ctx/2 .. ctx-2 score tokens ctx/2+1 .. ctx-1; the shorter tail is dropped. One sample per
//   chunk, id "chunk<i>", score = nll_sum, data {nlls: [per-token NLL, nats], nll_sum, tokens, ctx}.
//   Aggregate: ppl = exp(mean NLL) with stderr = ppl * sqrt(var(NLL) / (count - 1)) (var = population variance, as
//   llama.cpp prints it), nll_mean (stderr), and the counts chunks, scored_tokens.
// Compare (paired, the same items of the reference precision): ln_ppl_ratio = ln(PPL_cand / PPL_ref) with a 95 %
//   normal interval ("paired_normal"), and the PPL delta (token_ppl / ppl) whose interval is the ln-ratio interval
//   mapped through PPL_ref * (exp(x) - 1); lmeval also reports the bits_per_byte delta (the ln-ratio interval
//   scaled by sum tokens / (sum bytes * ln 2)).
//   Uncertainty: llamacpp pairs per token (d_t = nll_cand - nll_ref, standard error of the mean of d_t, tokens
//   treated as independent as llama.cpp does); lmeval pairs per document with the ratio estimator
//   r = sum_j d_j / sum_j tokens_j, linearized: SE(r) = sqrt(n / (n - 1) * sum_j (d_j - r tokens_j)^2) / sum tokens.
//   Fewer than 2 paired items (documents or tokens): no comparison rows (an interval is undefined).
// Batching: windows (lmeval) and chunks (llamacpp) of about kScoreGroupTokens tokens go to the model in one call
// (LogLikelihoodBatch / TokenNllsBatch, tasks/lm_requests.h), packed by the engine into multi-sequence passes within
// its memory budget (engine/batch_memory.h); the numbers equal one forward call per window or chunk.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/text_corpus.h"
#include "tasks/task.h"

namespace fp4lab {

enum class PerplexityConvention { kLmEval, kLlamaCpp };

// "lmeval" | "llamacpp"; InvalidArgument naming the valid values otherwise.
Result<PerplexityConvention> ParsePerplexityConvention(std::string_view name);
const char* PerplexityConventionName(PerplexityConvention convention);

// len(re.split(r"\s+", text)) in Python 3 for a str: 1 + the number of maximal runs of Unicode whitespace
// (str.isspace() characters). REQUIRES valid UTF-8.
int64_t CountPythonWords(std::string_view text);

struct PerplexityOptions {
  PerplexityConvention convention = PerplexityConvention::kLmEval;
  // Tokens per window (lmeval max_seq_len) or chunk (llamacpp n_ctx). 0 = the convention's default: the model's
  // MaxContext() for lmeval, 512 for llamacpp. Must not exceed the model's MaxContext(); llamacpp needs >= 3.
  int ctx = 0;
  std::string data_path;  // a UTF-8 text file
};

class PerplexityTask : public Task {
 public:
  // Reads and validates the text file now (datasets/text_corpus.h errors), so DatasetSha256() and a bad path
  // are known before any model runs. InvalidArgument for a negative ctx or (llamacpp) 0 < ctx < 3.
  static Result<std::unique_ptr<PerplexityTask>> Create(PerplexityOptions options);

  std::string Name() const override { return "perplexity"; }
  std::string Version() const override { return "1"; }
  // {"convention": "lmeval"|"llamacpp", "ctx": N (0 = model's max context), "data": path}.
  nlohmann::json Config() const override;
  std::string DatasetSha256() const override { return corpus_.sha256; }

  // Errors: the model's (Encode/Logits) errors; InvalidArgument if ctx exceeds the model's MaxContext(), or
  // (llamacpp) "<file>: text has N tokens, fewer than one chunk of ctx"; whatever emit returns.
  Status Run(TaskRun& run) override;
  // The InvalidArgument cases of Run, without evaluating; InvalidArgument for a block-diffusion model
  // (tasks/causal_only.h: use denoiser_fidelity).
  Status Preflight(const LanguageModel& model, const LanguageModel* reference) const override;
  // InvalidArgument for no samples, a sample id that is not "doc<i>"/"chunk<i>" of this convention, a duplicate id,
  // a missing or mistyped data field, or no scored tokens. Order of `samples` does not matter.
  Result<std::vector<MetricRecord>> Aggregate(const std::vector<SampleRecord>& samples) const override;
  // Pairs samples by id (items present in both); InvalidArgument if a pair's token counts differ.
  Result<std::vector<ComparisonRecord>> Compare(const std::vector<SampleRecord>& candidate,
                                                const std::vector<SampleRecord>& reference) const override;

 private:
  PerplexityTask(PerplexityOptions options, TextCorpus corpus, std::string text)
      : options_(std::move(options)), corpus_(std::move(corpus)), text_(std::move(text)) {}

  Status RunLmEval(TaskRun& run, int ctx);
  Status RunLlamaCpp(TaskRun& run, int ctx);
  // The BOS-prefixed token stream of the text, after checking ctx and that it holds at least one chunk.
  Result<std::vector<TokenId>> LlamaCppStream(const LanguageModel& model, int ctx) const;

  PerplexityOptions options_;
  TextCorpus corpus_;
  std::string text_;  // the whole file (llamacpp encodes it as one stream); empty for lmeval
};

}  // namespace fp4lab
