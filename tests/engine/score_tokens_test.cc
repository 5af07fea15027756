// Engine::ScoreTokens: the log-softmax and gathers run on the device, so a scoring call moves O(requests) bytes to
// the host instead of the [T, V] logits, and gives exactly what the host-side default computes from those logits.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine_test_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

TEST(ScoreTokens, MovesTwelveBytesPerRequestAndEqualsTheHostFormula) {
  auto engine = testing::OpenEngine(testing::SourcePath("datasets/models/stories260K"), "bf16");
  ASSERT_NE(engine, nullptr);
  auto tokens = engine->Encode("Once upon a time, there was a little girl named Lily. She loved to play outside.");
  ASSERT_TRUE(tokens.ok());
  tokens->insert(tokens->begin(), engine->BosId());
  const int n = static_cast<int>(tokens->size());
  std::vector<ScoreRequest> requests;
  for (int r = 0; r + 1 < n; ++r) requests.push_back({r, (*tokens)[r + 1]});
  requests.push_back({n - 1, 7});  // a repeated row with other targets: several continuations of one context
  requests.push_back({n - 1, 8});

  const int64_t before = engine->DownloadedBytes();
  auto device = engine->ScoreTokens(*tokens, requests);
  ASSERT_TRUE(device.ok()) << device.status().ToString();
  const int64_t moved = engine->DownloadedBytes() - before;
  EXPECT_EQ(moved, 12 * static_cast<int64_t>(requests.size()));  // a double and a flag per request
  EXPECT_LT(moved, int64_t{4} * n * engine->VocabSize() / 100);  // vs the logits: under 1 % of them

  auto host = engine->LanguageModel::ScoreTokens(*tokens, requests);  // the default: logits to the host
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  ASSERT_EQ(device->size(), host->size());
  for (size_t i = 0; i < host->size(); ++i) {
    EXPECT_EQ((*device)[i].logprob, (*host)[i].logprob) << "request " << i;  // the same formula on the same logits
    EXPECT_EQ((*device)[i].is_greedy, (*host)[i].is_greedy) << "request " << i;
  }
}

TEST(ScoreTokens, RejectsRowsAndTargetsOutsideThePass) {
  auto engine = testing::OpenEngine(testing::SourcePath("datasets/models/stories260K"), "bf16");
  ASSERT_NE(engine, nullptr);
  const std::vector<TokenId> tokens = {1, 2, 3};
  for (const ScoreRequest bad : {ScoreRequest{3, 1}, ScoreRequest{-1, 1}, ScoreRequest{0, 512}}) {
    const std::vector<ScoreRequest> requests = {bad};
    auto scores = engine->ScoreTokens(tokens, requests);
    EXPECT_EQ(scores.status().code(), StatusCode::kInvalidArgument) << bad.row << " " << bad.target;
  }
}

}  // namespace
}  // namespace fp4lab
