#include "engine/cuda/attention_kernel.h"

#include "engine/cuda/attention_scores.cuh"
#include "engine/cuda/decode_attention_kernel.h"
#include "engine/cuda/kernel_util.cuh"

namespace fp4lab::cuda {
namespace {

// Prefill: block (tile, h) runs the kPrefillRows queries tile * kPrefillRows .. of one sequence (consecutive
// positions, so they share the first cache row and their key ranges grow by one per row) against key tiles of
// kPrefillKeys keys staged in shared memory once for all of them. Thread t works on query row t / 8; its 8 threads
// split each key tile (keys t % 8 + 8 j) for the scores and the head dimension (d = t % 8 + 8 j) for the output, so
// a row's max and sum meet through 3 shuffles. Online softmax over key tiles of kPrefillKeys: running max and sum per
// query, the output rescaled when the max grows.
constexpr int kPrefillKeys = 32;
constexpr int kPrefillThreads = kPrefillRows * 8;  // 128
constexpr int kKeysPerThread = kPrefillKeys / 8;   // 4

// Shared floats of the prefill kernel: q [rows][D + 1], k and v [keys][D + 1] (the +1 staggers the banks), p [rows]
// [keys + 1].
size_t PrefillSharedBytes(int head_dim) {
  return sizeof(float) * (static_cast<size_t>(kPrefillRows + 2 * kPrefillKeys) * (head_dim + 1) +
                          kPrefillRows * (kPrefillKeys + 1));
}

__device__ __forceinline__ float GroupMax(float v) {  // over the 8 lanes of a query row
  v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, 1));
  v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, 2));
  return fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, 4));
}
__device__ __forceinline__ float GroupSum(float v) {
  v += __shfl_xor_sync(0xFFFFFFFFu, v, 1);
  v += __shfl_xor_sync(0xFFFFFFFFu, v, 2);
  return v + __shfl_xor_sync(0xFFFFFFFFu, v, 4);
}

template <int kHeadDim>
__global__ void __launch_bounds__(kPrefillThreads) PrefillAttentionKernel(
    const float* q, const float* k_cache, const float* v_cache, int64_t rows, const int32_t* positions,
    const int32_t* cache_rows, int heads, int kv_heads, ScoreRule rule, float* out) {
  constexpr int kStride = kHeadDim + 1;
  constexpr int kDimsPerThread = kHeadDim / 8;
  extern __shared__ float shared[];
  float* q_s = shared;                              // [kPrefillRows][kStride]
  float* k_s = q_s + kPrefillRows * kStride;        // [kPrefillKeys][kStride]
  float* v_s = k_s + kPrefillKeys * kStride;        // [kPrefillKeys][kStride]
  float* p_s = v_s + kPrefillKeys * kStride;        // [kPrefillRows][kPrefillKeys + 1]

  const int h = blockIdx.y;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kPrefillRows;
  const int64_t q_dim = static_cast<int64_t>(heads) * kHeadDim, kv_dim = static_cast<int64_t>(kv_heads) * kHeadDim;
  const int64_t kv_off = static_cast<int64_t>(h / (heads / kv_heads)) * kHeadDim;
  const int64_t first = static_cast<int64_t>(cache_rows[0]) - positions[0];  // the sequence's first cache row
  const int r = threadIdx.x / 8, sub = threadIdx.x % 8;
  // Rows past the end repeat the last row (never written), so every row has a finite max.
  const int64_t my_row = row0 + r < rows ? row0 + r : rows - 1;
  // Its keys: my_first .. my_last, relative to `first` (non-causal: through the pass's last position).
  const int64_t my_position = positions[my_row];
  const int64_t my_last = my_position + KeysAhead(rule, my_position);
  const int64_t my_first = my_position + 1 - AttendedKeys(rule, my_position);
  const int64_t block_end_position = positions[row0 + kPrefillRows - 1 < rows ? row0 + kPrefillRows - 1 : rows - 1];
  const int64_t block_last = block_end_position + KeysAhead(rule, block_end_position);
  const int64_t block_first = positions[row0] + 1 - AttendedKeys(rule, positions[row0]);  // the smallest my_first

  for (int e = threadIdx.x; e < kPrefillRows * kHeadDim; e += kPrefillThreads) {
    const int rr = e / kHeadDim, d = e % kHeadDim;
    const int64_t src_row = row0 + rr < rows ? row0 + rr : rows - 1;
    q_s[rr * kStride + d] = q[src_row * q_dim + static_cast<int64_t>(h) * kHeadDim + d];
  }
  float o[kDimsPerThread];
#pragma unroll
  for (int j = 0; j < kDimsPerThread; ++j) o[j] = 0.0f;
  float running_max = -INFINITY, running_sum = 0.0f;  // identical in the 8 threads of a row

  for (int64_t t0 = block_first; t0 <= block_last; t0 += kPrefillKeys) {
    __syncthreads();  // the previous tile's k_s / v_s / p_s reads are done (and q_s is written, first time)
    for (int e = threadIdx.x; e < kPrefillKeys * kHeadDim; e += kPrefillThreads) {
      const int c = e / kHeadDim, d = e % kHeadDim;
      const bool live = t0 + c <= block_last;
      const int64_t src = (first + t0 + c) * kv_dim + kv_off + d;
      k_s[c * kStride + d] = live ? k_cache[src] : 0.0f;
      v_s[c * kStride + d] = live ? v_cache[src] : 0.0f;
    }
    __syncthreads();
    float score[kKeysPerThread];
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) score[j] = 0.0f;
#pragma unroll 8
    for (int d = 0; d < kHeadDim; ++d) {
      const float qd = q_s[r * kStride + d];
#pragma unroll
      for (int j = 0; j < kKeysPerThread; ++j) score[j] = fmaf(qd, k_s[(sub + 8 * j) * kStride + d], score[j]);
    }
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) {
      const int64_t key = t0 + sub + 8 * j;
      const bool valid = key <= my_last && key >= my_first;  // causal (or through the pass), within the window
      score[j] = valid ? AttentionScore(rule, score[j]) : -INFINITY;
      tile_max = fmaxf(tile_max, score[j]);
    }
    // -inf while a row has seen none of its keys yet (a sliding window starts past this tile): then every p is 0
    // and the correction below is 0 on a zero running sum, so the row stays empty.
    const float new_max = fmaxf(running_max, GroupMax(tile_max));
    const float safe_max = new_max == -INFINITY ? 0.0f : new_max;
    float p_sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) {
      const float p = score[j] == -INFINITY ? 0.0f : expf(score[j] - safe_max);
      p_s[r * (kPrefillKeys + 1) + sub + 8 * j] = p;
      p_sum += p;
    }
    const float correction = expf(running_max - safe_max);  // 0 until the row's first key (exp(-inf))
    running_sum = running_sum * correction + GroupSum(p_sum);
    running_max = new_max;
