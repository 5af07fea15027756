// Engine::ScoreBatch (Model::ForwardSequences): several scoring calls packed into one multi-sequence forward pass
// give the numbers of one ScoreTokens call per sequence. Bound: on the CPU reference every row of a pass is computed
// by the same loops in the same order whatever the other rows are (each Linear row is its own f32 dot products,
// each attention row reads only its own sequence's keys), so the bound is zero: bit-identical log-probabilities.
#include <gtest/gtest.h>

#include <vector>

#include "engine/engine.h"
#include "test_util.h"

namespace fp4lab {
namespace {

TEST(ScoreBatch, PackedSequencesScoreExactlyAsOneAtATime) {
  EngineOptions options;
  options.model_dir = testing::SourcePath("datasets/models/stories260K");
  auto engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const std::vector<std::string> texts = {"Once upon a time, there was a little girl named Lily.",
                                          "The dog ran.", "Tom and Sue went to the park to play with a big red ball."};
  std::vector<std::vector<TokenId>> tokens;
  std::vector<std::vector<ScoreRequest>> requests;
  for (const std::string& text : texts) {
    auto ids = (*engine)->Encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    ids->insert(ids->begin(), (*engine)->BosId());
    std::vector<ScoreRequest> r;
    for (size_t i = 0; i + 1 < ids->size(); ++i) r.push_back({static_cast<int>(i), (*ids)[i + 1]});
    r.push_back({0, 7});  // a repeated row, as MMLU's candidate continuations share one
    tokens.push_back(std::move(ids).value());
    requests.push_back(std::move(r));
  }
  std::vector<ScoreSequence> batch;
  for (size_t s = 0; s < tokens.size(); ++s) batch.push_back({tokens[s], requests[s]});
  const int64_t downloaded_before = (*engine)->DownloadedBytes();
  auto packed = (*engine)->ScoreBatch(batch);
  ASSERT_TRUE(packed.ok()) << packed.status().ToString();
  ASSERT_EQ(packed->size(), tokens.size());
  // Tasks score through ScoreBatch: it too moves a double and a flag (12 bytes) per request to the host, not the
  // [T, V] logits of the pass.
  int64_t request_count = 0;
  for (const auto& r : requests) request_count += static_cast<int64_t>(r.size());
  EXPECT_EQ((*engine)->DownloadedBytes() - downloaded_before, 12 * request_count);
  for (size_t s = 0; s < tokens.size(); ++s) {
    auto alone = (*engine)->ScoreTokens(tokens[s], requests[s]);
    ASSERT_TRUE(alone.ok()) << alone.status().ToString();
    ASSERT_EQ((*packed)[s].size(), alone->size());
    for (size_t i = 0; i < alone->size(); ++i) {
      EXPECT_EQ((*packed)[s][i].logprob, (*alone)[i].logprob) << "sequence " << s << " request " << i;
      EXPECT_EQ((*packed)[s][i].is_greedy, (*alone)[i].is_greedy) << "sequence " << s << " request " << i;
    }
  }
  EXPECT_EQ((*engine)->TokensProcessed().forward, 2 * static_cast<int64_t>(tokens[0].size() + tokens[1].size() +
                                                                           tokens[2].size()));
}

TEST(ScoreBatch, BadSequencesAreNamed) {
  EngineOptions options;
  options.model_dir = testing::SourcePath("datasets/models/stories260K");
  auto engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const std::vector<TokenId> ok = {1, 2, 3};
  const std::vector<ScoreRequest> bad_row = {{3, 1}};
  const std::vector<ScoreSequence> batch = {{ok, {}}, {ok, bad_row}};
  auto scores = (*engine)->ScoreBatch(batch);
  ASSERT_FALSE(scores.ok());
  EXPECT_NE(scores.status().message().find("scoring sequence 1 of a batch"), std::string::npos)
      << scores.status().ToString();
}

}  // namespace
}  // namespace fp4lab
