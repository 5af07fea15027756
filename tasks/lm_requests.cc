#include "tasks/lm_requests.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string_view>

#include "datasets/sha256.h"
#include "tasks/mmlu_prompt.h"

namespace fp4lab {

std::vector<double> LogSoftmax(std::span<const float> logits) {
  const double lse = LogSumExp(logits);
  std::vector<double> out(logits.size());
  for (size_t v = 0; v < logits.size(); ++v) out[v] = static_cast<double>(logits[v]) - lse;
  return out;
}

Result<LogLikelihoodResult> LogLikelihood(LanguageModel& model, std::span<const TokenId> context,
                                          std::span<const TokenId> continuation) {
  const LogLikelihoodRequest request{context, continuation};
  FP4LAB_ASSIGN_OR_RETURN(std::vector<LogLikelihoodResult> results, LogLikelihoodBatch(model, {&request, 1}));
  return results.front();
}

Result<std::vector<LogLikelihoodResult>> LogLikelihoodBatch(LanguageModel& model,
                                                            std::span<const LogLikelihoodRequest> requests) {
  const int max_length = model.MaxContext();
  // One forward per distinct input; each request's rows are a run of its forward's requests.
  struct Forward {
    std::vector<TokenId> input;
    std::vector<ScoreRequest> requests;
  };
  struct Placed {
    size_t forward = 0, first = 0, count = 0;
  };
  std::vector<Forward> forwards;
  std::map<std::vector<TokenId>, size_t> by_input;
  std::vector<Placed> placed;
  placed.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const std::span<const TokenId> context = requests[i].context, continuation = requests[i].continuation;
    const Result<int> drop = LeadingTokensToDrop(static_cast<int>(context.size()),
                                                 static_cast<int>(continuation.size()), max_length);
    if (!drop.ok()) return drop.status().WithContext("loglikelihood request " + std::to_string(i));
    std::vector<TokenId> input(context.begin() + *drop, context.end());
    input.insert(input.end(), continuation.begin(), continuation.end() - 1);
    const int first_row = static_cast<int>(input.size() - continuation.size());
    const auto [it, inserted] = by_input.emplace(std::move(input), forwards.size());
    if (inserted) forwards.push_back({it->first, {}});
    Forward& forward = forwards[it->second];
    placed.push_back({it->second, forward.requests.size(), continuation.size()});
    for (size_t k = 0; k < continuation.size(); ++k) {
      forward.requests.push_back({first_row + static_cast<int>(k), continuation[k]});
    }
  }
  // Longest first (lm-eval's order), ties in request order.
  std::vector<size_t> order(forwards.size());
  for (size_t f = 0; f < order.size(); ++f) order[f] = f;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return forwards[a].input.size() > forwards[b].input.size(); });
  std::vector<ScoreSequence> batch;
  std::vector<size_t> position(forwards.size());  // forward -> its index in `batch`
  for (const size_t f : order) {
    position[f] = batch.size();
    batch.push_back({forwards[f].input, forwards[f].requests});
  }
  FP4LAB_ASSIGN_OR_RETURN(const auto scores, model.ScoreBatch(batch));
  std::vector<LogLikelihoodResult> results(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const std::vector<TokenScore>& rows = scores[position[placed[i].forward]];
    LogLikelihoodResult& result = results[i];
    result.is_greedy = true;
    for (size_t k = placed[i].first; k < placed[i].first + placed[i].count; ++k) {
      result.logprob += rows[k].logprob;
      result.is_greedy = result.is_greedy && rows[k].is_greedy;
    }
  }
  return results;
}

Result<std::vector<double>> TokenNlls(LanguageModel& model, std::span<const TokenId> input, int first_row) {
  const std::span<const TokenId> inputs[] = {input};
  FP4LAB_ASSIGN_OR_RETURN(std::vector<std::vector<double>> nlls, TokenNllsBatch(model, inputs, first_row));
  return std::move(nlls.front());
}