#pragma unroll
    for (int j = 0; j < kDimsPerThread; ++j) o[j] *= correction;
    __syncthreads();  // p_s of every row is visible
    const int tile = static_cast<int>(block_last - t0 + 1 < kPrefillKeys ? block_last - t0 + 1 : kPrefillKeys);
    for (int c = 0; c < tile; ++c) {
      const float p = p_s[r * (kPrefillKeys + 1) + c];
#pragma unroll
      for (int j = 0; j < kDimsPerThread; ++j) o[j] = fmaf(p, v_s[c * kStride + sub + 8 * j], o[j]);
    }
  }
  if (row0 + r < rows) {
#pragma unroll
    for (int j = 0; j < kDimsPerThread; ++j) {
      out[(row0 + r) * q_dim + static_cast<int64_t>(h) * kHeadDim + sub + 8 * j] = o[j] / running_sum;
    }
  }
}

template <int kHeadDim>
cudaError_t LaunchPrefill(const float* q, const float* k_cache, const float* v_cache, int64_t rows,
                          const int32_t* positions, const int32_t* cache_rows, int heads, int kv_heads,
                          ScoreRule rule, float* out, cudaStream_t stream) {
  const size_t shared_bytes = PrefillSharedBytes(kHeadDim);  // 43 KB at head_dim 128: under the 48 KB default
  const int64_t tiles = (rows + kPrefillRows - 1) / kPrefillRows;
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(heads));
  PrefillAttentionKernel<kHeadDim><<<grid, kPrefillThreads, shared_bytes, stream>>>(
      q, k_cache, v_cache, rows, positions, cache_rows, heads, kv_heads, rule, out);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchAttention(const AttentionShape& shape, const AttentionPlan& plan, const float* q,
                            const float* k_cache, const float* v_cache, const int32_t* positions,
                            const int32_t* cache_rows, ScoreRule rule, void* scratch, float* out,
                            cudaStream_t stream) {
  if (shape.rows == 0) return cudaSuccess;
  if (shape.head_dim < 1 || shape.head_dim > kMaxAttentionHeadDim || shape.kv_heads <= 0 ||
      shape.heads % shape.kv_heads != 0 || shape.rows > kMaxGridX || shape.heads > 65535) {
    return cudaErrorInvalidValue;
  }
  if (!plan.prefill) {
    return LaunchDecodeAttention(shape, plan, q, k_cache, v_cache, positions, cache_rows, rule, scratch, out,
                                 stream);
  }
  if (shape.head_dim == 64) {
    return LaunchPrefill<64>(q, k_cache, v_cache, shape.rows, positions, cache_rows, shape.heads, shape.kv_heads,
                             rule, out, stream);
  }
  if (shape.head_dim == 128) {
    return LaunchPrefill<128>(q, k_cache, v_cache, shape.rows, positions, cache_rows, shape.heads, shape.kv_heads,
                              rule, out, stream);
  }
  return cudaErrorInvalidValue;  // not a plan of PlanAttention
}

}  // namespace fp4lab::cuda
