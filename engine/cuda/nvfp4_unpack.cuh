// Device helpers that read packed NVFP4 weights (codes [n, k/2], low nibble = even k; E4M3 block scales [n, k/16])
// and turn them into exact fp16 / f32 values in registers: a "piece" of codes (16 or 8 bytes, loaded with
// LoadStreaming of kernel_util.cuh), streaming loads of its block scales, and the bit moves from E2M1 codes to fp16.
// Used by the W4A16 GEMV (w4a16_gemv.cu, whose header states the numerics). Device code; include from .cu files only.
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace fp4lab::cuda {

// 16 or 8 code bytes.
template <int kBytes>
using Piece = std::conditional_t<kBytes == 16, uint4, uint2>;

// 32-bit word `i` (compile-time after unrolling) of a piece.
__device__ __forceinline__ uint32_t Word(const uint4& q, int i) {
  return i == 0 ? q.x : i == 1 ? q.y : i == 2 ? q.z : q.w;
}
__device__ __forceinline__ uint32_t Word(const uint2& q, int i) { return i == 0 ? q.x : q.y; }

// The piece's block scales: 2 bytes (16-byte pieces) or 1 byte, zero-extended.
template <int kGroups>
__device__ __forceinline__ uint32_t LoadScales(const uint8_t* p) {
  uint32_t v;
  if constexpr (kGroups == 2) {
    asm volatile("ld.global.nc.L1::no_allocate.u16 %0, [%1];" : "=r"(v) : "l"(p));
  } else {
    asm volatile("ld.global.nc.L1::no_allocate.u8 %0, [%1];" : "=r"(v) : "l"(p));
  }
  return v;
}

// The 8 codes of `word` (element i in bits 4i..4i+3) as fp16 e2m1 * 2^-14, in four pairs:
//   h[0] = (e0, e2), h[1] = (e4, e6), h[2] = (e1, e3), h[3] = (e5, e7)   (.x = low half).
// Each code's fp16 high byte is [s 0 0 0 e1 e0 m 0] (low byte 0): odd codes already have their sign at bit 7 of a
// byte and move their 3 magnitude bits down by 3; even codes move the sign up by 4 and the magnitude up by 1. Then
// one byte permute per pair places two high bytes over zero low bytes. 7 logic ops + 4 permutes per 8 codes.
__device__ __forceinline__ void WordToHalf2(uint32_t word, __half2 (&h)[4]) {
  const uint32_t odd = (word & 0x80808080u) | ((word >> 3) & 0x0E0E0E0Eu);
  const uint32_t even = ((word << 4) & 0x80808080u) | ((word << 1) & 0x0E0E0E0Eu);
  const uint32_t p[4] = {__byte_perm(even, 0u, 0x1404u), __byte_perm(even, 0u, 0x3424u),
                         __byte_perm(odd, 0u, 0x1404u), __byte_perm(odd, 0u, 0x3424u)};
#pragma unroll
  for (int i = 0; i < 4; ++i) memcpy(&h[i], &p[i], sizeof(uint32_t));  // a register move, no repacking
}

// fp16 pairs of WordToHalf2 as f32 in element order 0..7 (exact conversions).
__device__ __forceinline__ void Half2ToF32(const __half2 (&h)[4], float (&f)[8]) {
  f[0] = __low2float(h[0]);
  f[2] = __high2float(h[0]);
  f[4] = __low2float(h[1]);
  f[6] = __high2float(h[1]);
  f[1] = __low2float(h[2]);
  f[3] = __high2float(h[2]);
  f[5] = __low2float(h[3]);
  f[7] = __high2float(h[3]);
}

// Block scales of a piece as fp16 (exact hardware E4M3 -> fp16), .x = the first 16 elements.
template <int kGroups>
__device__ __forceinline__ __half2 ScalesToHalf2(uint32_t bits) {
  if constexpr (kGroups == 2) {
    return __half2(__nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(bits), __NV_E4M3));
  } else {
    const __half s(__nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(bits), __NV_E4M3));
    return __half2(s, s);
  }
}

}  // namespace fp4lab::cuda
