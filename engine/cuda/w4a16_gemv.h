// NVFP4 W4A16 GEMV for decode (M = 1..16) on CUDA cores: y[m, n] = weight_scale_2 * sum_k x[m, k] * w[n, k]
// (+ bias[n]), w = e2m1(code) * e4m3(block scale), with f32 x, f32 accumulation and the weights read packed.
//
// Layout: the stored NVFP4 layout of CudaLinear is already the one this kernel wants, so nothing is re-laid out at
// load and DeviceBytes does not grow: codes [n, k/2] are K-contiguous, so with k % 32 == 0 every 32-element chunk of
// a row is one aligned 16-byte load, and the chunk's two E4M3 block scales are one aligned 2-byte load of the linear
// scales [n, k/16]. Chunk c of a row goes to thread c % T of a block of T threads (consecutive threads read
// consecutive 16-byte pieces: coalesced), each block owning a few output columns (in-block split-K), and the
// per-thread partial sums meet through warp shuffles and shared memory.
//
// Numerics (exact dequantization, only the summation order differs from the CPU reference CpuLinear):
//   - each code becomes an f32 by moving bits (sign to bit 31, exponent+mantissa to bits 22..24): e2m1 * 2^-126
//     exactly (the 0.5 code is the f32 subnormal 2^-127; the kernels are built without flush-to-zero);
//   - each block scale becomes f32 through the hardware E4M3 -> f16 conversion (exact: E4M3 is a subset of fp16),
//     times 2^118 (exact);
//   - one f32 multiply gives w * 2^-8 = e2m1 * e4m3 * 2^-8 exactly (at most 6 significant bits, normal);
//   - f32 FMA accumulation against f32 x; each output is multiplied by 2^8 (exact) and then by weight_scale_2 (one
//     rounding, as the reference), then + bias.
//   The 2^-8 offset only matters for products x * w below 2^-118 in magnitude, which become f32 subnormals: each such
//   term carries an absolute error of at most 2^-141 after rescaling (the reference has none there).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

inline constexpr int64_t kW4A16GemvMaxRows = 16;  // largest M the GEMV takes; larger M uses the GEMM kernel

// True when the GEMV accepts the problem: 1 <= m <= kW4A16GemvMaxRows and k % 32 == 0 (16-byte code loads).
bool W4A16GemvSupports(int64_t m, int64_t k);

// y[m, n] (f32, row-major) = weight_scale_2 * x[m, k] * W^T (+ bias[n] when bias != null) with W given as packed
// codes [n, k/2] (low nibble = even k) and linear E4M3 block scales [n, k/16], all device pointers.
// REQUIRES W4A16GemvSupports(m, k); codes and x 16-byte aligned (cudaMalloc'd buffers are); n >= 0.
// Returns cudaErrorInvalidValue when the problem is not supported, else the launch's error. Asynchronous on `stream`.
cudaError_t LaunchW4A16Gemv(const float* x, int64_t m, const uint8_t* codes, const uint8_t* scales, int64_t n,
                            int64_t k, float weight_scale_2, const float* bias, float* y, cudaStream_t stream);

}  // namespace fp4lab::cuda
