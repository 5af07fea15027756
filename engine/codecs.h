// Bit-exact scalar codecs for the storage formats fp4lab reads and writes: bf16, fp16, fp8 E4M3 ("fn") and
// fp4 E2M1. These are the CPU reference: every CUDA kernel that encodes or decodes one of these formats must
// match them bit for bit. All scalar functions are pure, branch-light and constexpr.
//
// Rounding: every encoder rounds to nearest, ties to even (RNE), assuming nothing about the FPU rounding mode
// (the rounding is done on integer bit patterns). Spec: design/NVFP4.md sections 1 and 2.
#pragma once

#include <bit>
#include <cstdint>
#include <span>

namespace fp4lab {

// ---------------------------------------------------------------------------------------------------------------
// bf16: the top 16 bits of an IEEE binary32.

constexpr float Bf16ToF32(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

// RNE on the 16 dropped bits. NaN stays NaN and becomes quiet (payload's top bits kept, quiet bit set); values
// that round past the largest finite bf16 become +-Inf (IEEE overflow under RNE).
constexpr uint16_t F32ToBf16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  const uint32_t lsb = (bits >> 16) & 1u;
  return static_cast<uint16_t>((bits + 0x7FFFu + lsb) >> 16);
}

// ---------------------------------------------------------------------------------------------------------------
// fp16: IEEE binary16 (1 sign, 5 exponent bits with bias 15, 10 mantissa bits), subnormals, Inf and NaN.

constexpr float F16ToF32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  const uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));  // Inf / NaN
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  // Subnormal (or zero): mantissa * 2^-24, exact in binary32.
  const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
  return sign ? -magnitude : magnitude;
}

// ---------------------------------------------------------------------------------------------------------------
// fp8 E4M3 "fn" (torch.float8_e4m3fn, safetensors F8_E4M3): 1 sign, 4 exponent bits with bias 7, 3 mantissa bits.
// No Inf; 0x7F and 0xFF are NaN; max finite 448 (0x7E); min normal 2^-6 (0x08); min subnormal 2^-9 (0x01).

inline constexpr uint8_t kE4M3Nan = 0x7F;
inline constexpr uint8_t kE4M3One = 0x38;  // 1.0
inline constexpr uint8_t kE4M3Max = 0x7E;  // 448.0
inline constexpr float kE4M3MaxValue = 448.0f;

constexpr float E4M3ToF32(uint8_t code) {
  const uint32_t sign = static_cast<uint32_t>(code & 0x80u) << 24;
  const uint32_t exponent = (code >> 3) & 0xFu;
  const uint32_t mantissa = code & 0x7u;
  if (exponent == 0xF && mantissa == 0x7) return std::bit_cast<float>(0x7FC00000u | sign);  // NaN
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 120u) << 23) | (mantissa << 20));
  const float magnitude = static_cast<float>(mantissa) * (1.0f / 512.0f);  // subnormal: m * 2^-9
  return sign ? -magnitude : magnitude;
}

// RNE, saturating ("satfinite", like CUDA __nv_fp8_e4m3(float)): |x| > 448 and +-Inf -> +-448.
// NaN -> 0x7F. The sign of zero is kept (-0.0 -> 0x80).
constexpr uint8_t F32ToE4M3(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t magnitude_bits = bits & 0x7FFFFFFFu;
  if (magnitude_bits > 0x7F800000u) return kE4M3Nan;
  // |x| >= 448 (Inf included) saturates. Plain RNE would send (464, 480) to 480, which is the NaN pattern 0x7F.
  if (magnitude_bits >= 0x43E00000u) return sign | kE4M3Max;
  const int32_t exponent = static_cast<int32_t>(magnitude_bits >> 23) - 127;
  uint32_t code;
  uint32_t remainder;
  uint32_t half;
  if (exponent >= -6) {
    // Normal E4M3: keep 3 of the 23 mantissa bits; code = (biased exponent << 3) | mantissa is monotonic, so a
    // rounding carry out of the mantissa correctly bumps the exponent.
    code = (static_cast<uint32_t>(exponent + 7) << 3) | ((magnitude_bits >> 20) & 0x7u);
    remainder = magnitude_bits & 0xFFFFFu;
    half = 0x80000u;
  } else {
    // Subnormal E4M3: code = |x| / 2^-9 rounded. |x| = significand * 2^(exponent - 23) with the implicit 1
    // included, so code = significand >> (14 - exponent). f32 subnormals (exponent field 0) give shift >= 32 and
    // round to 0, as does everything below 2^-10.
    const uint32_t significand = (magnitude_bits & 0x7FFFFFu) | 0x800000u;
    const int32_t shift = 14 - exponent;
    if (shift >= 32) return sign;
    code = significand >> shift;
    remainder = significand & ((1u << shift) - 1u);
    half = 1u << (shift - 1);
  }
  // |x| < 448 here, so rounding up reaches at most 0x7E (448): never the NaN pattern.
  if (remainder > half || (remainder == half && (code & 1u))) ++code;
  return sign | static_cast<uint8_t>(code);
}

