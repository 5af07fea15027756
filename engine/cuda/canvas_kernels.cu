#include "engine/cuda/canvas_kernels.h"

#include <cuda_bf16.h>

#include <climits>
#include <cmath>

#include "engine/cuda/kernel_util.cuh"

namespace fp4lab::cuda {
namespace {

constexpr int kMaxRowThreads = 1024;

// Threads per row: a whole block of 1024 for a real vocabulary (262,144: 256 ids per thread), 256 for small ones.
int RowThreads(int64_t vocab) { return vocab >= 32768 ? kMaxRowThreads : kThreads; }

// The sum of `v` over this lane and the lanes before it (a warp's inclusive scan). REQUIRES the whole warp.
__device__ __forceinline__ double WarpInclusiveSum(double v) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int offset = 1; offset < 32; offset <<= 1) {
    const double before = __shfl_up_sync(0xFFFFFFFFu, v, offset);
    if (lane >= offset) v += before;
  }
  return v;
}

// The sum of `v` over the threads before this one (thread order), 0 for thread 0. REQUIRES blockDim.x a multiple of
// 32, every thread of the block calling it, `scratch` kMaxWarps doubles of shared memory.
__device__ double BlockExclusiveSum(double v, double* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  const double inclusive = WarpInclusiveSum(v);
  double exclusive = __shfl_up_sync(0xFFFFFFFFu, inclusive, 1);
  if (lane == 0) exclusive = 0.0;
  if (lane == 31) scratch[warp] = inclusive;  // the warp's total
  __syncthreads();
  if (warp == 0) {
    const double total = WarpInclusiveSum(lane < warps ? scratch[lane] : 0.0);
    double before_warp = __shfl_up_sync(0xFFFFFFFFu, total, 1);
    if (lane == 0) before_warp = 0.0;
    __syncwarp();
    if (lane < warps) scratch[lane] = before_warp;  // the warps' exclusive prefix
  }
  __syncthreads();
  const double result = scratch[warp] + exclusive;
  __syncthreads();
  return result;
}

// Min (kMin) or max of an int over the block, returned to every thread (same requirements; `scratch` kMaxWarps ints).
template <bool kMin>
__device__ int BlockExtremeInt(int v, int* scratch) {
  auto pick = [](int a, int b) { return kMin ? min(a, b) : max(a, b); };
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = pick(v, __shfl_xor_sync(0xFFFFFFFFu, v, offset));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : (kMin ? INT_MAX : INT_MIN);
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = pick(v, __shfl_xor_sync(0xFFFFFFFFu, v, offset));
  __syncthreads();
  return v;
}

