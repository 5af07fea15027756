#include "tasks/lm_requests.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "tasks/fake_language_model.h"

namespace fp4lab {
namespace {

using testing::FakeLanguageModel;
using testing::FakeModelOptions;

// -ln softmax(row)[t] computed the textbook way in long double, independent of LogSumExp's shifting.
double ReferenceNll(std::span<const float> row, TokenId t) {
  long double z = 0;
  for (float x : row) z += std::exp(static_cast<long double>(x));
  return static_cast<double>(-(static_cast<long double>(row[t]) - std::log(z)));
}

// Logits rows of a fresh model of the same options (the fake is a pure function of the prefix).
std::vector<float> FreshLogits(const FakeModelOptions& options, const std::vector<TokenId>& input) {
  FakeLanguageModel model(options);
  return model.Logits(input).value();
}

// Double rounding over a few hundred terms of magnitude <= 10 stays below 1e-12 absolute.
constexpr double kDoubleTol = 1e-12;

TEST(LogSoftmaxTest, IsStableForLargeLogitsAndNormalized) {
  const std::vector<float> row = {1000.0f, 0.0f, 999.0f};
  const std::vector<double> lp = LogSoftmax(row);
  // ln(1 + e^-1 + e^-1000) = ln(1 + e^-1) to double precision.
  const double lse = std::log1p(std::exp(-1.0));
  EXPECT_NEAR(lp[0], -lse, kDoubleTol);
  EXPECT_NEAR(lp[1], -1000.0 - lse, 1e-9);
  EXPECT_NEAR(lp[2], -1.0 - lse, kDoubleTol);
  EXPECT_TRUE(std::isfinite(lp[1]));
  EXPECT_NEAR(std::exp(lp[0]) + std::exp(lp[2]), 1.0, kDoubleTol);
  EXPECT_NEAR(LogSumExp(row), 1000.0 + lse, 1e-12 * 1000.0);
}

TEST(LogSoftmaxTest, ArgMaxTakesTheLowestIdOnTies) {
  EXPECT_EQ(ArgMax(std::vector<float>{0.0f, 2.0f, 2.0f, 1.0f}), 1);
  EXPECT_EQ(ArgMax(std::vector<float>{-1.0f}), 0);
}

TEST(LogLikelihoodTest, OneForwardOverContextAndContinuationMinusLast) {
  const FakeModelOptions options{.max_context = 16, .seed = 3};
  FakeLanguageModel model(options);
  const std::vector<TokenId> context = {1, 10, 11};
  const std::vector<TokenId> continuation = {12, 13, 14};
  const auto ll = LogLikelihood(model, context, continuation);
  ASSERT_TRUE(ll.ok()) << ll.status().ToString();
  const std::vector<TokenId> input = {1, 10, 11, 12, 13};
  ASSERT_EQ(model.forwards().size(), 1u);
  EXPECT_EQ(model.forwards()[0], input);
  const std::vector<float> logits = FreshLogits(options, input);
  const size_t v = 259;
  double expected = 0;
  for (size_t k = 0; k < 3; ++k) {
    expected -= ReferenceNll(std::span<const float>(logits).subspan((2 + k) * v, v), continuation[k]);
  }
  EXPECT_NEAR(ll->logprob, expected, kDoubleTol);
}

TEST(LogLikelihoodTest, TruncatesTheContextFromTheLeft) {
  FakeLanguageModel model(FakeModelOptions{.max_context = 4});
  const std::vector<TokenId> context = {1, 10, 11, 12, 13, 14};
  const std::vector<TokenId> continuation = {15, 16};
  ASSERT_TRUE(LogLikelihood(model, context, continuation).ok());
  // (context + continuation)[:-1] = 1,10..15 (7 tokens); its last 4 are read.
  EXPECT_EQ(model.forwards()[0], (std::vector<TokenId>{12, 13, 14, 15}));
}

TEST(LogLikelihoodTest, ReportsGreedyOnlyWhenEveryTokenIsTheArgmax) {
  // Row after any prefix favours (last token + 1).
  FakeLanguageModel model(FakeModelOptions{.max_context = 16, .row_function = [](auto prefix, auto row) {
    std::fill(row.begin(), row.end(), 0.0f);
    row[(prefix.back() + 1) % 259] = 4.0f;
  }});
  const std::vector<TokenId> context = {1, 20};
  EXPECT_TRUE(LogLikelihood(model, context, std::vector<TokenId>{21, 22, 23})->is_greedy);
  EXPECT_FALSE(LogLikelihood(model, context, std::vector<TokenId>{21, 23})->is_greedy);
  // logprob of one greedy token: 4 - ln(258 + e^4).
  EXPECT_NEAR(LogLikelihood(model, context, std::vector<TokenId>{21})->logprob, 4.0 - std::log(258 + std::exp(4.0)),
              kDoubleTol);
}

TEST(LogLikelihoodTest, RejectsEmptyOrOverlongRequests) {
  FakeLanguageModel model(FakeModelOptions{.max_context = 4});
  EXPECT_FALSE(LogLikelihood(model, {}, std::vector<TokenId>{5}).ok());
  EXPECT_FALSE(LogLikelihood(model, std::vector<TokenId>{1}, {}).ok());
  EXPECT_FALSE(LogLikelihood(model, std::vector<TokenId>{1}, std::vector<TokenId>{5, 6, 7, 8, 9}).ok());
  EXPECT_TRUE(model.forwards().empty());
}

TEST(TokenNllsTest, ScoresTheTokenAfterEachRowFromFirstRow) {
  const FakeModelOptions options{.max_context = 8, .seed = 5};
  FakeLanguageModel model(options);
  const std::vector<TokenId> input = {1, 30, 31, 32, 33, 34};
  const auto nlls = TokenNlls(model, input, 3);
  ASSERT_TRUE(nlls.ok()) << nlls.status().ToString();
  ASSERT_EQ(nlls->size(), 2u);  // rows 3, 4 score tokens 4, 5
  const std::vector<float> logits = FreshLogits(options, input);
  EXPECT_NEAR((*nlls)[0], ReferenceNll(std::span<const float>(logits).subspan(3 * 259, 259), 33), kDoubleTol);
  EXPECT_NEAR((*nlls)[1], ReferenceNll(std::span<const float>(logits).subspan(4 * 259, 259), 34), kDoubleTol);
  EXPECT_FALSE(TokenNlls(model, input, 5).ok());
  EXPECT_FALSE(TokenNlls(model, input, -1).ok());
}

std::vector<TokenId> Range(TokenId begin, TokenId end) {
  std::vector<TokenId> out;
  for (TokenId t = begin; t < end; ++t) out.push_back(t);
  return out;
}

TEST(RollingTokenWindowsTest, TenTokensContextFourByHand) {
  // lm-eval get_rolling_token_windows(t, prefix=1, max_seq_len=4, context_len=1), t = 100..109:
  //   pred_len = 4; first: ([1] + t[:3], t[:4]); predicted = 4
  //   window_end = 8: (t[3:7], t[4:8]);  window_end = 10: (t[5:9], t[8:10])
  // make_disjoint_window keeps a[:len(a) - (len(b) - 1)]: [1], [t3], [t5, t6, t7].
  const auto windows = RollingTokenWindows(Range(100, 110), 1, 4);
  ASSERT_EQ(windows.size(), 3u);
  EXPECT_EQ(windows[0].context, (std::vector<TokenId>{1}));
  EXPECT_EQ(windows[0].continuation, (std::vector<TokenId>{100, 101, 102, 103}));
  EXPECT_EQ(windows[1].context, (std::vector<TokenId>{103}));
  EXPECT_EQ(windows[1].continuation, (std::vector<TokenId>{104, 105, 106, 107}));
  EXPECT_EQ(windows[2].context, (std::vector<TokenId>{105, 106, 107}));
  EXPECT_EQ(windows[2].continuation, (std::vector<TokenId>{108, 109}));
}

TEST(RollingTokenWindowsTest, ShortAndEmptyAndUnitWindows) {
  EXPECT_TRUE(RollingTokenWindows({}, 1, 4).empty());
  const auto one = RollingTokenWindows(Range(100, 103), 1, 4);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].context, (std::vector<TokenId>{1}));
  EXPECT_EQ(one[0].continuation, Range(100, 103));
  const auto exact = RollingTokenWindows(Range(100, 104), 1, 4);
  ASSERT_EQ(exact.size(), 1u);
  // max_seq_len 1: pred_len 1, every later window is (t[e-2:e-1], t[e-1:e]) -> context = previous token.
  const auto unit = RollingTokenWindows(Range(100, 103), 1, 1);
  ASSERT_EQ(unit.size(), 3u);
  EXPECT_EQ(unit[1].context, (std::vector<TokenId>{100}));
  EXPECT_EQ(unit[2].context, (std::vector<TokenId>{101}));
  EXPECT_EQ(unit[2].continuation, (std::vector<TokenId>{102}));
}

