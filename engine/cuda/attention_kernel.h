// Causal GQA attention over the f32 KV cache, for prefill and decode alike: runs a plan (attention_plan.h) with the
// tiled prefill kernel (attention_kernel.cu) or the split-K decode kernel (decode_attention_kernel.h).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/cuda/attention_plan.h"

namespace fp4lab::cuda {

// How a query scores its keys (engine/backend.h AttentionParams): s = scale * q.k, soft-capped to
// softcap * tanh(s / softcap) when softcap > 0; a sliding window > 0 keeps only the last `window` positions.
struct ScoreRule {
  float scale = 1.0f;
  int window = 0;
  float softcap = 0.0f;
  // Non-causal passes (AttentionParams::causal false, one sequence): the device address of positions[rows - 1], the
  // position every query of the pass attends up to; null for causal attention.
  const int32_t* last_position = nullptr;
};

// out[i, h*D:(h+1)*D] = sum_t softmax_t(score(q_i,h . k_t)) v_t over the cache rows t = first_i .. cache_rows[i]
// with first_i = cache_rows[i] - n_i + 1, n_i = positions[i] + 1 keys (query i's sequence up to itself;
// engine/backend.h RowPlacement), or min(n_i, window) with a sliding window, plus (rule.last_position, non-causal)
// the rows after cache_rows[i] up to the pass's last position; score per `rule`; for
// queries q[rows, heads * D] and caches [cache rows, kv_heads * D]; positions and cache_rows are device int32
// [rows]. Query head h reads kv head h / (heads / kv_heads). Keys are streamed with an online softmax (running max
// and sum, rescaled as the max grows), so the f32 result differs from the CPU's two-pass softmax by rounding only:
// the dot products' summation order, expf (2 ulp) and the rescalings (prefill: once per later tile of 32 keys;
// decode: decode_attention_kernel.h).
// Prefill (plan.prefill: one sequence at consecutive positions, at least kPrefillRows rows, head_dim 64 or 128):
// blocks of 16 queries share 32-key tiles staged in shared memory. Otherwise the split-K decode kernel.
// REQUIRES plan == PlanAttention(shape, sm_count) (any sm_count), scratch of plan.scratch_bytes, heads % kv_heads
// == 0, 1 <= head_dim <= kMaxAttentionHeadDim, shape.max_keys >= every positions[i] + 1, every row range inside
// the caches, out aliasing neither q nor the caches. Asynchronous on `stream`; allocates nothing, so it can be
// captured in a CUDA graph (the positions are read when the kernels run).
cudaError_t LaunchAttention(const AttentionShape& shape, const AttentionPlan& plan, const float* q,
                            const float* k_cache, const float* v_cache, const int32_t* positions,
                            const int32_t* cache_rows, ScoreRule rule, void* scratch, float* out,
                            cudaStream_t stream);

}  // namespace fp4lab::cuda