Result<std::vector<std::vector<double>>> TokenNllsBatch(LanguageModel& model,
                                                        std::span<const std::span<const TokenId>> inputs,
                                                        int first_row) {
  std::vector<std::vector<ScoreRequest>> requests(inputs.size());
  std::vector<ScoreSequence> batch;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::span<const TokenId> input = inputs[i];
    if (input.size() < 2 || first_row < 0 || static_cast<size_t>(first_row) >= input.size() - 1) {
      return Status::InvalidArgument("TokenNlls: first_row " + std::to_string(first_row) + " needs 0 <= first_row < " +
                                     std::to_string(input.size()) + " - 1 (the input length minus one)");
    }
    for (size_t r = static_cast<size_t>(first_row); r + 1 < input.size(); ++r) {
      requests[i].push_back({static_cast<int>(r), input[r + 1]});
    }
    batch.push_back({input, requests[i]});
  }
  FP4LAB_ASSIGN_OR_RETURN(const auto scores, model.ScoreBatch(batch));
  std::vector<std::vector<double>> nlls(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    nlls[i].reserve(scores[i].size());
    for (const TokenScore& score : scores[i]) nlls[i].push_back(-score.logprob);
  }
  return nlls;
}

std::vector<RollingWindow> RollingTokenWindows(std::span<const TokenId> tokens, TokenId prefix_token,
                                               int max_seq_len) {
  std::vector<RollingWindow> windows;
  const size_t n = tokens.size();
  if (n == 0) return windows;
  const size_t max_len = static_cast<size_t>(max_seq_len);
  // First window: [prefix] + t[:m-1] predicts t[:m]; after make_disjoint_window its context is [prefix].
  const size_t first = std::min(max_len, n);
  windows.push_back({{prefix_token}, {tokens.begin(), tokens.begin() + first}});
  size_t predicted = first;
  while (predicted < n) {
    // With context_len = 1, pred_len = max_seq_len. The pair is (t[end-max_len-1 : end-1], t[predicted:end]);
    // make_disjoint_window keeps the first len(a) - (len(b) - 1) tokens of a, i.e. t[end-max_len-1 : predicted].
    // end >= max_len + 1 here because the first window was full, so the slice start is never negative.
    const size_t window_pred = std::min(n - predicted, max_len);
    const size_t end = predicted + window_pred;
    const size_t context_begin = end - max_len - 1;
    windows.push_back({{tokens.begin() + context_begin, tokens.begin() + predicted},
                       {tokens.begin() + predicted, tokens.begin() + end}});
    predicted = end;
  }
  return windows;
}

int64_t LlamaCppChunkCount(size_t stream_tokens, int ctx) {
  return static_cast<int64_t>(stream_tokens / static_cast<size_t>(ctx));
}

int LlamaCppFirstScoredRow(int ctx) { return ctx / 2; }

int LlamaCppScoredPerChunk(int ctx) { return ctx - 1 - ctx / 2; }

std::vector<TokenId> LlamaCppChunk(std::span<const TokenId> stream, int ctx, int64_t index, TokenId bos) {
  const size_t begin = static_cast<size_t>(index) * static_cast<size_t>(ctx);
  std::vector<TokenId> chunk(stream.begin() + begin, stream.begin() + begin + ctx);
  chunk[0] = bos;
  return chunk;
}

std::string TokensSha256(std::span<const TokenId> tokens) {
  Sha256 hasher;
  for (TokenId token : tokens) {
    const uint32_t u = static_cast<uint32_t>(token);
    const char bytes[4] = {static_cast<char>(u & 0xFF), static_cast<char>((u >> 8) & 0xFF),
                           static_cast<char>((u >> 16) & 0xFF), static_cast<char>((u >> 24) & 0xFF)};
    hasher.Update(std::string_view(bytes, 4));
  }
  const auto digest = hasher.Finish();
  return ToHex(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

}  // namespace fp4lab
