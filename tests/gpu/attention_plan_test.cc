// How the CUDA backend divides an Attention call among kernels and blocks (engine/cuda/attention_plan.h). Host code
// only, so it runs wherever the CUDA backend is built, GPU or not: the plan must cover every query's keys within
// kMaxDecodeSplits chunks, fill the device at decode, and give each block at most the heads its tier holds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#ifdef FP4LAB_WITH_CUDA
#include "engine/cuda/attention_plan.h"
#endif

namespace fp4lab {
namespace {

#ifdef FP4LAB_WITH_CUDA
using cuda::AttentionPlan;
using cuda::AttentionShape;

constexpr int kH100Sms = 132;

// The chunk formula covers keys 0 .. n - 1 with at most plan.splits non-empty chunks, for every n up to max_keys.
void ExpectChunksCover(const AttentionPlan& plan, int64_t max_keys) {
  const int step = cuda::DecodeStepKeys(plan.tier);
  for (int64_t n = 1; n <= max_keys; n += std::max<int64_t>(1, max_keys / 97)) {
    const int64_t chunk = cuda::DecodeChunkKeys(n, plan.splits, step);
    ASSERT_GT(chunk, 0) << "n " << n;
    EXPECT_EQ(chunk % step, 0) << "n " << n;
    EXPECT_LE((n + chunk - 1) / chunk, plan.splits) << "n " << n << ": more non-empty chunks than splits";
    EXPECT_GE(chunk * plan.splits, n) << "n " << n << ": keys past the last chunk";
  }
}
#endif

TEST(AttentionPlanTest, PrefillOfOneSequenceTakesTheTiledKernel) {
#ifndef FP4LAB_WITH_CUDA
  GTEST_SKIP() << "this build has no CUDA backend (configure with -DFP4LAB_CUDA=ON)";
#else
  EXPECT_TRUE(cuda::PlanAttention({128, 32, 8, 128, 4096, true}, kH100Sms).prefill);
  EXPECT_TRUE(cuda::PlanAttention({16, 32, 8, 64, 4096, true}, kH100Sms).prefill);
  // Fewer rows than one tile, rows of several sequences, or a head size the tiled kernel has no instance for.
  EXPECT_FALSE(cuda::PlanAttention({15, 32, 8, 128, 4096, true}, kH100Sms).prefill);
  EXPECT_FALSE(cuda::PlanAttention({128, 32, 8, 128, 4096, false}, kH100Sms).prefill);
  EXPECT_FALSE(cuda::PlanAttention({128, 32, 8, 80, 4096, true}, kH100Sms).prefill);
#endif
}

TEST(AttentionPlanTest, DecodeSplitsKeysToFillTheDeviceAndCoversEveryKey) {
#ifndef FP4LAB_WITH_CUDA
  GTEST_SKIP() << "this build has no CUDA backend (configure with -DFP4LAB_CUDA=ON)";
#else
  const AttentionShape shapes[] = {
      {1, 32, 8, 128, 192, false},       // llama-3.1-8b, batch 1, short context
      {1, 32, 8, 128, 4096, false},      // long context: at most kMaxDecodeSplits
      {8, 32, 8, 128, 8 * 4096, false},  // batch 8
      {32, 32, 8, 128, 32 * 192, false},
      {1, 12, 4, 64, 1000, false},       // a GQA group of 3
      {1, 8, 1, 256, 3000, false},       // a group of 8 that one block cannot hold at head_dim 256
      {2, 6, 6, 80, 777, false},         // no GQA, head_dim 80
      {1, 4, 2, 6, 50, false},           // scalar rows (head_dim % 4 != 0)
      {1, 2, 1, 1024, 300, false},       // the largest head_dim
  };
  for (const AttentionShape& s : shapes) {
    SCOPED_TRACE("rows " + std::to_string(s.rows) + ", heads " + std::to_string(s.heads) + "/" +
                 std::to_string(s.kv_heads) + ", head_dim " + std::to_string(s.head_dim) + ", keys " +
                 std::to_string(s.max_keys));
    const AttentionPlan plan = cuda::PlanAttention(s, kH100Sms);
    ASSERT_FALSE(plan.prefill);
    // The tier holds a whole row, and a block at most the heads its registers hold.
    EXPECT_GE(plan.tier.lanes * plan.tier.chunks * plan.tier.vec, s.head_dim);
    EXPECT_LE(plan.heads_per_block, cuda::DecodeMaxHeads(plan.tier));
    EXPECT_GE(plan.heads_per_block * plan.head_blocks, s.heads / s.kv_heads);
    EXPECT_LT((plan.head_blocks - 1) * plan.heads_per_block, s.heads / s.kv_heads) << "an empty head block";
    // Splits: within bounds, never more than the keys can use, and enough blocks for the device when keys allow.
    const int step = cuda::DecodeStepKeys(plan.tier);
    const int64_t useful = (s.max_keys + step - 1) / step;
    EXPECT_GE(plan.splits, 1);
    EXPECT_LE(plan.splits, cuda::kMaxDecodeSplits);
    EXPECT_LE(plan.splits, useful);
    const int64_t blocks = s.rows * s.kv_heads * plan.head_blocks * plan.splits;
    if (plan.splits < std::min<int64_t>(useful, cuda::kMaxDecodeSplits)) {
      EXPECT_GE(blocks, int64_t{cuda::kDecodeBlocksPerSm} * kH100Sms) << "fewer blocks than the device holds";
    }
    // Scratch for the partials exactly when there is a combine pass.
    const int64_t scratch = s.rows * s.heads * plan.splits * (int64_t{s.head_dim} + 2) * 4;
    EXPECT_EQ(plan.scratch_bytes, plan.splits > 1 ? scratch : 0);
    ExpectChunksCover(plan, s.max_keys);
  }
#endif
}

}  // namespace
}  // namespace fp4lab
