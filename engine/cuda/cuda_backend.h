// The CUDA backend: the Backend interface (engine/backend.h) on one CUDA device and one stream, checked op by op
// against the CPU reference (tests/gpu). CUDA-free header: engine/backend_registry.cc includes it in CUDA builds.
//
// Paths per scheme (LinearPath): bf16 "native" (cuBLASLt bf16 GEMM); nvfp4 "native" on compute capability
// 10.x/12.x when cuBLASLt has the block-scaled FP4 GEMM, otherwise "emulated" (bit-faithful W4A4: quantizer
// bit-identical to the CPU, exact bf16 dequantization, f32 accumulation, global scales once per output);
// nvfp4-w4a16 "weight-only"; fp8 "emulated". Facts() records the device and why NVFP4 takes its path.
// Kernel numerics: engine/cuda/cuda_linear.h and the per-kernel headers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/native_nvfp4_plan.h"

namespace fp4lab {

struct CudaBackendOptions {
  int device = 0;
  Nvfp4PathRequest nvfp4_path = Nvfp4PathRequest::kAuto;
  // > 0: the most device bytes this backend may hold (weights, activations, KV cache, scratch); 0 = the card.
  int64_t memory_limit_bytes = 0;
  // nvfp4-w4a16 batches the GEMV does not take: true = the tensor-core GEMM (engine/cuda/w4a16_dispatch.h; the
  // default since it was measured, docs/PERFORMANCE.md), false = weights dequantized to bf16 + cuBLASLt.
  bool w4a16_mma_gemm = true;
};

// Parses "cuda" (device 0) or "cuda:N" and the environment: FP4LAB_NVFP4_PATH = auto | native | emulated,
// FP4LAB_CUDA_MEMORY_LIMIT = bytes, FP4LAB_W4A16_GEMM = dequant | mma. InvalidArgument for a malformed name or value.
Result<CudaBackendOptions> ParseCudaBackendOptions(const std::string& device);

// Creates the backend. InvalidArgument listing the devices that exist when options.device is not one of them.
Result<std::unique_ptr<Backend>> CreateCudaBackend(const CudaBackendOptions& options);
// ParseCudaBackendOptions + CreateCudaBackend (what CreateBackend("cuda:N") calls).
Result<std::unique_ptr<Backend>> CreateCudaBackend(const std::string& device);

}  // namespace fp4lab
