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

// Programmatic dependent launch (PDL, compute capability 9.0+; both compile to nothing below sm_90, where a grid
// always starts after the previous work in its stream has completed). A grid launched with
// cudaLaunchAttributeProgrammaticStreamSerialization (LaunchKernel in engine/cuda/launch.h) may start while the
// kernel before it in the stream (its prerequisite) is still running: as soon as every block of that kernel has
// called LetDependentGridsLaunch() or exited, and before its writes are complete or visible. Such a grid must call
// WaitForPriorGrids() before its first access (read or write) to memory that the prerequisite may touch; anything
// it does before the wait may overlap the prerequisite. Stream capture (CUDA 12.3+) records the relation as a
// programmatic edge of the graph, with the same meaning.

// Blocks the calling thread until every prerequisite grid has completed and its memory operations are performed
// and visible to this grid (PTX griddepcontrol.wait; cudaGridDependencySynchronize). Returns at once when the grid
// was launched without the attribute. The "memory" clobber keeps the compiler from moving memory accesses across
// it; loads the compiler may treat as invariant (__ldg, ld.global.nc, const __restrict__ kernel parameters) must
// not be used for data a prerequisite writes: the PTX memory model does not cover them.
__device__ __forceinline__ void WaitForPriorGrids() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Lets the grids that depend on this one programmatically (the next kernel in the stream, when launched with the
// attribute) start once every block of this grid has called it or exited (PTX griddepcontrol.launch_dependents;
// cudaTriggerProgrammaticLaunchCompletion). A scheduling hint only: it makes none of this grid's writes visible
// (dependents still wait for this grid's completion in WaitForPriorGrids) and repeated calls in a block do nothing
// more. Without it a block counts as having called it when it exits.
__device__ __forceinline__ void LetDependentGridsLaunch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}

// Streaming loads of 16 or 8 bytes read once (weights): read-only path, no L1 allocation, so activations keep L1.
// volatile keeps the front end from merging or moving them; ptxas still schedules a load whose only use is in the next
// loop iteration at the end of the loop body (docs/perf/w4a16_gemv.md). Not for data a PDL prerequisite writes.
__device__ __forceinline__ uint4 LoadStreaming(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}
__device__ __forceinline__ uint2 LoadStreaming(const uint2* p) {
  uint2 v;
  asm volatile("ld.global.nc.L1::no_allocate.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
  return v;
}

// Sum over the warp's lanes, returned to every lane (float or double; butterfly order, the same on every lane).
template <typename T>
__device__ __forceinline__ T WarpSum(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, offset);
  return v;
}

// (best, best_index) becomes the warp's largest value and the lowest index holding it, in every lane (Index: int
// or int64_t).
template <typename Index>
__device__ __forceinline__ void WarpArgMax(float& best, Index& best_index) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float other = __shfl_xor_sync(0xFFFFFFFFu, best, offset);
    const Index other_index = __shfl_xor_sync(0xFFFFFFFFu, best_index, offset);
    if (other > best || (other == best && other_index < best_index)) {
      best = other;
      best_index = other_index;
    }
  }
}

// The same over the block, returned to every thread: warps by shuffles, then warp 0 over the warps' winners. `none`
// is the index a thread without a candidate holds (above every real index). REQUIRES blockDim.x a multiple of 32 (at
// most 1024), every thread of the block calling it, `max_s` and `index_s` kMaxWarps entries of shared memory.
template <typename Index>
__device__ __forceinline__ void BlockArgMax(float& best, Index& best_index, Index none, float* max_s, Index* index_s) {
  WarpArgMax(best, best_index);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  if (lane == 0) {
    max_s[warp] = best;
    index_s[warp] = best_index;
  }
  __syncthreads();
  if (warp == 0) {
    best = lane < warps ? max_s[lane] : -INFINITY;
    best_index = lane < warps ? index_s[lane] : none;
    WarpArgMax(best, best_index);
    if (lane == 0) {
      max_s[0] = best;
      index_s[0] = best_index;
    }
  }
  __syncthreads();
  best = max_s[0];
  best_index = index_s[0];
  __syncthreads();  // max_s and index_s may be reused right after
}

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, offset));
  return v;
}

// Sum of `v` over the block, returned to every thread (float or double). REQUIRES blockDim.x a multiple of 32 (at
// most 1024), every thread of the block calling it, and `scratch` holding kMaxWarps values of shared memory.
template <typename T>
__device__ __forceinline__ T BlockSum(T v, T* scratch) {
  v = WarpSum(v);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = WarpSum(lane < warps ? scratch[lane] : T{0});
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
