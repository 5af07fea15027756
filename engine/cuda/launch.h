// Kernel launches through cudaLaunchKernelEx, for launches that need launch attributes: today programmatic
// dependent launch (PDL; the device side is WaitForPriorGrids / LetDependentGridsLaunch in kernel_util.cuh).
// Host code; include it from the .cu file that defines the kernel.
#pragma once

#include <cuda_runtime.h>

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

}  // namespace fp4lab::cuda
