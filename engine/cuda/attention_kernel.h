// Causal GQA attention over the f32 KV cache, for prefill (rows > 1) and decode (rows == 1) alike.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

// out[i, h*D:(h+1)*D] = sum_t softmax_t(scale * q_i,h . k_t) v_t over cache rows t = 0 .. pos0 + i, for queries
// q[rows, heads * D] at positions pos0 .. pos0 + rows - 1 and caches [capacity, kv_heads * D]; query head h reads
// kv head h / (heads / kv_heads). One block per (query, head) streams the keys in tiles with an online softmax
// (running max and sum, rescaled per tile), so its f32 result differs from the CPU's two-pass softmax by rounding
// only: the dot products' summation order, expf (2 ulp) and the per-tile rescaling.
// REQUIRES heads % kv_heads == 0, head_dim <= kMaxAttentionHeadDim.
inline constexpr int kMaxAttentionHeadDim = 1024;
cudaError_t LaunchAttention(const float* q, const float* k_cache, const float* v_cache, int64_t rows, int64_t pos0,
                            int heads, int kv_heads, int head_dim, float scale, float* out, cudaStream_t stream);

}  // namespace fp4lab::cuda
