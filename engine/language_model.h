// LanguageModel: the only surface tasks see (lm-evaluation-harness's model API, token level).
//
// The engine implements it for a loaded checkpoint on a backend at one precision; tests implement it with a
// FakeLanguageModel (tests/tasks/fake_language_model.h) so scoring is tested without weights. Log-likelihood,
// rolling log-likelihood and generate-until are built on these primitives in tasks/lm_requests.h.
//
// Thread safety: none; one caller at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/diffusion/block_denoiser.h"
#include "engine/status.h"

namespace fp4lab {

using TokenId = int32_t;

struct SamplingOptions {
  float temperature = 0.0f;  // 0 = greedy (argmax, lowest id wins ties)
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // 1 = off
  uint64_t seed = 0;         // generation is a pure function of (prompt, options, seed)
};

// One next-token prediction to score: row `row` of a forward pass (the distribution after tokens[0..row]) at token
// `target`.
struct ScoreRequest {
  int row = 0;
  TokenId target = 0;
};

struct TokenScore {
  double logprob = 0.0;    // ln p(target | tokens[0..row]) = x_target - LogSumExp(x) (engine/token_scores.h), nats
  bool is_greedy = false;  // target is the row's argmax (lowest id on ties)
};

// Ok, or InvalidArgument naming the first request whose row is outside [0, tokens) or target outside [0, vocab).
Status CheckScoreRequests(std::span<const ScoreRequest> requests, size_t tokens, int vocab);

// One scoring call of a batch: a fresh forward pass over `tokens` answering `requests` (as ScoreTokens).
struct ScoreSequence {
  std::span<const TokenId> tokens;
  std::span<const ScoreRequest> requests;
};

// One forward pass of a LogitsBatch: the logits of rows [first_row, tokens.size()) are wanted.
struct LogitsSequence {
  std::span<const TokenId> tokens;
  int first_row = 0;
};
// Receives sequence `index`'s wanted rows, row-major [tokens.size() - first_row, vocab]; valid only during the call.
// A non-ok return stops the batch and is returned by LogitsBatch.
using LogitRowsConsumer = std::function<Status(size_t index, std::span<const float> rows)>;

// One prompt of a GenerateBatch, with its own limits and sampling (its own seed).
struct GenerationRequest {
  std::span<const TokenId> prompt;
  int max_new_tokens = 0;
  SamplingOptions sampling;
};
// Called with each new token of request `index`; returns false to stop that request (stop sequences).
using BatchTokenCallback = std::function<bool(size_t index, TokenId token)>;

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;

  // Short description for logs and provenance, e.g. "llama 260K params, bf16 on cpu".
  virtual std::string Describe() const = 0;

  virtual int VocabSize() const = 0;
  // Longest token sequence one forward pass accepts (max_position_embeddings).
  virtual int MaxContext() const = 0;
  virtual TokenId BosId() const = 0;
  virtual TokenId EosId() const = 0;
  // Every id that ends generation (config.json's and generation_config.json's eos_token_id lists, the tokenizer's
  // EOS token); EosId() is among them. The default is {EosId()}.
  virtual std::vector<TokenId> EosIds() const { return {EosId()}; }

  // Text <-> tokens. Encode never adds BOS; callers add it where their convention says so.
  virtual Result<std::vector<TokenId>> Encode(std::string_view text) const = 0;
  virtual std::string Decode(std::span<const TokenId> tokens) const = 0;

  // One causal forward pass over `tokens` (fresh state): returns logits, row-major [tokens.size(), VocabSize()],
  // row i = the distribution of the token after tokens[0..i]. REQUIRES: 1 <= tokens.size() <= MaxContext().
  virtual Result<std::vector<float>> Logits(std::span<const TokenId> tokens) = 0;

  // lm-eval's scoring primitive: one causal forward pass over `tokens` (fresh state) answering every request.
  // Rows may repeat (several candidate continuations of one context). The default computes them on the host from
  // Logits(); the engine overrides it so that only these numbers leave the device (O(requests), not O(T x V)).
  // InvalidArgument when a row is outside [0, tokens.size()) or a target outside the vocabulary.
  virtual Result<std::vector<TokenScore>> ScoreTokens(std::span<const TokenId> tokens,
                                                      std::span<const ScoreRequest> requests);
  // Several independent ScoreTokens calls, answered in order (result[i] for batch[i]). The default makes one
  // ScoreTokens call per sequence; the engine packs sequences into multi-sequence forward passes
  // (Model::ForwardSequences). Errors: those of ScoreTokens, naming the sequence.
  virtual Result<std::vector<std::vector<TokenScore>>> ScoreBatch(std::span<const ScoreSequence> batch);

  // Several independent forward passes whose logit rows the caller reads on the host (fidelity's full
  // distributions): calls on_rows(i, rows of batch[i]) for i = 0, 1, ... in order. The default runs one Logits
  // call per sequence; the engine packs sequences into multi-sequence passes as ScoreBatch does. InvalidArgument
  // naming the sequence for first_row outside [0, tokens.size()) and Logits' errors; on_rows' error as returned.
  virtual Status LogitsBatch(std::span<const LogitsSequence> batch, const LogitRowsConsumer& on_rows);

  // Autoregressive generation after `prompt` (prefill once, then one decode step per token with a KV cache).
  // `on_token` is called with each new token and returns false to stop (stop sequences, streaming); generation
  // also stops at any of EosIds() (not passed to on_token) or after max_new_tokens. Returns the generated tokens.
  virtual Result<std::vector<TokenId>> Generate(std::span<const TokenId> prompt, int max_new_tokens,
                                                const SamplingOptions& sampling,
                                                const std::function<bool(TokenId)>& on_token) = 0;

  // Several independent Generate calls: result[i] is exactly what Generate(requests[i].prompt, ...) returns, with
  // on_token(i, token) in place of its on_token (calls of different requests may interleave; each request's own
  // calls come in its token order). Generation of one request never depends on the others (each samples with its
  // own generator seeded from its own options). The default makes one Generate call per request; the engine
  // prefills each prompt and decodes every live request in one batched step (Model::DecodeStep), as many at once as
  // its memory budget holds. Errors: those of Generate, naming the request.
  virtual Result<std::vector<std::vector<TokenId>>> GenerateBatch(std::span<const GenerationRequest> requests,
                                                                  const BatchTokenCallback& on_token);

  // The model's block-diffusion surface when it is a diffusion model (DiffusionGemma), else nullptr: tasks that
  // need a causal distribution (perplexity) refuse such a model, and tasks made for it (denoiser fidelity) use this.
  // Owned by the model; valid while it lives.
  virtual BlockDenoiser* AsBlockDenoiser() { return nullptr; }
};

}  // namespace fp4lab
