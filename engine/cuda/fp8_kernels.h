// FP8 (E4M3 per-tensor, W8A8) emulation kernels, bit-identical to engine/fp8.h: the GEMM itself is the bf16
// cuBLASLt GEMM on exactly decoded operands (E4M3 values have 4 significant bits, exact in bf16), with
// alpha = input_scale * weight_scale applied once per output.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

// out_bf16[i] = f32(e4m3(x[i] / input_scale)) as FakeQuantizeFp8Activation (IEEE division, RNE, saturating at 448).
cudaError_t LaunchFakeQuantizeFp8Activations(const float* x, int64_t count, float input_scale, void* out_bf16,
                                             cudaStream_t stream);

// out_bf16[i] = f32(w8[i]) (exact).
cudaError_t LaunchDecodeE4M3ToBf16(const uint8_t* w8, int64_t count, void* out_bf16, cudaStream_t stream);

}  // namespace fp4lab::cuda
