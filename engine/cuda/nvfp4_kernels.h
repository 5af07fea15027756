// NVFP4 kernels: the run-time activation quantizer (bit-identical to QuantizeNvfp4ActivationRow /
// FakeQuantizeNvfp4ActivationRow of engine/nvfp4.h), exact weight dequantization for the emulated W4A4 GEMM, and the
// weight-only W4A16 GEMM that keeps the weights packed. bf16 buffers are __nv_bfloat16 bits passed as void*.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

// Quantizes x[rows, k] (k % 16 == 0) per 16-block exactly as the CPU reference: sa = e4m3(bamax / (6 * input_scale)),
// code = e2m1(x / (f32(sa) * input_scale)), IEEE division. Any output may be null:
//   products_bf16 [rows, k]       : e2m1(code) * f32(sa), exact in bf16 (the emulated GEMM's A operand)
//   packed [rows, k / 2]          : codes, low nibble = even k (the native GEMM's B operand)
//   swizzled_scales               : sa at SwizzledScaleOffset(r, c, k / 16) of a SwizzledScaleBytes(rows, k / 16)
//                                   buffer; the caller zero-fills it first (the padding must be 0)
cudaError_t LaunchQuantizeNvfp4Activations(const float* x, int64_t rows, int64_t k, float input_scale,
                                           void* products_bf16, uint8_t* packed, uint8_t* swizzled_scales,
                                           cudaStream_t stream);

// The same quantizer with only the products, as f32 (the same values: exact in bf16, so exact in f32) [rows, k]: the
// activations of the emulated W4A4 Linear at decode sizes, where the W4A16 GEMV multiplies them with the packed
// weights (the product of E2M1 x E4M3 values is exact in f32 too, so only the summation order differs from the GEMM).
cudaError_t LaunchQuantizeNvfp4ActivationsToF32(const float* x, int64_t rows, int64_t k, float input_scale,
                                                float* products, cudaStream_t stream);

// out_bf16[n, k] = e2m1(code) * f32(scale[n, k / 16]), exact (DequantizeNvfp4Unscaled): the B operand of the
// emulated W4A4 GEMM and of the W4A16 GEMM for batches the GEMV does not take.
cudaError_t LaunchDequantizeNvfp4(const uint8_t* codes, const uint8_t* scales, int64_t rows, int64_t k,
                                  void* out_bf16, cudaStream_t stream);

}  // namespace fp4lab::cuda
