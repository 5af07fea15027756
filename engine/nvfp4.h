// NVFP4 reference quantizers, dequantizers and the kernel scale layout. Single source of truth for NVFP4
// numerics: CUDA kernels must reproduce these functions bit for bit. Spec: design/NVFP4.md (sections 3, 5, 6).
//
// Format: E2M1 codes (codecs.h), one E4M3 block scale per 16 consecutive elements along K (the last dim of a
// row-major [rows, K] matrix), one fp32 global scale per tensor.
//   ModelOpt          : W ~= e2m1(code) * (f32(weight_scale[n, k/16]) * weight_scale_2), weight_scale_2 = amax/2688
//   compressed-tensors: W ~= e2m1(code) * (f32(weight_scale[n, k/16]) / weight_global_scale), global = 2688/amax
// Packing: byte = code[2i] | code[2i+1] << 4 along K, so a [rows, K] matrix packs to U8 [rows, K/2]; block scales
// are E4M3 bytes [rows, K/16], row-major ("linear"), as checkpoints store them. SwizzleScales produces the
// 128x4-tiled layout that cuBLASLt / CUTLASS block-scaled GEMMs read.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

inline constexpr int64_t kNvfp4BlockSize = 16;
// 6 * 448: the largest E2M1 magnitude times the largest E4M3 scale.
inline constexpr float kNvfp4ScaleRange = 2688.0f;
// Smallest positive E4M3 value (subnormal 2^-9). ModelOpt clamps block scales to it before the E4M3 cast.
inline constexpr float kNvfp4MinBlockScale = 1.0f / 512.0f;

// Non-owning view of NVFP4 data for a [rows, cols] matrix (cols = K in elements).
struct Nvfp4View {
  int64_t rows = 0;
  int64_t cols = 0;
  std::span<const uint8_t> packed;  // U8 [rows, cols/2]
  std::span<const uint8_t> scales;  // E4M3 [rows, cols/16], linear (not swizzled)
};

// OK iff rows >= 0, cols >= 0, cols % 16 == 0 and both spans have exactly the sizes above. Messages describe the
// mismatch; callers add the tensor name with Status::WithContext.
Status ValidateNvfp4View(const Nvfp4View& view);

// A quantized weight in ModelOpt form (owning).
struct Nvfp4Weight {
  int64_t rows = 0;             // N
  int64_t cols = 0;             // K
  std::vector<uint8_t> packed;  // U8 [N, K/2]
  std::vector<uint8_t> scales;  // E4M3 [N, K/16] ("weight_scale")
  float weight_scale_2 = 0.0f;  // fp32 global, multiplied ("weight_scale_2")

  Nvfp4View View() const { return {rows, cols, packed, scales}; }
};

// A quantized weight in compressed-tensors form (owning). Same packing and scale layout as ModelOpt.
struct Nvfp4CtWeight {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> packed;       // U8 [N, K/2] ("weight_packed")
  std::vector<uint8_t> scales;       // E4M3 [N, K/16] ("weight_scale")
  float weight_global_scale = 0.0f;  // fp32 global, divided ("weight_global_scale" = 2688/amax)

  Nvfp4View View() const { return {rows, cols, packed, scales}; }
};

// ---------------------------------------------------------------------------------------------------------------
// Global scales. Tensors that consume the same input (q/k/v; gate/up) share one global scale: pass the max of
// their AmaxOf values. NaN elements are skipped by AmaxOf (the quantizers reject them with the flat index).

float AmaxOf(std::span<const float> values);
float AmaxOfBf16(std::span<const uint16_t> values);

// ModelOpt: amax / 2688.0f in fp32 (weight_scale_2, and input_scale from a calibrated activation amax).
float WeightScale2FromAmax(float amax);
// compressed-tensors: 2688.0f / amax in fp32 (weight_global_scale, input_global_scale). Not the exact
// reciprocal of WeightScale2FromAmax: each rounds once, so 1/x of one may differ from the other by an ulp.
float CtGlobalScaleFromAmax(float amax);