TEST(RollingTokenWindowsTest, EveryTokenOnceAndInputsFit) {
  for (int max_len : {1, 2, 3, 7, 16}) {
    for (int n : {1, 5, 16, 17, 40}) {
      const std::vector<TokenId> tokens = Range(100, 100 + n);
      std::vector<TokenId> predicted;
      for (const RollingWindow& w : RollingTokenWindows(tokens, 1, max_len)) {
        EXPECT_LE(w.context.size() + w.continuation.size() - 1, static_cast<size_t>(max_len));
        EXPECT_FALSE(w.context.empty());
        predicted.insert(predicted.end(), w.continuation.begin(), w.continuation.end());
      }
      EXPECT_EQ(predicted, tokens) << "max_len " << max_len << " n " << n;
    }
  }
}

TEST(LlamaCppChunkTest, CountsDropTheTailAndReplaceTheFirstToken) {
  EXPECT_EQ(LlamaCppChunkCount(17, 8), 2);
  EXPECT_EQ(LlamaCppChunkCount(7, 8), 0);
  EXPECT_EQ(LlamaCppFirstScoredRow(8), 4);
  EXPECT_EQ(LlamaCppScoredPerChunk(8), 3);      // rows 4, 5, 6
  EXPECT_EQ(LlamaCppScoredPerChunk(512), 255);  // llama.cpp: n_ctx - 1 - n_ctx/2
  EXPECT_EQ(LlamaCppScoredPerChunk(3), 1);
  const std::vector<TokenId> stream = Range(10, 27);
  EXPECT_EQ(LlamaCppChunk(stream, 8, 1, 1), (std::vector<TokenId>{1, 19, 20, 21, 22, 23, 24, 25}));
  EXPECT_EQ(LlamaCppChunk(stream, 8, 0, 1), (std::vector<TokenId>{1, 11, 12, 13, 14, 15, 16, 17}));
}

TEST(TokensSha256Test, HashesLittleEndianInt32) {
  // python3: hashlib.sha256(b"\x01\0\0\0").hexdigest()
  EXPECT_EQ(TokensSha256(std::vector<TokenId>{1}), "67abdd721024f0ff4e0b3f4c2fc13bc5bad42d0b7851d456d88d203d15aaa450");
  EXPECT_NE(TokensSha256(std::vector<TokenId>{1, 2}), TokensSha256(std::vector<TokenId>{2, 1}));
}

}  // namespace
}  // namespace fp4lab
