#include "engine/language_model.h"

#include "engine/token_scores.h"

namespace fp4lab {

Status CheckScoreRequests(std::span<const ScoreRequest> requests, size_t tokens, int vocab) {
  for (const ScoreRequest& r : requests) {
    if (r.row < 0 || static_cast<size_t>(r.row) >= tokens) {
      return Status::InvalidArgument("ScoreTokens: row " + std::to_string(r.row) + " outside a pass of " +
                                     std::to_string(tokens) + " tokens");
    }
    if (r.target < 0 || r.target >= vocab) {
      return Status::InvalidArgument("ScoreTokens: token " + std::to_string(r.target) +
                                     " outside the vocabulary of " + std::to_string(vocab));
    }
  }
  return Status::Ok();
}

Result<std::vector<TokenScore>> LanguageModel::ScoreTokens(std::span<const TokenId> tokens,
                                                           std::span<const ScoreRequest> requests) {
  const int vocab = VocabSize();
  FP4LAB_RETURN_IF_ERROR(CheckScoreRequests(requests, tokens.size(), vocab));
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<float> logits, Logits(tokens));
  if (logits.size() != tokens.size() * static_cast<size_t>(vocab)) {
    return Status::Internal(Describe() + ": Logits returned " + std::to_string(logits.size()) + " values for " +
                            std::to_string(tokens.size()) + " tokens x vocab " + std::to_string(vocab));
  }
  std::vector<TokenScore> scores;
  scores.reserve(requests.size());
  for (const ScoreRequest& r : requests) {
    const auto row = std::span<const float>(logits).subspan(static_cast<size_t>(r.row) * vocab, vocab);
    scores.push_back({TokenLogProb(row, r.target), ArgMax(row) == r.target});
  }
  return scores;
}

Result<std::vector<std::vector<TokenScore>>> LanguageModel::ScoreBatch(std::span<const ScoreSequence> batch) {
  std::vector<std::vector<TokenScore>> out;
  out.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    Result<std::vector<TokenScore>> scores = ScoreTokens(batch[i].tokens, batch[i].requests);
    if (!scores.ok()) return scores.status().WithContext("scoring sequence " + std::to_string(i) + " of a batch");
    out.push_back(std::move(scores).value());
  }
  return out;
}

Status LanguageModel::LogitsBatch(std::span<const LogitsSequence> batch, const LogitRowsConsumer& on_rows) {
  const size_t vocab = static_cast<size_t>(VocabSize());
  for (size_t i = 0; i < batch.size(); ++i) {
    const std::string what = "logits of sequence " + std::to_string(i) + " of a batch";
    if (batch[i].first_row < 0 || static_cast<size_t>(batch[i].first_row) >= batch[i].tokens.size()) {
      return Status::InvalidArgument(what + ": first row " + std::to_string(batch[i].first_row) + " outside a pass of " +
                                     std::to_string(batch[i].tokens.size()) + " tokens");
    }
    Result<std::vector<float>> logits = Logits(batch[i].tokens);
    if (!logits.ok()) return logits.status().WithContext(what);
    if (logits->size() != batch[i].tokens.size() * vocab) {
      return Status::Internal(Describe() + ": Logits returned " + std::to_string(logits->size()) + " values for " +
                              std::to_string(batch[i].tokens.size()) + " tokens x vocab " + std::to_string(vocab));
    }
    FP4LAB_RETURN_IF_ERROR(
        on_rows(i, std::span<const float>(*logits).subspan(static_cast<size_t>(batch[i].first_row) * vocab)));
  }
  return Status::Ok();
}

Result<std::vector<std::vector<TokenId>>> LanguageModel::GenerateBatch(std::span<const GenerationRequest> requests,
                                                                       const BatchTokenCallback& on_token) {
  std::vector<std::vector<TokenId>> out;
  out.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto on_this = [&](TokenId token) { return !on_token || on_token(i, token); };
    Result<std::vector<TokenId>> tokens =
        Generate(requests[i].prompt, requests[i].max_new_tokens, requests[i].sampling, on_this);
    if (!tokens.ok()) return tokens.status().WithContext("generating request " + std::to_string(i) + " of a batch");
    out.push_back(std::move(tokens).value());
  }
  return out;
}

}  // namespace fp4lab
