// Token-level requests built on LanguageModel::Logits (lm-evaluation-harness's request types, token level):
// log-softmax of a logits row, the log-likelihood of a continuation, per-token NLLs of a window, and the two
// windowing schemes perplexity and fidelity use (lm-eval rolling windows, llama.cpp chunks).
//
// All probabilities are computed in double from the model's float logits, always by the same formula
// (x - LogSumExp(x)), so identical logits give bit-identical log-probabilities.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/language_model.h"
#include "engine/token_scores.h"  // LogSumExp, ArgMax
#include "engine/status.h"

namespace fp4lab {

// out[v] = x_v - LogSumExp(x): natural-log probabilities of one row. REQUIRES !logits.empty().
std::vector<double> LogSoftmax(std::span<const float> logits);

struct LogLikelihoodResult {
  double logprob = 0.0;    // sum over continuation tokens of ln p(token | everything before it), nats (<= 0)
  bool is_greedy = false;  // every continuation token is the argmax of its row
};

// lm-eval's loglikelihood request: ONE forward over (context + continuation)[:-1], truncated from the left to
// the model's MaxContext() (tasks/mmlu_prompt.h LeadingTokensToDrop), whose last continuation.size() rows score
// the continuation. InvalidArgument if context or continuation is empty or continuation.size() > MaxContext().
Result<LogLikelihoodResult> LogLikelihood(LanguageModel& model, std::span<const TokenId> context,
                                          std::span<const TokenId> continuation);

// One loglikelihood request of a batch (the spans must outlive the call).
struct LogLikelihoodRequest {
  std::span<const TokenId> context;
  std::span<const TokenId> continuation;
};

// lm-eval's _loglikelihood_tokens over many requests: result[i] equals LogLikelihood(requests[i]) (the same
// forward input and rows, so bit-identical scores on a backend whose rows do not depend on the other rows of a
// pass). Requests whose forward input is identical share one forward, as lm-eval's group_by="contexts" shares one
// for requests with the same context + continuation[:-1] (those always have identical inputs; e.g. the one-token
// answers of one MMLU question); the forwards go to one ScoreBatch call longest first, as lm-eval orders them, so
// the engine's passes hold sequences of similar length. Errors: LogLikelihood's, naming the request.
Result<std::vector<LogLikelihoodResult>> LogLikelihoodBatch(LanguageModel& model,
                                                            std::span<const LogLikelihoodRequest> requests);

// Forward input tokens per batched call a task sends (perplexity windows, fidelity chunks): several of the
// engine's passes (Engine::kScoreBatchRows) to pack, few enough that samples are stored and progress reported
// every few seconds. A task groups whole items (documents, chunks), so a call may exceed it by one item.
inline constexpr int64_t kScoreGroupTokens = 16384;

// One forward over `input`; returns -ln p(input[r + 1] | input[0..r]) for r = first_row .. input.size() - 2
// (input.size() - 1 - first_row values, nats). InvalidArgument unless 0 <= first_row < input.size() - 1 and
// input.size() <= MaxContext().
Result<std::vector<double>> TokenNlls(LanguageModel& model, std::span<const TokenId> input, int first_row);
// TokenNlls of several inputs in one ScoreBatch call: result[i] equals TokenNlls(inputs[i], first_row). Errors:
// TokenNlls', naming the input.
Result<std::vector<std::vector<double>>> TokenNllsBatch(LanguageModel& model,
                                                        std::span<const std::span<const TokenId>> inputs,
                                                        int first_row);

// One disjoint window of lm-eval's loglikelihood_rolling: the model reads (context + continuation)[:-1] and the
// continuation tokens are scored.
struct RollingWindow {
  std::vector<TokenId> context;
  std::vector<TokenId> continuation;
};

// lm-eval's get_rolling_token_windows(token_list, prefix_token, max_seq_len, context_len=1) followed by
// make_disjoint_window on each pair: the first window is ([prefix], t[:m]) with m = min(max_seq_len, n); each
// later window predicts the next up-to-max_seq_len tokens t[s:e] with context t[e - max_seq_len - 1 : s] (one
// token when the window is full, more for a final partial window). Every token is predicted exactly once and
// every window's input is at most max_seq_len tokens. Empty `tokens` gives no windows.
// REQUIRES max_seq_len >= 1.
std::vector<RollingWindow> RollingTokenWindows(std::span<const TokenId> tokens, TokenId prefix_token,
                                               int max_seq_len);

// llama-perplexity's chunks of a token stream (the whole text encoded with BOS first): stream.size() / ctx
// non-overlapping chunks (the shorter tail is dropped); chunk i is stream[i*ctx, (i+1)*ctx) with its first
// token replaced by `bos`. Rows LlamaCppFirstScoredRow(ctx) .. ctx-2 of a chunk's logits score tokens
// first+1 .. ctx-1, i.e. LlamaCppScoredPerChunk(ctx) = ctx - 1 - ctx/2 tokens per chunk.
int64_t LlamaCppChunkCount(size_t stream_tokens, int ctx);  // REQUIRES ctx >= 1
int LlamaCppFirstScoredRow(int ctx);                        // ctx / 2
int LlamaCppScoredPerChunk(int ctx);                        // ctx - 1 - ctx / 2
// REQUIRES 0 <= index < LlamaCppChunkCount(stream.size(), ctx).
std::vector<TokenId> LlamaCppChunk(std::span<const TokenId> stream, int ctx, int64_t index, TokenId bos);

// sha256 (lowercase hex) of token ids as 4-byte little-endian integers: the prompt hash of a token input.
std::string TokensSha256(std::span<const TokenId> tokens);

}  // namespace fp4lab
