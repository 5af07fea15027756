// Fidelity of a candidate precision against the reference model on identical tokens, as llama-perplexity
// --kl-divergence reports it (EVAL_CONVENTIONS.md section 5), computed directly from both models' logits.
//
// Tokens: the whole data file encoded (by the reference model's tokenizer) as one stream with BOS first, cut into
// llama.cpp chunks of ctx tokens with BOS first (tasks/lm_requests.h LlamaCppChunk); both models read each chunk in
// one forward, and rows ctx/2 .. ctx-2 are scored (the token after each row is the "correct" one).
// Per scored position, with P = softmax(reference logits), Q = softmax(candidate logits), both in double:
//   kld      = KL(P || Q) = sum_v p_v (ln p_v - ln q_v) over the FULL vocabulary (terms with p_v == 0 are 0).
//              llama.cpp skips entries whose base log-prob is below -16 only because it stores base log-probs
//              quantized to 16 bits; we keep exact log-probs, so nothing is skipped.
//   delta_p  = q(correct) - p(correct)            (probability, 0..1 in the sample data)
//   same_top = argmax P == argmax Q               (lowest id wins ties)
//   nll_ref  = -ln p(correct),  nll_q = -ln q(correct)
// Identical logits give kld == 0.0, delta_p == 0.0 exactly (same formula on the same floats); when TaskRun::model
// IS the reference object, its logits are computed once and used for both.
//
// One sample per chunk, id "chunk<i>", score = mean kld of the chunk, data:
//   {kld: [...], delta_p: [...], same_top: [bool...], nll_ref: [...], nll_q: [...], kld_bin_edges: [...],
//    kld_hist: [...], ctx}
// kld_hist counts the chunk's kld values in the fixed bins of KldBinEdges() (see KldHistogram).
// Aggregate (over all positions of all stored chunks; metric: unit, higher_is):
//   kld_mean ± stderr, kld_median, kld_p90, kld_p99, kld_p999, kld_max   ("nats", worse)
//   same_top_p ± 100 * sqrt(p (1 - p) / (n - 1))                        ("%", better)  (llama.cpp's binomial error)
//   delta_p_mean ± stderr ("%", better), delta_p_rms ("%", worse)                    (Δp in percent as llama.cpp)
//   ln_ppl_ratio = mean(nll_q - nll_ref) ± stderr of the paired differences ("", worse)
//   ppl_ref, ppl_q = exp(mean NLL) ± ppl * stderr(NLL)                 ("", worse)
//   positions (n = chunks)                                            ("tokens", neutral)
// Standard errors need n >= 2 positions; with one position they are absent.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "datasets/text_corpus.h"
#include "tasks/task.h"

namespace fp4lab {

struct PositionFidelity {
  double kld = 0.0;
  double delta_p = 0.0;
  bool same_top = false;
  double nll_ref = 0.0;
  double nll_q = 0.0;
};

// The statistics of one position. REQUIRES equal non-empty sizes, 0 <= correct < size.
PositionFidelity ComparePosition(std::span<const float> reference_logits, std::span<const float> candidate_logits,
                                 TokenId correct);

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
  std::string Version() const override { return "1"; }
  nlohmann::json Config() const override;  // {"ctx": N, "data": path}
  std::string DatasetSha256() const override { return sha256_; }
  bool NeedsReference() const override { return true; }

  // FailedPrecondition without TaskRun::reference; InvalidArgument if the vocab sizes differ, ctx exceeds a
  // model's MaxContext(), or the text has fewer tokens than one chunk; model and emit errors.
  Status Preflight(const LanguageModel& model, const LanguageModel* reference) const override;
  Status Run(TaskRun& run) override;
  // InvalidArgument for no samples, ids other than "chunk<i>", duplicates, missing/mistyped or ragged fields.
  Result<std::vector<MetricRecord>> Aggregate(const std::vector<SampleRecord>& samples) const override;

 private:
  FidelityTask(FidelityOptions options, std::string text, std::string sha256)
      : options_(std::move(options)), text_(std::move(text)), sha256_(std::move(sha256)) {}
  // Everything Preflight checks; on success the BOS-prefixed token stream of the text.
  Result<std::vector<TokenId>> CheckedStream(const LanguageModel& candidate, const LanguageModel* reference) const;

  FidelityOptions options_;
  std::string text_;  // the whole file
  std::string sha256_;
};

}  // namespace fp4lab
