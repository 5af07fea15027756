// Model::DecodeStep (batched decode) and multi-sequence KV caches on the CPU reference: every sequence of a batch
// gets exactly the logits it gets when run alone, and exactly the last row of a full forward pass over the same
// tokens. On the CPU every op works row by row in the same operation order whatever the batch, so these
// comparisons are bit for bit. Bad input comes back as InvalidArgument naming what is wrong.
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine_test_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;

std::unique_ptr<Engine> OpenTiny() { return testing::OpenEngine(FixturePath("llama_tiny")); }

// Row `row` of a downloaded [rows, vocab] tensor.
std::vector<float> Row(Backend& backend, const DeviceTensor& t, int64_t row) {
  std::vector<float> all(static_cast<size_t>(t.size()));
  EXPECT_TRUE(backend.Download(t, all).ok());
  return std::vector<float>(all.begin() + row * t.cols(), all.begin() + (row + 1) * t.cols());
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

const std::vector<std::vector<int32_t>> kPrompts = {{1, 5, 9}, {1, 7}, {1, 3, 4, 5, 6}};
const std::vector<std::vector<int32_t>> kSteps = {{11, 12, 13}, {21, 22, 23}, {31, 32, 33}, {41, 42, 43}};  // [t][s]
constexpr int64_t kCapacity = 12;

TEST(DecodeStepTest, BatchedDecodeEqualsEachSequenceAloneAndTheFullForward) {
  auto engine = OpenTiny();
  ASSERT_NE(engine, nullptr);
  Model& model = engine->model();
  Backend& backend = engine->backend();
  const int64_t vocab = engine->config().vocab_size;
  const int sequences = static_cast<int>(kPrompts.size());

  // All sequences in one cache: prefill each, then decode them together.
  auto cache = model.NewCache(kCapacity, sequences);
  ASSERT_TRUE(cache.ok()) << cache.status().ToString();
  for (int s = 0; s < sequences; ++s) {
    auto logits = backend.Allocate(static_cast<int64_t>(kPrompts[s].size()), vocab);
    ASSERT_TRUE(logits.ok());
    ASSERT_TRUE(model.Forward(kPrompts[s], **cache, s, **logits).ok());
  }
  auto batch_logits = backend.Allocate(sequences, vocab);
  ASSERT_TRUE(batch_logits.ok());
  std::vector<std::vector<std::vector<float>>> batched(kSteps.size());  // [t][s]
  for (size_t t = 0; t < kSteps.size(); ++t) {
    const Status step = model.DecodeStep(kSteps[t], **cache, **batch_logits);
    ASSERT_TRUE(step.ok()) << step.ToString();
    for (int s = 0; s < sequences; ++s) batched[t].push_back(Row(backend, **batch_logits, s));
  }
  for (int s = 0; s < sequences; ++s) {
    EXPECT_EQ((*cache)->lengths[s], static_cast<int64_t>(kPrompts[s].size() + kSteps.size()));
  }

  for (int s = 0; s < sequences; ++s) {
    // The same sequence alone, decoded one token at a time.
    auto alone = model.NewCache(kCapacity, 1);
    ASSERT_TRUE(alone.ok());
    auto prompt_logits = backend.Allocate(static_cast<int64_t>(kPrompts[s].size()), vocab);
    auto step_logits = backend.Allocate(1, vocab);
    ASSERT_TRUE(prompt_logits.ok() && step_logits.ok());
    ASSERT_TRUE(model.Forward(kPrompts[s], **alone, 0, **prompt_logits).ok());
    std::vector<int32_t> all = kPrompts[s];
    for (size_t t = 0; t < kSteps.size(); ++t) {
      const int32_t token = kSteps[t][s];
      ASSERT_TRUE(model.DecodeStep(std::span(&token, 1), **alone, **step_logits).ok());
      EXPECT_TRUE(SameBits(Row(backend, **step_logits, 0), batched[t][s])) << "sequence " << s << " step " << t;
      all.push_back(token);
    }
    // And the last rows of one forward pass over the whole sequence.
    auto full = engine->Logits(all);
    ASSERT_TRUE(full.ok()) << full.status().ToString();
    for (size_t t = 0; t < kSteps.size(); ++t) {
      const size_t row = kPrompts[s].size() + t;
      const std::vector<float> expected(full->begin() + row * vocab, full->begin() + (row + 1) * vocab);
      EXPECT_TRUE(SameBits(expected, batched[t][s])) << "sequence " << s << " step " << t << " vs full forward";
    }
  }
}

TEST(DecodeStepTest, BadInputIsInvalidArgumentNamingTheProblem) {
  auto engine = OpenTiny();
  ASSERT_NE(engine, nullptr);
  Model& model = engine->model();
  Backend& backend = engine->backend();
  const int64_t vocab = engine->config().vocab_size;
  auto cache = model.NewCache(2, 2);
  auto logits = backend.Allocate(2, vocab);
  ASSERT_TRUE(cache.ok() && logits.ok());

  const auto expect_invalid = [](const Status& s, const std::string& fragment) {
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
  };
  const std::vector<int32_t> out_of_vocab = {1, static_cast<int32_t>(vocab)};
  expect_invalid(model.DecodeStep(out_of_vocab, **cache, **logits), "outside the vocabulary [0, 256)");
  const std::vector<int32_t> negative = {-1, 1};
  expect_invalid(model.DecodeStep(negative, **cache, **logits), "token id -1 is outside the vocabulary");
  const std::vector<int32_t> one = {1};
  expect_invalid(model.DecodeStep(one, **cache, **logits), "1 tokens for 2 sequences");
  expect_invalid(model.Forward(one, **cache, 2, **logits), "sequence 2 does not exist");
  // A rejected step changes nothing: both sequences are still empty.
  EXPECT_EQ((*cache)->lengths, (std::vector<int64_t>{0, 0}));

  const std::vector<int32_t> pair = {1, 2};
  ASSERT_TRUE(model.DecodeStep(pair, **cache, **logits).ok());
  ASSERT_TRUE(model.DecodeStep(pair, **cache, **logits).ok());
  expect_invalid(model.DecodeStep(pair, **cache, **logits), "sequence 0 is full (2 positions)");
  EXPECT_EQ(model.NewCache(0, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(model.NewCache(4, 0).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fp4lab
