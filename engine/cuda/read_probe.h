// Read-only bandwidth probe for the kernel benchmarks (tests/bench/gpu_kernels_bench.cc). A device-to-device copy
// splits the memory's bandwidth between reads and writes, while a decode GEMV only reads, so the benchmarks time this
// probe as a second ceiling: every thread of a grid-stride loop reads 16-byte words once (streaming loads) and folds
// them into one word, which is stored only if it equals `never`, so the reads cannot be optimized away.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

// Reads the `bytes` bytes at `data` once. REQUIRES data 16-byte aligned, bytes a multiple of 16; `sink` one device
// word (written only when the fold of all words equals `never`). Asynchronous on `stream`.
cudaError_t LaunchReadProbe(const void* data, int64_t bytes, uint32_t never, uint32_t* sink, cudaStream_t stream);

}  // namespace fp4lab::cuda
