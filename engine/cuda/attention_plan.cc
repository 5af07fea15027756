#include "engine/cuda/attention_plan.h"

#include <algorithm>

namespace fp4lab::cuda {
namespace {

// The fewest lanes (8, 16, 32) and vectors per lane (powers of two) that cover head_dim: float4 rows when
// head_dim % 4 == 0, scalar rows otherwise (32 lanes, 1, 8 or 32 floats each). decode_attention_kernel.cu
// instantiates exactly these tiers.
DecodeTier TierFor(int head_dim) {
  if (head_dim % 4 != 0) return DecodeTier{1, 32, head_dim <= 32 ? 1 : (head_dim <= 256 ? 8 : 32)};
  const int vectors = head_dim / 4;
  if (vectors <= 8) return DecodeTier{4, 8, 1};
  if (vectors <= 16) return DecodeTier{4, 16, 1};
  if (vectors <= 32) return DecodeTier{4, 16, 2};
  if (vectors <= 64) return DecodeTier{4, 32, 2};
  if (vectors <= 128) return DecodeTier{4, 32, 4};
  return DecodeTier{4, 32, 8};
}

}  // namespace

AttentionPlan PlanAttention(const AttentionShape& shape, int sm_count) {
  AttentionPlan plan;
  if (shape.one_sequence && shape.rows >= kPrefillRows && (shape.head_dim == 64 || shape.head_dim == 128)) {
    plan.prefill = true;
    return plan;
  }
  plan.tier = TierFor(shape.head_dim);
  const int group = shape.heads / shape.kv_heads;
  plan.head_blocks = (group + DecodeMaxHeads(plan.tier) - 1) / DecodeMaxHeads(plan.tier);
  plan.heads_per_block = (group + plan.head_blocks - 1) / plan.head_blocks;
  const int64_t blocks_per_split = shape.rows * shape.kv_heads * plan.head_blocks;
  const int64_t target = int64_t{kDecodeBlocksPerSm} * std::max(sm_count, 1);
  const int64_t wanted = (target + blocks_per_split - 1) / blocks_per_split;
  const int step = DecodeStepKeys(plan.tier);
  const int64_t useful = (std::max<int64_t>(shape.max_keys, 1) + step - 1) / step;
  plan.splits = static_cast<int>(std::clamp<int64_t>(std::min<int64_t>(wanted, useful), 1, kMaxDecodeSplits));
  if (plan.splits > 1) {
    plan.scratch_bytes = shape.rows * shape.heads * plan.splits * (int64_t{shape.head_dim} + 2) * 4;
  }
  return plan;
}

}  // namespace fp4lab::cuda
