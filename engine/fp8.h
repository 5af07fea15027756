// Per-tensor FP8 E4M3 quantization (W8A8), as in ModelOpt "FP8" checkpoints and the FP8 layers of ModelOpt
// MIXED_PRECISION checkpoints (design/NVFP4.md section 4):
//   weight      : F8_E4M3 [N, K], weight_scale (fp32 scalar) = amax(W) / 448;  W ~= f32(w8) * weight_scale
//   activations : static input_scale (fp32 scalar) = calibrated amax(X) / 448;  x8 = sat(x / input_scale)
//   GEMM        : y = alpha * sum_k f32(x8) * f32(w8),  alpha = input_scale * weight_scale
// Every division is fp32 IEEE division followed by F32ToE4M3 (RNE, saturating at +-448). A producer that divides
// in bf16 first (torch promotes bf16 / 0-dim fp32 to bf16) rounds twice and may differ in rare ties.
// E4M3 values have 4 significant bits and lie in [2^-9, 448], so f32(x8) and f32(w8) are exact in bf16 too.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

// amax / 448.0f in fp32.
float Fp8ScaleFromAmax(float amax);

// q[i] = F32ToE4M3(w[i] / weight_scale), any shape (flat). `name` is the tensor name used in error messages.
// Errors (InvalidArgument, naming the tensor): a NaN or Inf element (with its flat index); weight_scale not finite
// or <= 0.
Result<std::vector<uint8_t>> QuantizeFp8Weight(std::string_view name, std::span<const float> w, float weight_scale);
Result<std::vector<uint8_t>> QuantizeFp8WeightBf16(std::string_view name, std::span<const uint16_t> w,
                                                   float weight_scale);

// out[i] = E4M3ToF32(q[i]) * scale. Errors: q.size() != out.size().
Status DequantizeFp8(std::span<const uint8_t> q, float scale, std::span<float> out);

// x8[i] = F32ToE4M3(x[i] / input_scale); values beyond the calibrated range saturate at +-448; NaN -> 0x7F.
// Errors: x.size() != x8.size(); input_scale not finite or <= 0.
Status QuantizeFp8Activation(std::span<const float> x, float input_scale, std::span<uint8_t> x8);
// Same, writing f32(x8) (without input_scale) for an emulated FP8 GEMM.
Status FakeQuantizeFp8Activation(std::span<const float> x, float input_scale, std::span<float> out);

}  // namespace fp4lab
