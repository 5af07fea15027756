#include "tasks/lm_requests.h"

#include <algorithm>
#include <cmath>
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
  const int max_length = model.MaxContext();
  FP4LAB_ASSIGN_OR_RETURN(
      const int drop, LeadingTokensToDrop(static_cast<int>(context.size()), static_cast<int>(continuation.size()),
                                          max_length));
  std::vector<TokenId> input(context.begin() + drop, context.end());
  input.insert(input.end(), continuation.begin(), continuation.end() - 1);
  const int first_row = static_cast<int>(input.size() - continuation.size());
  std::vector<ScoreRequest> requests(continuation.size());
  for (size_t k = 0; k < continuation.size(); ++k) requests[k] = {first_row + static_cast<int>(k), continuation[k]};
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<TokenScore> scores, model.ScoreTokens(input, requests));
  LogLikelihoodResult result;
  result.is_greedy = true;
  for (const TokenScore& score : scores) {
    result.logprob += score.logprob;
    result.is_greedy = result.is_greedy && score.is_greedy;
  }
  return result;
}

Result<std::vector<double>> TokenNlls(LanguageModel& model, std::span<const TokenId> input, int first_row) {
  if (input.size() < 2 || first_row < 0 || static_cast<size_t>(first_row) >= input.size() - 1) {
    return Status::InvalidArgument("TokenNlls: first_row " + std::to_string(first_row) + " needs 0 <= first_row < " +
                                   std::to_string(input.size()) + " - 1 (the input length minus one)");
  }
  std::vector<ScoreRequest> requests;
  for (size_t r = static_cast<size_t>(first_row); r + 1 < input.size(); ++r) {
    requests.push_back({static_cast<int>(r), input[r + 1]});
  }
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<TokenScore> scores, model.ScoreTokens(input, requests));
  std::vector<double> nlls;
  nlls.reserve(scores.size());
  for (const TokenScore& score : scores) nlls.push_back(-score.logprob);
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
