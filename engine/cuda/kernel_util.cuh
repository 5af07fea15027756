// Launch-shape helpers and block reductions shared by the kernels of engine/cuda/.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

inline constexpr int kThreads = 256;           // threads per block of the elementwise kernels
inline constexpr int kMaxWarps = 32;           // 1024 threads / 32
inline constexpr int64_t kMaxGridX = 2147483647;
inline constexpr int64_t kMaxBlocks = 65536;   // grid-stride loops cover the rest

// Blocks for a grid-stride loop over `count` elements.
inline unsigned GridFor(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

__device__ __forceinline__ int64_t GlobalThread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t GlobalStride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, offset);
  return v;
}

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, offset));
  return v;
}

// Sum of `v` over the block, returned to every thread. REQUIRES blockDim.x a multiple of 32 (at most 1024), every
// thread of the block calling it, and `scratch` holding kMaxWarps floats of shared memory.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  v = WarpSum(v);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = WarpSum(lane < warps ? scratch[lane] : 0.0f);
  __syncthreads();  // scratch may be reused right after
  return v;
}

// Max of `v` over the block, returned to every thread (same requirements as BlockSum).
__device__ __forceinline__ float BlockMax(float v, float* scratch) {
  v = WarpMax(v);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = WarpMax(lane < warps ? scratch[lane] : -INFINITY);
  __syncthreads();
  return v;
}

}  // namespace fp4lab::cuda
