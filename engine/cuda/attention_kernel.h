// Causal GQA attention over the f32 KV cache, for prefill (rows > 1) and decode (rows == 1) alike.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

// out[i, h*D:(h+1)*D] = sum_t softmax_t(scale * q_i,h . k_t) v_t over the cache rows t = first_i .. cache_rows[i]
// with first_i = cache_rows[i] - positions[i] (query i's sequence up to itself; engine/backend.h RowPlacement), for
// queries q[rows, heads * D] and caches [cache rows, kv_heads * D]; positions and cache_rows are device int32
// [rows]. Query head h reads kv head h / (heads / kv_heads). Keys are streamed in tiles with an online softmax
// (running max and sum, rescaled per tile), so the f32 result differs from the CPU's two-pass softmax by rounding
// only: the dot products' summation order, expf (2 ulp) and the per-tile rescaling (tiles of at most 128 keys).
// Two kernels: with one_sequence (every row of one sequence at consecutive positions: prefill), at least 16 rows
// and head_dim 64 or 128, blocks of 16 queries share 32-key tiles staged in shared memory; otherwise one block per
// (query, head) (decode, batched decode).
// REQUIRES heads % kv_heads == 0, head_dim <= kMaxAttentionHeadDim, every row range inside the cache.
inline constexpr int kMaxAttentionHeadDim = 1024;
cudaError_t LaunchAttention(const float* q, const float* k_cache, const float* v_cache, int64_t rows,
                            const int32_t* positions, const int32_t* cache_rows, bool one_sequence, int heads,
                            int kv_heads, int head_dim, float scale, float* out, cudaStream_t stream);

}  // namespace fp4lab::cuda
