// Device twins of the reference codecs in engine/codecs.h, operation for operation, so that kernels encode and
// decode bit for bit like the CPU reference (checked by tests/gpu/cuda_quantizer_test.cc). Every floating-point
// step that the reference rounds is written with an explicit round-to-nearest intrinsic (__fmul_rn, __fdiv_rn),
// so neither FMA contraction nor fast-math can change a result.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace fp4lab::cuda {

// E4M3ToF32: fp8 E4M3 "fn" -> f32, exact. 0x7F / 0xFF are NaN.
__device__ __forceinline__ float DeviceE4M3ToF32(uint8_t code) {
  const uint32_t sign = static_cast<uint32_t>(code & 0x80u) << 24;
  const uint32_t exponent = (code >> 3) & 0xFu;
  const uint32_t mantissa = code & 0x7u;
  if (exponent == 0xF && mantissa == 0x7) return __uint_as_float(0x7FC00000u | sign);
  if (exponent != 0) return __uint_as_float(sign | ((exponent + 120u) << 23) | (mantissa << 20));
  const float magnitude = static_cast<float>(mantissa) * (1.0f / 512.0f);  // exact: m * 2^-9
  return sign ? -magnitude : magnitude;
}

// F32ToE4M3: RNE, saturating at +-448, NaN -> 0x7F, sign of zero kept (integer arithmetic as in codecs.h).
__device__ __forceinline__ uint8_t DeviceF32ToE4M3(float value) {
  const uint32_t bits = __float_as_uint(value);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t magnitude_bits = bits & 0x7FFFFFFFu;
  if (magnitude_bits > 0x7F800000u) return 0x7F;
  if (magnitude_bits >= 0x43E00000u) return sign | 0x7E;
  const int32_t exponent = static_cast<int32_t>(magnitude_bits >> 23) - 127;
  uint32_t code, remainder, half;
  if (exponent >= -6) {
    code = (static_cast<uint32_t>(exponent + 7) << 3) | ((magnitude_bits >> 20) & 0x7u);
    remainder = magnitude_bits & 0xFFFFFu;
    half = 0x80000u;
  } else {
    const uint32_t significand = (magnitude_bits & 0x7FFFFFu) | 0x800000u;
    const int32_t shift = 14 - exponent;
    if (shift >= 32) return sign;
    code = significand >> shift;
    remainder = significand & ((1u << shift) - 1u);
    half = 1u << (shift - 1);
  }
  if (remainder > half || (remainder == half && (code & 1u))) ++code;
  return sign | static_cast<uint8_t>(code);
}

// E2M1ToF32: 0x8 decodes to +0.
__device__ __forceinline__ float DeviceE2M1ToF32(uint32_t code) {
  const uint32_t magnitude = code & 0x7u;
  if (magnitude == 0) return 0.0f;
  if (magnitude == 1) return (code & 0x8u) ? -0.5f : 0.5f;
  // Codes 2..7 are normal: 2^((m >> 1) - 1) * (1 + (m & 1) / 2) = {1, 1.5, 2, 3, 4, 6}.
  const uint32_t sign = (code & 0x8u) << 28;
  return __uint_as_float(sign | ((126u + (magnitude >> 1)) << 23) | ((magnitude & 1u) << 22));
}

// F32ToE2M1 with ModelOpt's sign rule (sign = x < 0; NaN -> 0x7; saturates at 6).
__device__ __forceinline__ uint8_t DeviceF32ToE2M1(float value) {
  if (value != value) return 0x7;
  const bool negative = value < 0.0f;
  const float magnitude = negative ? -value : value;
  const float bounds[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
  uint8_t code = 0;
#pragma unroll
  for (int i = 0; i < 7; ++i) {
    if (magnitude > bounds[i] || (magnitude == bounds[i] && (i & 1))) ++code;
  }
  return negative ? static_cast<uint8_t>(code | 0x8u) : code;
}

// QuantizeActivationBlock of engine/nvfp4.cc on one block of 16 activations v: returns the E4M3 block scale
// sa = e4m3(bamax / (6 * input_scale)) and writes the 16 E2M1 codes of v / (f32(sa) * input_scale) (IEEE
// division; all codes 0 when that scale is 0). Bit-identical to the CPU reference.
__device__ __forceinline__ uint8_t DeviceQuantizeActivationBlock(const float* v, float input_scale, uint8_t* codes) {
  float amax = 0.0f;  // NaN never compares greater, so it is skipped
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const float magnitude = fabsf(v[i]);
    if (magnitude > amax) amax = magnitude;
  }
  const uint8_t sa = DeviceF32ToE4M3(__fdiv_rn(amax, __fmul_rn(6.0f, input_scale)));
  const float block_scale = __fmul_rn(DeviceE4M3ToF32(sa), input_scale);
#pragma unroll
  for (int i = 0; i < 16; ++i) codes[i] = block_scale == 0.0f ? 0 : DeviceF32ToE2M1(__fdiv_rn(v[i], block_scale));
  return sa;
}

// f32 -> bf16 bits, round to nearest even (equals F32ToBf16 for every non-NaN input).
__device__ __forceinline__ __nv_bfloat16 DeviceF32ToBf16(float value) { return __float2bfloat16_rn(value); }

}  // namespace fp4lab::cuda
