// Engine::GenerateBatch against one Engine::Generate per request on the CPU reference (llama_tiny, token ids): each
// request's tokens, and the tokens its callback sees, are equal. Bound: zero, because on the CPU every row of a
// decode step is computed by the same loops in the same order whatever the other rows are (decode_step_test.cc) and
// each request samples with its own generator. Covered: requests that end by their token limit, by the callback, at
// once (max_new_tokens 0 and 1), at the end of the context (limit MaxContext - prompt + 1, as Generate), sampled
// ones, and a budget of one slot (every request waits for the previous one).
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "engine/engine.h"
#include "engine_test_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

std::unique_ptr<Engine> OpenTiny(int64_t batch_memory_bytes) {
  EngineOptions options;
  options.model_dir = testing::FixturePath("llama_tiny");
  options.batch_memory_bytes = batch_memory_bytes;
  auto engine = Engine::Open(options);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

constexpr size_t kStopAfter = 3;  // request kStopped's callback ends it after this many tokens
constexpr size_t kStopped = 5;

TEST(GenerateBatch, EachRequestEqualsGenerateAlone) {
  auto alone = OpenTiny(0);
  ASSERT_NE(alone, nullptr);
  const int context = alone->MaxContext();
  const std::vector<TokenId> a = {1, 17, 42, 99, 7};
  const std::vector<TokenId> b = {1, 200, 3, 150};
  std::vector<TokenId> edge(static_cast<size_t>(context - 2), 0);
  for (size_t i = 0; i < edge.size(); ++i) edge[i] = static_cast<TokenId>(1 + (i * 37) % 250);
  const std::vector<GenerationRequest> requests = {
      {a, 6, {}},                        // greedy, ends by its limit
      {a, 0, {}},                        // nothing to generate
      {b, 1, {}},                        // one token
      {edge, 5, {}},                     // the context ends first: 3 tokens, as Generate
      {b, 8, {1.0f, 0, 1.0f, 3}},        // sampled
      {a, 8, {}},                        // ended by its callback (kStopped)
      {b, 8, {0.7f, 20, 0.9f, 11}},      // sampled, top-k and top-p
  };
  // Generate per request; the callback of request kStopped returns false after kStopAfter tokens.
  std::vector<std::vector<TokenId>> expected, expected_seen(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    auto out = alone->Generate(requests[i].prompt, requests[i].max_new_tokens, requests[i].sampling,
                               [&](TokenId t) {
                                 expected_seen[i].push_back(t);
                                 return i != kStopped || expected_seen[i].size() < kStopAfter;
                               });
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    expected.push_back(std::move(out).value());
  }
  EXPECT_EQ(expected[3].size(), 3u);  // MaxContext - (MaxContext - 2) + 1
  EXPECT_EQ(expected[kStopped].size(), kStopAfter);

  for (const int64_t budget : {int64_t{0}, int64_t{1}}) {
    auto batched = OpenTiny(budget);
    ASSERT_NE(batched, nullptr);
    std::vector<std::vector<TokenId>> seen(requests.size());
    auto out = batched->GenerateBatch(requests, [&](size_t i, TokenId t) {
      seen[i].push_back(t);
      return i != kStopped || seen[i].size() < kStopAfter;
    });
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(out->size(), requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ((*out)[i], expected[i]) << "budget " << budget << " request " << i;
      EXPECT_EQ(seen[i], expected_seen[i]) << "budget " << budget << " request " << i;
    }
  }
}

}  // namespace
}  // namespace fp4lab
