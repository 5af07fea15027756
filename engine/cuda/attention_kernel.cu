#include "engine/cuda/attention_kernel.h"

#include "engine/cuda/kernel_util.cuh"

namespace fp4lab::cuda {
namespace {

constexpr int kKeyTile = 128;  // keys per tile = threads per block (one key per thread when scoring)

// Block (i, h): shared memory holds q_i,h [D], the running output [D] and the tile's probabilities [kKeyTile].
__global__ void __launch_bounds__(kKeyTile) AttentionKernel(const float* q, const float* k_cache,
                                                            const float* v_cache, int64_t pos0, int heads,
                                                            int kv_heads, int head_dim, float scale, float* out) {
  extern __shared__ float shared[];
  float* q_s = shared;
  float* o_s = q_s + head_dim;
  float* p_s = o_s + head_dim;
  __shared__ float scratch[kMaxWarps];

  const int64_t i = blockIdx.x;
  const int h = blockIdx.y;
  const int64_t q_dim = static_cast<int64_t>(heads) * head_dim, kv_dim = static_cast<int64_t>(kv_heads) * head_dim;
  const int64_t kv_off = static_cast<int64_t>(h / (heads / kv_heads)) * head_dim;
  const int64_t n_keys = pos0 + i + 1;  // causal: keys 0 .. pos0 + i
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    q_s[d] = q[i * q_dim + static_cast<int64_t>(h) * head_dim + d];
    o_s[d] = 0.0f;
  }
  __syncthreads();

  float running_max = -INFINITY, running_sum = 0.0f;  // identical in every thread
  for (int64_t t0 = 0; t0 < n_keys; t0 += kKeyTile) {
    const int64_t t = t0 + threadIdx.x;
    float score = -INFINITY;
    if (t < n_keys) {
      const float* k = k_cache + t * kv_dim + kv_off;
      float dot = 0.0f;
      for (int d = 0; d < head_dim; ++d) dot += q_s[d] * k[d];
      score = dot * scale;
    }
    const float new_max = fmaxf(running_max, BlockMax(score, scratch));
    const float p = t < n_keys ? expf(score - new_max) : 0.0f;
    p_s[threadIdx.x] = p;
    const float correction = expf(running_max - new_max);  // 0 on the first tile (exp(-inf))
    running_sum = running_sum * correction + BlockSum(p, scratch);  // BlockSum's barrier also publishes p_s
    running_max = new_max;
    const int tile = static_cast<int>(n_keys - t0 < kKeyTile ? n_keys - t0 : kKeyTile);
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
      const float* v = v_cache + t0 * kv_dim + kv_off + d;
      float acc = o_s[d] * correction;
      for (int j = 0; j < tile; ++j) acc += p_s[j] * v[j * kv_dim];
      o_s[d] = acc;
    }
    __syncthreads();  // p_s is rewritten by the next tile
  }
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    out[i * q_dim + static_cast<int64_t>(h) * head_dim + d] = o_s[d] / running_sum;
  }
}

}  // namespace

cudaError_t LaunchAttention(const float* q, const float* k_cache, const float* v_cache, int64_t rows, int64_t pos0,
                            int heads, int kv_heads, int head_dim, float scale, float* out, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  if (head_dim > kMaxAttentionHeadDim || kv_heads <= 0 || heads % kv_heads != 0 || rows > kMaxGridX ||
      heads > 65535) {
    return cudaErrorInvalidValue;
  }
  const size_t shared_bytes = (2 * static_cast<size_t>(head_dim) + kKeyTile) * sizeof(float);
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(heads));
  AttentionKernel<<<grid, kKeyTile, shared_bytes, stream>>>(q, k_cache, v_cache, pos0, heads, kv_heads, head_dim,
                                                            scale, out);
  return cudaGetLastError();
}

}  // namespace fp4lab::cuda
