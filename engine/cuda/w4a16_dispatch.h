// Which kernel runs an nvfp4-w4a16 Linear of a given batch on the CUDA backend (CudaLinear::Forward); the one place
// that decides it, so that the tests hold each batch to the bound of the kernel that runs it. The tensor-core GEMM is
// on unless the backend was created with FP4LAB_W4A16_GEMM=dequant (cuda_backend.h); off, batches the GEMV does not
// take run kDequantGemm. Measured on an H100 (docs/PERFORMANCE.md, ninth session), Llama-3.1-8B decode: batch 8
// 1599 tok/s against 728 through kDequantGemm, batch 32 4054 against 1508, prefill of 128 tokens 7181 against 5737.
//   kGemv       engine/cuda/w4a16_gemv.h: f32 x, CUDA-core FMAs; batches up to kW4A16GemvBatches
//   kMmaGemm    engine/cuda/w4a16_mma_gemm.h: bf16 x, tensor cores on weights dequantized in registers; larger batches
//               up to kW4A16MmaMaxBatch when K is a whole number of 128-element tiles
//   kDequantGemm  the weights dequantized to bf16 into the workspace, then cuBLASLt (bf16 x): all other batches
// The limits are to come from BM_W4A16Gemm against BM_W4A16Gemv, BM_W4A16DequantGemm and BM_CublasLtBf16 on the
// Llama-3.1-8B layer shapes (tests/bench/gpu_kernels_bench.cc). Not measured per kernel yet: the values below are
// the rooflines' prediction (docs/perf/w4a16_mma_gemm.md): tensor cores win from M = 2, where the GEMV's f32 FMAs
// grow with M and the GEMM reads the same weight bytes; from M ~ 256 a W4A16 GEMM is bound by the tensor cores at
// best at bf16's time, and mma.sync runs below cuBLASLt's wgmma rate.
#pragma once

#include <cstdint>

#include "engine/cuda/w4a16_gemv.h"
#include "engine/cuda/w4a16_mma_gemm.h"

namespace fp4lab::cuda {

enum class W4A16Kernel { kGemv, kMmaGemm, kDequantGemm };

inline constexpr int64_t kW4A16GemvBatches = 1;     // the GEMV up to here
inline constexpr int64_t kW4A16MmaMaxBatch = 256;   // the tensor-core GEMM up to here

// mma_gemm: whether the backend allows the tensor-core GEMM (not FP4LAB_W4A16_GEMM=dequant).
inline W4A16Kernel ChooseW4A16Kernel(int64_t rows, int64_t n, int64_t k, bool mma_gemm) {
  const bool gemm = mma_gemm && rows <= kW4A16MmaMaxBatch && W4A16GemmSupports(rows, n, k);
  if (W4A16GemvSupports(rows, k) && (rows <= kW4A16GemvBatches || !gemm)) return W4A16Kernel::kGemv;
  return gemm ? W4A16Kernel::kMmaGemm : W4A16Kernel::kDequantGemm;
}

}  // namespace fp4lab::cuda