// ---------------------------------------------------------------------------------------------------------------
// fp4 E2M1 (OCP MX): codes 0..15, bit 3 = sign, magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}. No Inf/NaN.

inline constexpr float kE2M1MaxValue = 6.0f;

// Only the low 4 bits of `code` are used. 0x8 decodes to +0.0f, as in ModelOpt's e2m1_values table, so a
// dequantized zero never carries a sign bit (ggml, vLLM and compressed-tensors also map 0x8 to 0).
constexpr float E2M1ToF32(uint8_t code) {
  constexpr float kValues[16] = {0.0f, 0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                 0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
  return kValues[code & 0xFu];
}

// Magnitude code of |x| for finite |x| >= 0: RNE onto the E2M1 grid, saturating at 6. ModelOpt's formulation:
// code = number of bounds {0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5} strictly below |x|, plus 1 when |x| equals an
// odd-index bound (0.75, 1.75, 3.5: the ties whose even neighbour is the upper one).
constexpr uint8_t E2M1MagnitudeCode(float magnitude) {
  constexpr float kBounds[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
  uint8_t code = 0;
  for (int i = 0; i < 7; ++i) {
    if (magnitude > kBounds[i] || (magnitude == kBounds[i] && (i & 1))) ++code;
  }
  return code;
}

// ModelOpt sign rule: sign bit = (x < 0). So +0 and -0.0 -> 0x0, but a negative value that rounds to zero
// (-0.1, -0.25) -> 0x8. NaN -> 0x7 (+6); +-Inf -> +-6.
constexpr uint8_t F32ToE2M1(float value) {
  if (value != value) return 0x7;
  const bool negative = value < 0.0f;
  const uint8_t code = E2M1MagnitudeCode(negative ? -value : value);
  return negative ? static_cast<uint8_t>(code | 0x8u) : code;
}

// compressed-tensors sign rule: sign bit = signbit(x), so -0.0 -> 0x8 as well. NaN -> 0x7 (+6); +-Inf -> +-6.
constexpr uint8_t F32ToE2M1SignBit(float value) {
  if (value != value) return 0x7;
  const bool negative = (std::bit_cast<uint32_t>(value) >> 31) != 0;
  const uint8_t code = E2M1MagnitudeCode(negative ? -value : value);
  return negative ? static_cast<uint8_t>(code | 0x8u) : code;
}

// Two E2M1 codes per byte: element 2i in bits 3..0, element 2i+1 in bits 7..4 (ModelOpt, compressed-tensors,
// PyTorch float4_e2m1fn_x2). Only the low 4 bits of each code are used.
constexpr uint8_t PackE2M1(uint8_t lo, uint8_t hi) { return static_cast<uint8_t>((lo & 0xFu) | ((hi & 0xFu) << 4)); }
constexpr uint8_t UnpackE2M1Lo(uint8_t byte) { return byte & 0xFu; }
constexpr uint8_t UnpackE2M1Hi(uint8_t byte) { return byte >> 4; }

// ---------------------------------------------------------------------------------------------------------------
// Bulk helpers. REQUIRES: in.size() == out.size() (checked with assert only: sizes are the caller's, not input).

void DecodeBf16Row(std::span<const uint16_t> in, std::span<float> out);
void EncodeBf16Row(std::span<const float> in, std::span<uint16_t> out);
void DecodeF16Row(std::span<const uint16_t> in, std::span<float> out);
void DecodeE4M3Row(std::span<const uint8_t> in, std::span<float> out);

// Unpacks in.size() bytes into 2 * in.size() E2M1 values. REQUIRES: out.size() == 2 * in.size().
void DecodeE2M1Row(std::span<const uint8_t> packed, std::span<float> out);

}  // namespace fp4lab
