#include "engine/cuda/pdl_probe.h"

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/launch.h"

namespace fp4lab::cuda {
namespace {

constexpr int kCopyThreads = 256;

// Nanoseconds of the GPU's global timer.
__device__ __forceinline__ uint64_t GlobalTimerNs() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// One block: successors may launch at once; thread 0 sleeps out the delay while the others wait at the barrier,
// then the block copies.
__global__ void __launch_bounds__(kCopyThreads)
    DelayedCopyKernel(const float* __restrict__ src, float* __restrict__ dst, int64_t count, uint64_t delay_ns) {
  LetDependentGridsLaunch();
  if (threadIdx.x == 0) {
    const uint64_t start = GlobalTimerNs();
    while (GlobalTimerNs() - start < delay_ns) __nanosleep(1000);
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) dst[i] = src[i];
}

__global__ void OverlapProbeKernel(const float* value, float* seen) {
  const volatile float* v = value;
  const float before = *v;  // deliberately before the wait: what an early reader would see
  WaitForPriorGrids();
  seen[0] = before;
  seen[1] = *v;
}

}  // namespace

cudaError_t LaunchDelayedCopy(const float* src, float* dst, int64_t count, int64_t delay_ns, cudaStream_t stream) {
  if (count < 0 || delay_ns < 0) return cudaErrorInvalidValue;
  DelayedCopyKernel<<<1, kCopyThreads, 0, stream>>>(src, dst, count, static_cast<uint64_t>(delay_ns));
  return cudaGetLastError();
}

cudaError_t LaunchOverlapProbe(const float* value, float* seen, cudaStream_t stream) {
  return LaunchKernel(OverlapProbeKernel, dim3(1), dim3(1), 0, stream, /*programmatic=*/true, value, seen);
}

}  // namespace fp4lab::cuda