// ---------------------------------------------------------------------------------------------------------------
// Weight quantization, ModelOpt (NVFP4QTensor.get_weights_scaling_factor + quantize), fp32 operation order:
//   per 16-block: bamax = max|w| ; s = bamax / (6.0f * weight_scale_2)   (denominator rounded to fp32 first)
//                 s == 0 -> 1.0 ; s = max(s, 2^-9) (newer Model-Optimizer clamp: without it a tiny s casts to 0
//                 and the next division is by zero) ; s8 = F32ToE4M3(s) (RNE, saturating at 448)
//                 code = F32ToE2M1(w / (f32(s8) * weight_scale_2))     (IEEE division; ModelOpt sign rule)
// `w` is row-major [rows, cols]; `name` is the tensor name used in error messages.
// Errors (InvalidArgument, naming the tensor): cols % 16 != 0; w.size() != rows * cols; a NaN or Inf element
// (the message gives its flat index); weight_scale_2 not finite or <= 0 (an all-zero tensor has amax 0 and no
// NVFP4 global scale).
Result<Nvfp4Weight> QuantizeNvfp4Weight(std::string_view name, std::span<const float> w, int64_t rows, int64_t cols,
                                        float weight_scale_2);
// Same for bf16 storage (values promote exactly to fp32 first, as torch does for bf16 / fp32).
Result<Nvfp4Weight> QuantizeNvfp4WeightBf16(std::string_view name, std::span<const uint16_t> w, int64_t rows,
                                            int64_t cols, float weight_scale_2);

// Weight quantization, compressed-tensors (calculate_qparams + _quantize + pack_fp4_to_uint8), fp32 order:
//   per 16-block: s8 = F32ToE4M3(clamp(global * (bamax / 6.0f), -448, 448)) ; s8 == 0 (s <= 2^-10,
//                 bamax == 0 included) -> 0.125 (0x20), as compressed-tensors replaces zero scales after the cast
//                 eff = f32(s8) / global ; code = F32ToE2M1SignBit(clamp(w / eff, -6, 6))  (signbit: -0.0 -> 0x8)
// Because the order differs from ModelOpt's, rare last-ulp differences flip a tie or an E4M3 rounding.
// Errors as for QuantizeNvfp4Weight, with weight_global_scale in place of weight_scale_2.
Result<Nvfp4CtWeight> QuantizeNvfp4CtWeight(std::string_view name, std::span<const float> w, int64_t rows, int64_t cols,
                                            float weight_global_scale);
Result<Nvfp4CtWeight> QuantizeNvfp4CtWeightBf16(std::string_view name, std::span<const uint16_t> w, int64_t rows,
                                                int64_t cols, float weight_global_scale);

// ---------------------------------------------------------------------------------------------------------------
// Dequantization. `out` is row-major f32 [rows, cols]. Errors: ValidateNvfp4View fails, or out has the wrong size.

// ModelOpt: out = e2m1(code) * (f32(s8) * weight_scale_2), the block factor formed first, all in fp32.
Status DequantizeNvfp4Weight(const Nvfp4View& w, float weight_scale_2, std::span<float> out);
// compressed-tensors: out = e2m1(code) * (f32(s8) / weight_global_scale).
Status DequantizeNvfp4CtWeight(const Nvfp4View& w, float weight_global_scale, std::span<float> out);

// The exact products e2m1(code) * f32(s8), WITHOUT the global scale, as bf16 bits [rows, cols]. GEMMs multiply by
// the global scale(s) once per output element instead.
// Why bf16 holds them exactly: an E2M1 magnitude is 0 or m * 2^e with m in {1, 1.5} (2 significant bits); an E4M3
// value is 0 or m * 2^e with m in [1, 2) of 4 significant bits (normal), or j * 2^-9 with j in 1..7 (at most 3
// bits). A product of a 2-bit and a 4-bit significand has at most 6 significant bits <= 8 (bf16's precision), and
// every nonzero |product| lies in [0.5 * 2^-9, 6 * 448] = [2^-10, 2688], far inside bf16's normal range
// [2^-126, 3.4e38]: no rounding, no overflow, no subnormal. (NaN scales 0x7F/0xFF give NaN.)
Status DequantizeNvfp4Unscaled(const Nvfp4View& w, std::span<uint16_t> out_bf16);

