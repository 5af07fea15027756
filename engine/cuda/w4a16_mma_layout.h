// Index and bit arithmetic of the W4A16 tensor-core GEMM (engine/cuda/w4a16_mma_gemm.cu): which k each lane feeds
// into which MMA K slot, where the packed activations keep a lane's B fragment, and the bit moves from E2M1 codes to
// bf16. Compiled by nvcc (the kernel) and by the host compiler (tests/engine/w4a16_mma_layout_test.cc emulates the
// kernel's data movement and MMA fragments on the CPU with these functions); no CUDA headers.
//
// Terms: lane = 4 g + t (g = lane / 4: the A fragment's row g and g + 8, the B/D fragment's token column g; t = lane %
// 4: the K slots 2t, 2t+1, 2t+8, 2t+9 of mma.m16n8k16, called slots 0..3 here). A K tile is 128 elements: lane
// column t owns elements [32 t, 32 t + 32), 16 code bytes per weight row (words w = 0..3 of 8 codes), and feeds them
// over 8 MMA steps s = 2 w + h.
#pragma once

#include <cstdint>

#ifndef FP4LAB_HOST_DEVICE
#if defined(__CUDACC__)
#define FP4LAB_HOST_DEVICE __host__ __device__
#else
#define FP4LAB_HOST_DEVICE
#endif
#endif

namespace fp4lab::w4a16_mma {

inline constexpr int kKTile = 128;  // K elements per tile
inline constexpr int kSteps = 8;    // MMA steps (of 16 K slots) per tile
inline constexpr int kLanes = 32;

// Nibble (code index within word w, 0..7) that K slot `slot` takes at half-step h = s % 2: slots (0, 1) take nibbles
// (2h, 2h + 4), slots (2, 3) take (2h + 1, 2h + 5): the low and high halves of CodePair(word, 2h) and (2h + 1).
FP4LAB_HOST_DEVICE constexpr int SlotNibble(int h, int slot) {
  return 2 * h + (slot & 1) * 4 + (slot >> 1);
}

// Element (0..127) of a K tile that lane column t feeds into K slot `slot` at step s; the weight (A) and activation
// (B) fragments both follow it, so each MMA multiplies matching k. The map is a bijection from (t, s, slot) onto the
// tile's 128 elements.
FP4LAB_HOST_DEVICE constexpr int TileElement(int t, int s, int slot) {
  return 32 * t + 8 * (s / 2) + SlotNibble(s % 2, slot);
}

// Index, in uint2 units, of the 8 bytes (bf16 b0, b1, b2, b3 = K slots 0..3) of lane `lane`'s B fragment for token
// tile `tile` (tokens 8 tile .. 8 tile + 7), K tile kt of k_tiles, step s: one warp's fragment is 256 contiguous
// bytes.
FP4LAB_HOST_DEVICE constexpr int64_t PackedFragment(int64_t tile, int64_t kt, int64_t k_tiles, int s, int lane) {
  return ((tile * k_tiles + kt) * kSteps + s) * kLanes + lane;
}

// bf16x2 bits of nibbles i (low half) and i + 4 (high half) of `word` (i = 0..3), each as e2m1 * 2^-126: sign to bit
// 15, the exponent bits e1 e0 to bits 8..7 (the bf16 exponent's two lowest bits) and the mantissa bit to bit 6 (the
// highest mantissa bit). e = 0 gives the bf16 subnormals 0 and 2^-127 (the 0.5 code).
FP4LAB_HOST_DEVICE constexpr uint32_t CodePair(uint32_t word, int i) {
  const int magnitude_shift = 6 - 4 * i, sign_shift = 12 - 4 * i;
  const uint32_t magnitude = magnitude_shift >= 0 ? word << magnitude_shift : word >> -magnitude_shift;
  const uint32_t sign = sign_shift >= 0 ? word << sign_shift : word >> -sign_shift;
  return (magnitude & 0x01C001C0u) | (sign & 0x80008000u);
}

// Which of a lane's two block scales (elements [0, 16) or [16, 32) of its 32) word w uses.
FP4LAB_HOST_DEVICE constexpr int ScaleOfWord(int w) { return w / 2; }

}  // namespace fp4lab::w4a16_mma