// ProcessCanvasRow (engine/diffusion/canvas_row.cc) on row blockIdx.x, its three passes:
//   1. scale in place and find the maximum with its first index (strided over the threads; NaN never wins);
//   2. Z and W over contiguous chunks, one per thread, in double, skipping zero weights;
//   3. each thread walks its chunk from the weight before it (an exclusive scan of the chunk sums) to the first
//      cumulative weight above uniform * Z; the lowest such id over the block is the draw, else the last id of
//      nonzero weight (the CPU's rule when rounding leaves the target above the total).
__global__ void __launch_bounds__(kMaxRowThreads)
    ProcessCanvasRowsKernel(float* logits, int64_t vocab, float temperature, const double* uniforms,
                            CanvasRowResult* out) {
  __shared__ float max_s[kMaxWarps];
  __shared__ int index_s[kMaxWarps];
  __shared__ double sum_s[kMaxWarps];
  float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  float best = -INFINITY;
  int best_index = INT_MAX;  // no value above -inf
  bool has_nan = false;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) {
    const float x = row[v] / temperature;
    row[v] = x;
    if (isnan(x)) has_nan = true;
    if (x > best) {  // strictly greater: a thread keeps its first maximum
      best = x;
      best_index = static_cast<int>(v);
    }
  }
  has_nan = __syncthreads_or(has_nan);  // also orders pass 1's writes before pass 2's reads
  BlockArgMax(best, best_index, INT_MAX, max_s, index_s);
  const float row_max = best;
  const int argmax = best_index == INT_MAX ? 0 : best_index;
  if (has_nan || !isfinite(row_max)) {  // the same for every thread of the block
    if (threadIdx.x == 0) out[blockIdx.x] = {argmax, argmax, NAN};
    return;
  }

  const int64_t chunk = (vocab + blockDim.x - 1) / blockDim.x;
  const int64_t begin = min(vocab, static_cast<int64_t>(threadIdx.x) * chunk), end = min(vocab, begin + chunk);
  double total = 0.0, weighted = 0.0;
  int last_nonzero = -1;
  for (int64_t i = begin; i < end; ++i) {
    const double shifted = static_cast<double>(row[i]) - row_max;
    const double weight = exp(shifted);
    if (weight == 0.0) continue;
    total += weight;
    weighted += weight * shifted;
    last_nonzero = static_cast<int>(i);
  }
  const double before = BlockExclusiveSum(total, sum_s);
  const double z = BlockSum(total, sum_s);
  const double w = BlockSum(weighted, sum_s);
  last_nonzero = BlockExtremeInt<false>(last_nonzero, index_s);

  const double target = uniforms[blockIdx.x] * z;
  int crossing = INT_MAX;
  double cumulative = before;
  for (int64_t i = begin; i < end; ++i) {
    const double weight = exp(static_cast<double>(row[i]) - row_max);
    if (weight == 0.0) continue;
    cumulative += weight;
    if (cumulative > target) {
      crossing = static_cast<int>(i);
      break;
    }
  }
  crossing = BlockExtremeInt<true>(crossing, index_s);
  if (threadIdx.x == 0) {
    out[blockIdx.x] = {crossing != INT_MAX ? crossing : last_nonzero, argmax, fmax(0.0, log(z) - w / z)};
  }
}

// SelfConditioningSoftmaxRow (engine/diffusion/self_conditioning_probs.cc) on row blockIdx.x. Every read of the row
// happens before the block's last reduction and each element is written by the thread that reads it after that, so
// `probs` may alias `logits`.
__global__ void __launch_bounds__(kMaxRowThreads)
    SelfConditioningSoftmaxKernel(const float* logits, int64_t vocab, bool round_to_bf16, float* probs) {
  __shared__ float max_s[kMaxWarps];
  __shared__ double sum_s[kMaxWarps];
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  float* out = probs + static_cast<int64_t>(blockIdx.x) * vocab;
  auto value = [&](int64_t v) {
    const float x = row[v];
    return round_to_bf16 ? __bfloat162float(__float2bfloat16_rn(x)) : x;
  };
  float top = -INFINITY;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) top = fmaxf(top, value(v));
  top = BlockMax(top, max_s);
  double sum = 0.0;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) sum += exp(static_cast<double>(value(v)) - top);
  sum = BlockSum(sum, sum_s);
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) {
    out[v] = static_cast<float>(exp(static_cast<double>(value(v)) - top) / sum);
  }
}

}  // namespace

cudaError_t LaunchProcessCanvasRows(float* logits, int64_t rows, int64_t vocab, float temperature,
                                    const double* uniforms, CanvasRowResult* out, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  if (rows > kMaxGridX || vocab < 1 || vocab >= INT_MAX || !(temperature > 0.0f)) return cudaErrorInvalidValue;
  ProcessCanvasRowsKernel<<<static_cast<unsigned>(rows), RowThreads(vocab), 0, stream>>>(logits, vocab, temperature,
                                                                                         uniforms, out);
  return cudaGetLastError();
}

cudaError_t LaunchSelfConditioningSoftmax(const float* logits, int64_t rows, int64_t vocab, bool round_to_bf16,
                                          float* probs, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  if (rows > kMaxGridX || vocab < 1) return cudaErrorInvalidValue;
  SelfConditioningSoftmaxKernel<<<static_cast<unsigned>(rows), RowThreads(vocab), 0, stream>>>(logits, vocab,
                                                                                               round_to_bf16, probs);
  return cudaGetLastError();
}

}  // namespace fp4lab::cuda