// ---------------------------------------------------------------------------------------------------------------
// Activation quantization as Blackwell W4A4 does it at run time (dynamic per-16 block scales, static input_scale
// = calibrated amax / 2688), for one row x[K]:
//   per 16-block: bamax = max|x| ; sa = F32ToE4M3(bamax / (6.0f * input_scale))   (saturates at 448)
//                 code = F32ToE2M1(x / (f32(sa) * input_scale))                   (saturates at +-6)
// Division, not a reciprocal: NVFP4.md section 3 writes x / (f32(sa) * input_scale), the same fp32 order as the
// weight path, and the fixtures' logits_w4a4_f32 were made by an exact-division reference quantizer (as their
// producer describes it; not re-derived here). vLLM's Python reference multiplies by 1 / (f32(sa) / g) and its
// CUDA kernel by rcp.approx; both can flip rare ties against this. fp4lab's CUDA quantizer must use IEEE
// round-to-nearest division (__fdiv_rn, no fast-math) to match.
// A block whose sa decodes to 0 (bamax / (6 * input_scale) <= 2^-10) gets all codes 0x0. NaN elements are
// skipped by bamax and encode as +6 (F32ToE2M1); Inf saturates. Activations are not validated: this is the hot
// path.
// Errors (InvalidArgument): x.size() % 16 != 0, output sizes (x.size()/2 packed bytes, x.size()/16 scales),
// input_scale not finite or <= 0.
Status QuantizeNvfp4ActivationRow(std::span<const float> x, float input_scale, std::span<uint8_t> packed,
                                  std::span<uint8_t> scales);

// Same quantization, but writes the exact products e2m1(code) * f32(sa) (without input_scale; exact in bf16, see
// DequantizeNvfp4Unscaled) into products[K]. A W4A4 GEMM then computes
//   y[m, n] = alpha * sum_k qa[m, k] * qw[n, k],  alpha = input_scale * weight_scale_2,
// with qw from DequantizeNvfp4Unscaled. Errors as above (products.size() == x.size()).
Status FakeQuantizeNvfp4ActivationRow(std::span<const float> x, float input_scale, std::span<float> products);

// ---------------------------------------------------------------------------------------------------------------
// 128x4 swizzled block-scale layout (cuBLASLt "1D block scaling factor layout", CUTLASS Sm1xxBlockScaledConfig,
// vLLM swizzle_blockscale). For R rows and C = K/16 scale columns: Rp = roundup(R, 128), Cp = roundup(C, 4), the
// buffer is Rp * Cp bytes, padding is 0, and
//   offset(r, c) = ((r / 128) * (Cp / 4) + c / 4) * 512 + (r % 32) * 16 + ((r % 128) / 32) * 4 + (c % 4).

constexpr int64_t RoundUp(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// REQUIRES: 0 <= r, 0 <= c < cols.
constexpr int64_t SwizzledScaleOffset(int64_t r, int64_t c, int64_t cols) {
  const int64_t padded_cols = RoundUp(cols, 4);
  return ((r / 128) * (padded_cols / 4) + c / 4) * 512 + (r % 32) * 16 + ((r % 128) / 32) * 4 + (c % 4);
}

// Rp * Cp for rows >= 0, cols >= 0.
constexpr int64_t SwizzledScaleBytes(int64_t rows, int64_t cols) { return RoundUp(rows, 128) * RoundUp(cols, 4); }

// linear [rows, cols] -> swizzled [SwizzledScaleBytes(rows, cols)] (padding written as 0). Errors: negative dims
// or span sizes that differ from those.
Status SwizzleScales(std::span<const uint8_t> linear, int64_t rows, int64_t cols, std::span<uint8_t> swizzled);
// The inverse (padding ignored).
Status UnswizzleScales(std::span<const uint8_t> swizzled, int64_t rows, int64_t cols, std::span<uint8_t> linear);

}  // namespace fp4lab
