// Kernels that test programmatic dependent launch (PDL, kernel_util.cuh) from the outside, for the GPU tests
// (tests/gpu/w4a16_gemv_test.cc): a producer that lets its dependents launch at once and writes its output only
// after a delay, and a minimal dependent that records what it reads before and after its wait. Run the producer
// right before a PDL kernel in one stream (or one captured graph): a kernel that touched the producer's output
// before WaitForPriorGrids() would see the old values, or have its stores overwritten.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

// One block, launched in ordinary stream order: it first lets programmatically launched successors start
// (LetDependentGridsLaunch), then spins until `delay_ns` nanoseconds of the GPU's global timer have passed, then
// copies src[0, count) to dst[0, count). src and dst device arrays of `count` floats that do not overlap.
// Returns cudaErrorInvalidValue for count < 0 or delay_ns < 0, else the launch's error. Asynchronous on `stream`.
cudaError_t LaunchDelayedCopy(const float* src, float* dst, int64_t count, int64_t delay_ns, cudaStream_t stream);

// One thread, launched with the PDL attribute: seen[0] = *value read before WaitForPriorGrids(), seen[1] = *value
// read after it. Right after a LaunchDelayedCopy that changes *value, seen[0] is the old value when the two kernels
// overlapped (the new one when they did not), and seen[1] is the new value. value: 1 device float; seen: 2.
// Returns the launch's error. Asynchronous on `stream`.
cudaError_t LaunchOverlapProbe(const float* value, float* seen, cudaStream_t stream);

}  // namespace fp4lab::cuda
