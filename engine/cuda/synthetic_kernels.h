// Kernels that generate synthetic weights (engine/synthetic_spec.h) in device memory, bit-identical to the host
// generator, so a synthetic model's Linear payloads never exist on the host; and the block-scale swizzle of the
// native NVFP4 GEMM done on the device for those payloads. engine/cuda/synthetic_device.h wraps them for CudaLinear.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/synthetic_spec.h"

namespace fp4lab::cuda {

// Copies `levels` (SyntheticLevels()) into the current device's level tables on `stream` and waits for the copy,
// so kernels on any stream of this device read them afterwards.
cudaError_t UploadSyntheticLevels(const SyntheticLevelTables& levels, cudaStream_t stream);

// dst[0, t.Bytes()) = the bytes GenerateSyntheticBytes(t) produces on the host. One thread per stream word per
// grid-stride step, whole words stored as one 8- or 4-byte store. REQUIRES the level tables uploaded to the
// current device, dst on it and 8-byte aligned (cudaErrorInvalidValue otherwise; cudaMalloc gives 256).
cudaError_t LaunchFillSynthetic(const SyntheticTensor& t, uint8_t* dst, cudaStream_t stream);

// The E4M3 block scales linear[rows, cols] re-laid out for cuBLASLt: swizzled[SwizzledScaleOffset(r, c, cols)] =
// linear[r * cols + c], every other byte of the SwizzledScaleBytes(rows, cols) buffer zero (SwizzleScales in
// engine/nvfp4.h, on the device).
cudaError_t LaunchSwizzleScales(const uint8_t* linear, int64_t rows, int64_t cols, uint8_t* swizzled,
                                cudaStream_t stream);

}  // namespace fp4lab::cuda
