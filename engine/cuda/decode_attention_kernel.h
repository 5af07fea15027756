// Split-K ("flash-decoding") causal GQA attention over the f32 KV cache: decode, batched decode, and every other
// call that the tiled prefill kernel does not take (attention_plan.h). Same contract as LaunchAttention
// (attention_kernel.h).
//
// Block (query i, split s, kv head g / head block) runs the keys of chunk s of query i (DecodeChunkKeys; blocks whose
// chunk lies past the query's keys exit at once) for up to DecodeMaxHeads query heads of kv head g, so K and V rows
// are read once per head block, coalesced: a stream of `lanes` threads reads a whole row, float4 per lane where
// head_dim % 4 == 0. Each stream keeps an online softmax per head (running max, running sum, unnormalized output
// in registers, rescaled when the max grows); the block merges its streams through shared memory. With one split
// the block writes out = output / sum; otherwise it writes its partial (output, max, sum) to scratch and a second
// kernel merges the query's non-empty chunks per (query, head) with the log-sum-exp rescaling
// out = sum_s exp(m_s - M) o_s / sum_s exp(m_s - M) l_s, M = max_s m_s.
//
// Numerics, f32 throughout: every key's weight is exp(s_t - m) evaluated as a chain expf(s_t - m_1) expf(m_1 - m_2)
// ... expf(m_k - M) of non-positive rounded differences that telescope to s_t - M, so the exponent errors add up to
// at most u |s_t - M|; a key's contribution is rescaled at most once per later step of its stream, once when the
// streams merge and once when the chunks merge (at most ceil(n / 4) + 1 times: steps cover >= 4 keys).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/cuda/attention_kernel.h"
#include "engine/cuda/attention_plan.h"

namespace fp4lab::cuda {

// REQUIRES plan == PlanAttention(shape, *) with !plan.prefill; scratch holds plan.scratch_bytes (any pointer when
// 0); q, caches and out 16-byte aligned when plan.tier.vec == 4 (cudaErrorInvalidValue otherwise); every query's
// key range inside the caches. Asynchronous on `stream`; allocates nothing, so it can be captured in a CUDA graph.
cudaError_t LaunchDecodeAttention(const AttentionShape& shape, const AttentionPlan& plan, const float* q,
                                  const float* k_cache, const float* v_cache, const int32_t* positions,
                                  const int32_t* cache_rows, ScoreRule rule, void* scratch, float* out,
                                  cudaStream_t stream);

}  // namespace fp4lab::cuda
