// Fidelity of a candidate precision against the reference model on identical tokens, as llama-perplexity
// --kl-divergence reports it (EVAL_CONVENTIONS.md section 5).
//
// Tokens: the whole data file encoded as one stream with BOS first (Preflight checks that the reference's and the
// candidate's tokenizers give the same stream), cut into llama.cpp chunks of ctx tokens with BOS first
// (tasks/lm_requests.h LlamaCppChunk); each model reads each chunk in one forward, and rows ctx/2 .. ctx-2 are
// scored (the token after each row is the "correct" one).
//
// Chunks of about kScoreGroupTokens tokens go to the model in one LanguageModel::LogitsBatch (packed by the engine
// into multi-sequence passes within its memory budget, engine/batch_memory.h); the numbers equal one Logits call
// per chunk.
// The two models are never resident together. At the reference precision (TaskRun::is_reference) each chunk's
// scored rows are stored with its sample as an attachment, one part per row, in the 16-bit form of
// tasks/reference_logprobs.h (like llama-perplexity --kl-divergence-base); a candidate precision reads them back.
// Per scored position, with P = the reference distribution, Q = softmax(candidate logits), both in double:
//   kld      = KL(P || Q) = sum_v p_v (ln p_v - ln q_v) over the FULL vocabulary, P decoded from the stored row.
//              Its error from the 16-bit storage is at most kld_bound (reference_logprobs.h: ~0.06% of the mean
//              |ln p - ln q| plus ~4e-7 nats); stored per position and reported as kld_bound_mean.
//   delta_p  = q(correct) - p(correct)            (probability, 0..1 in the sample data; p(correct) exact)
//   same_top = argmax P == argmax Q               (lowest id wins ties; the reference argmax exact)
//   nll_ref  = -ln p(correct) (exact),  nll_q = -ln q(correct)
// The reference's own sample compares its logits with themselves: kld == 0.0, delta_p == 0.0 exactly.
//
// One sample per chunk, id "chunk<i>", score = mean kld of the chunk, data:
//   {kld: [...], kld_bound: [...], delta_p: [...], same_top: [bool...], nll_ref: [...], nll_q: [...],
//    kld_bin_edges: [...], kld_hist: [...], ctx}
// kld_hist counts the chunk's kld values in the fixed bins of KldBinEdges() (see KldHistogram).
// Aggregate (over all positions of all stored chunks; metric: unit, higher_is):
//   kld_mean ± stderr, kld_median, kld_p90, kld_p99, kld_p999, kld_max   ("nats", worse)
//   same_top_p ± 100 * sqrt(p (1 - p) / (n - 1))                        ("%", better)  (llama.cpp's binomial error)
//   delta_p_mean ± stderr ("%", better), delta_p_rms ("%", worse)                    (Δp in percent as llama.cpp)
//   ln_ppl_ratio = mean(nll_q - nll_ref) ± stderr of the paired differences ("", worse)
//   ppl_ref, ppl_q = exp(mean NLL) ± ppl * stderr(NLL)                 ("", worse)
//   kld_bound_mean: mean of kld_bound, the storage error bound of kld_mean ("nats", neutral)
//   positions (n = chunks)                                            ("tokens", neutral)
// Standard errors need n >= 2 positions; with one position they are absent.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "datasets/text_corpus.h"
#include "tasks/reference_logprobs.h"
#include "tasks/task.h"

namespace fp4lab {

struct PositionFidelity {
  double kld = 0.0;
  double delta_p = 0.0;
  bool same_top = false;
  double nll_ref = 0.0;
  double nll_q = 0.0;
  double kld_bound = 0.0;  // |kld - exact kld| <= kld_bound (0 when the reference was exact)
};

// The statistics of one position from both models' logits (exact). REQUIRES equal non-empty sizes,
// 0 <= correct < size.
PositionFidelity ComparePosition(std::span<const float> reference_logits, std::span<const float> candidate_logits,
                                 TokenId correct);
// The same from the reference's stored row (tasks/reference_logprobs.h). REQUIRES candidate_logits.size() ==
// reference.logprobs.size().
PositionFidelity ComparePosition(const ReferenceRow& reference, std::span<const float> candidate_logits);

// Interior bin edges of the KLD histogram, log-spaced: 10^(k/2) nats for k = -12 .. 2 (1e-6 .. 10, 15 edges).
const std::vector<double>& KldBinEdges();
// counts.size() == edges.size() + 1: counts[0] = #{kld < edges[0]} (exact zeros and tiny rounding negatives
// included), counts[i] = #{edges[i-1] <= kld < edges[i]}, counts.back() = #{kld >= edges.back()}.
std::vector<int64_t> KldHistogram(std::span<const double> kld);

struct FidelityOptions {
  int ctx = 512;          // llama-perplexity's default -c; >= 3 and <= both models' MaxContext()
  std::string data_path;  // a UTF-8 text file
};

class FidelityTask : public Task {
 public:
  // Reads the text file now. InvalidArgument for ctx < 3; text_corpus.h errors for the file.
  static Result<std::unique_ptr<FidelityTask>> Create(FidelityOptions options);

  std::string Name() const override { return "fidelity"; }
  std::string Version() const override { return "2"; }
  nlohmann::json Config() const override;  // {"ctx": N, "data": path}
  std::string DatasetSha256() const override { return sha256_; }
  bool NeedsReference() const override { return true; }

  // InvalidArgument for a block-diffusion model (tasks/causal_only.h: use denoiser_fidelity); FailedPrecondition
  // without a reference; InvalidArgument if the vocab sizes differ, ctx exceeds a model's
  // MaxContext(), the two tokenizers encode the text differently, or the text has fewer tokens than one chunk.
  Status Preflight(const LanguageModel& model, const LanguageModel* reference) const override;
  // A candidate precision fails with FailedPrecondition when the reference's stored rows of a chunk are missing,
  // InvalidArgument when they do not match the chunk; model and emit errors.
  Status Run(TaskRun& run) override;
  // InvalidArgument for no samples, ids other than "chunk<i>", duplicates, missing/mistyped or ragged fields.
  Result<std::vector<MetricRecord>> Aggregate(const std::vector<SampleRecord>& samples) const override;

 private:
  FidelityTask(FidelityOptions options, std::string text, std::string sha256)
      : options_(std::move(options)), text_(std::move(text)), sha256_(std::move(sha256)) {}
  // InvalidArgument when ctx exceeds `model`'s context; else the BOS-prefixed token stream of the text, which
  // must hold at least one chunk.
  Result<std::vector<TokenId>> Stream(const LanguageModel& model, const char* which) const;
  // One chunk's sample at the reference precision from its logit rows ctx/2 .. ctx-1 ([ctx - ctx/2, vocab]):
  // compared with itself, its scored rows attached.
  Result<SampleRecord> ReferenceSample(std::span<const float> rows, const std::vector<TokenId>& chunk,
                                       size_t vocab) const;
  // One chunk's sample at a candidate precision from its logit rows (as ReferenceSample) against the reference's
  // stored rows `parts`.
  Result<SampleRecord> CandidateSample(std::span<const float> rows, const std::vector<TokenId>& chunk,
                                       const std::vector<std::string>& parts, const std::string& sample_id,
                                       size_t vocab) const;

  FidelityOptions options_;
  std::string text_;  // the whole file
  std::string sha256_;
};

}  // namespace fp4lab
