// Kernel launches through cudaLaunchKernelEx, for launches that need launch attributes: today programmatic
// dependent launch (PDL; the device side is WaitForPriorGrids / LetDependentGridsLaunch in kernel_util.cuh); and the
// cached occupancy query the GEMVs size their grids with.
// Host code; include it from the .cu file that defines the kernel.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <utility>

namespace fp4lab::cuda {

// Launches kernel<<<grid, block, smem_bytes, stream>>>(args...) and returns the launch's error (cleared from the
// runtime's last-error slot, as a <<<>>> launch followed by cudaGetLastError() would). Arguments are converted to
// the kernel's parameter types as in a <<<>>> launch.
// programmatic: set cudaLaunchAttributeProgrammaticStreamSerialization, so the grid may start before the kernel
// before it in the stream has completed (compute capability 9.0+). REQUIRES then that the kernel
// calls WaitForPriorGrids() before touching any memory that kernel, or any kernel still running, may write or read
// (see kernel_util.cuh). Works in stream capture (CUDA 12.3+: the edge from the previous kernel node becomes a
// programmatic edge). Off: ordinary stream order.
template <typename... Params, typename... Args>
cudaError_t LaunchKernel(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t stream,
                         bool programmatic, Args&&... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem_bytes;
  config.stream = stream;
  config.attrs = programmatic ? &attribute : nullptr;
  config.numAttrs = programmatic ? 1 : 0;
  const cudaError_t err = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
  if (err != cudaSuccess) (void)cudaGetLastError();
  return err;
}

// Occupancy of one kernel configuration, queried once per device and cached: devices 0 .. kMaxCachedDevices - 1 have
// a slot, later ones query on every call. Concurrent first calls compute the same value (relaxed atomics suffice).
inline constexpr int kMaxCachedDevices = 64;
using ResidentBlocksCache = std::array<std::atomic<int>, kMaxCachedDevices>;

// Blocks of `kernel` with `threads` threads and `smem_bytes` dynamic shared memory that the current device holds at
// once (over all its SMs; at least 1), through `cache`. Host code; not during stream capture of another device.
template <typename Kernel>
cudaError_t ResidentBlocks(Kernel kernel, int threads, int smem_bytes, ResidentBlocksCache& cache, int* blocks) {
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  if (device < kMaxCachedDevices) {
    *blocks = cache[device].load(std::memory_order_relaxed);
    if (*blocks > 0) return cudaSuccess;
  }
  int per_sm = 0, sms = 0;
  err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem_bytes);
  if (err != cudaSuccess) return err;
  err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return err;
  *blocks = per_sm * sms > 0 ? per_sm * sms : 1;
  if (device < kMaxCachedDevices) cache[device].store(*blocks, std::memory_order_relaxed);
  return cudaSuccess;
}

}  // namespace fp4lab::cuda
