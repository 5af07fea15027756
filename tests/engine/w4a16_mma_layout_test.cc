// The index and bit arithmetic of the W4A16 tensor-core GEMM (engine/cuda/w4a16_mma_layout.h), on the CPU, so that a
// build without a GPU checks what the kernel's data movement computes: the K permutation covers every element of a
// tile once; CodePair turns every E2M1 code into e2m1 * 2^-126 as bf16 bits; every code times every E4M3 block scale
// (as bf16 e4m3 * 2^118) is exact in bf16; and an emulation of the kernel (the packing loop, each lane's A and B
// fragments as PTX's mma.m16n8k16 .row.col defines them, the accumulation per output) equals a direct sum bit for bit
// on integer-valued data, while the same emulation with two K slots of the activations swapped does not (the check
// can fail).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "engine/codecs.h"
#include "engine/cuda/w4a16_mma_layout.h"

namespace fp4lab {
namespace {

using w4a16_mma::CodePair;
using w4a16_mma::kKTile;
using w4a16_mma::kSteps;
using w4a16_mma::PackedFragment;
using w4a16_mma::ScaleOfWord;
using w4a16_mma::SlotNibble;
using w4a16_mma::TileElement;

TEST(W4A16MmaLayoutTest, EachTileElementFeedsExactlyOneSlot) {
  std::set<int> seen;
  for (int t = 0; t < 4; ++t) {
    for (int s = 0; s < kSteps; ++s) {
      for (int slot = 0; slot < 4; ++slot) {
        const int e = TileElement(t, s, slot);
        EXPECT_GE(e, 32 * t);  // inside lane column t's 32 elements (its 16 code bytes)
        EXPECT_LT(e, 32 * t + 32);
        EXPECT_EQ((e - 32 * t) / 8, s / 2);  // inside word s / 2
        seen.insert(e);
      }
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kKTile));
}

TEST(W4A16MmaLayoutTest, CodePairGivesEveryCodeAsBf16TimesTwoToTheMinus126) {
  for (int i = 0; i < 4; ++i) {
    for (uint32_t lo = 0; lo < 16; ++lo) {
      for (uint32_t hi = 0; hi < 16; ++hi) {
        // Nibbles i and i + 4 set; every other nibble 0xF, which must not leak into the pair.
        const uint32_t word = (0xFFFFFFFFu & ~(0xFu << (4 * i)) & ~(0xFu << (4 * i + 16))) | lo << (4 * i) |
                              hi << (4 * i + 16);
        const uint32_t pair = CodePair(word, i);
        EXPECT_EQ(Bf16ToF32(static_cast<uint16_t>(pair)), std::ldexp(E2M1ToF32(static_cast<uint8_t>(lo)), -126))
            << "nibble " << i << " code " << lo;
        EXPECT_EQ(Bf16ToF32(static_cast<uint16_t>(pair >> 16)),
                  std::ldexp(E2M1ToF32(static_cast<uint8_t>(hi)), -126))
            << "nibble " << i + 4 << " code " << hi;
      }
    }
  }
}

// The kernel's weight: bf16(code) * bf16(scale * 2^118), one bf16 multiply; exact when the product is a bf16.
float KernelWeight(uint8_t code, uint8_t scale) {
  const uint32_t pair = CodePair(code, 0);
  const float scale_bf16 = Bf16ToF32(F32ToBf16(std::ldexp(E4M3ToF32(scale), 118)));
  return Bf16ToF32(static_cast<uint16_t>(pair)) * scale_bf16;  // exact in f32 (at most 6 significant bits)
}

TEST(W4A16MmaLayoutTest, EveryCodeTimesEveryScaleIsExactInBf16) {
  for (int scale = 0; scale < 256; ++scale) {
    if ((scale & 0x7F) == kE4M3Nan) continue;
    // The scale itself survives the bf16 conversion (4 significant bits, below 2^127).
    EXPECT_EQ(Bf16ToF32(F32ToBf16(std::ldexp(E4M3ToF32(static_cast<uint8_t>(scale)), 118))),
              std::ldexp(E4M3ToF32(static_cast<uint8_t>(scale)), 118));
    for (uint8_t code = 0; code < 16; ++code) {
      const float w = KernelWeight(code, static_cast<uint8_t>(scale));
      EXPECT_EQ(Bf16ToF32(F32ToBf16(w)), w) << "code " << int{code} << " scale " << scale;  // a bf16 value
      EXPECT_EQ(w, std::ldexp(E2M1ToF32(code) * E4M3ToF32(static_cast<uint8_t>(scale)), -8));
    }
  }
}

// The kernel's data movement for y[m, n] = sum_k x[m, k] w[n, k] (w = e2m1 * e4m3 * 2^-8, x already bf16-exact),
// accumulated in double. swap_slots: the packing puts slots 2 and 3 of the activations in each other's place.
std::vector<double> EmulateKernel(const std::vector<uint8_t>& codes, const std::vector<uint8_t>& scales,
                                  const std::vector<float>& x, int64_t m, int64_t n, int64_t k, bool swap_slots) {
  const int64_t k_tiles = k / kKTile, tiles = (m + 7) / 8;
  // The packing kernel: one 8-value word per (token, word), bf16 values per slot (here: floats, x is bf16-exact).
  std::vector<float> packed(static_cast<size_t>(tiles * 8 * k), 0.0f);  // 4 slots per uint2 index
  for (int64_t token = 0; token < tiles * 8; ++token) {
    for (int64_t e8 = 0; e8 < k / 8; ++e8) {
      const int64_t kt = e8 / 16;
      const int t = static_cast<int>(e8 % 16) / 4, w = static_cast<int>(e8 % 4);
      const int lane = static_cast<int>(token % 8) * 4 + t;
      for (int h = 0; h < 2; ++h) {
        for (int slot = 0; slot < 4; ++slot) {
          const int q = SlotNibble(h, swap_slots && slot >= 2 ? 5 - slot : slot);
          const float v = token < m ? x[token * k + e8 * 8 + q] : 0.0f;
          packed[PackedFragment(token / 8, kt, k_tiles, 2 * w + h, lane) * 4 + slot] = v;
        }
      }
    }
  }
  std::vector<double> y(static_cast<size_t>(m * n), 0.0);
  for (int64_t row0 = 0; row0 < n; row0 += 16) {  // one 16-row A tile
    for (int64_t tile = 0; tile < tiles; ++tile) {
      double d[16][8] = {};
      for (int64_t kt = 0; kt < k_tiles; ++kt) {
        for (int s = 0; s < kSteps; ++s) {
          const int w = s / 2, h = s % 2;
          double a[16][16] = {}, b[16][8] = {};
          for (int lane = 0; lane < 32; ++lane) {
            const int g = lane / 4, t = lane % 4;
            // A: rows g and g + 8 (clamped as the kernel does), from the lane's code word w and block scale.
            for (int half = 0; half < 2; ++half) {
              const int64_t row = std::min<int64_t>(row0 + g + 8 * half, n - 1);
              const uint8_t* chunk = codes.data() + row * (k / 2) + kt * 64 + t * 16;
              uint32_t word = 0;
              std::memcpy(&word, chunk + 4 * w, 4);
              const uint8_t scale = scales[row * (k / 16) + kt * 8 + 2 * t + ScaleOfWord(w)];
              const float scale_bf16 = Bf16ToF32(F32ToBf16(std::ldexp(E4M3ToF32(scale), 118)));
              for (int pair = 0; pair < 2; ++pair) {  // register a0a1 / a4a5 (+ a2a3 / a6a7 for row g + 8)
                const uint32_t bits = CodePair(word, 2 * h + pair);
                a[g + 8 * half][2 * t + 8 * pair] = Bf16ToF32(static_cast<uint16_t>(bits)) * scale_bf16;
                a[g + 8 * half][2 * t + 8 * pair + 1] = Bf16ToF32(static_cast<uint16_t>(bits >> 16)) * scale_bf16;
              }
            }
            // B: column g, K rows 2t, 2t+1 (b0, b1), 2t+8, 2t+9 (b2, b3).
            const float* frag = &packed[PackedFragment(tile, kt, k_tiles, s, lane) * 4];
            b[2 * t][g] = frag[0];
            b[2 * t + 1][g] = frag[1];
            b[2 * t + 8][g] = frag[2];
            b[2 * t + 9][g] = frag[3];
          }
          for (int r = 0; r < 16; ++r) {
            for (int c = 0; c < 8; ++c) {
              for (int kk = 0; kk < 16; ++kk) d[r][c] += a[r][kk] * b[kk][c];
            }
          }
        }
      }
      // D: rows g, g + 8, columns 2t, 2t + 1 of each lane; stored where row < n and token < m.
      for (int r = 0; r < 16; ++r) {
        for (int c = 0; c < 8; ++c) {
          const int64_t row = row0 + r, token = tile * 8 + c;
          if (row < n && token < m) y[token * n + row] = d[r][c];
        }
      }
    }
  }
  return y;
}

TEST(W4A16MmaLayoutTest, EmulatedKernelEqualsTheDirectSum) {
  std::mt19937 rng(7);
  for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{3, 40, 256}, {11, 33, 384}, {17, 20, 128}}) {
    std::vector<uint8_t> codes(static_cast<size_t>(n * k / 2)), scales(static_cast<size_t>(n * k / 16));
    std::uniform_int_distribution<int> byte(0, 255), scale(0x30, 0x47), integer(-3, 3);
    for (uint8_t& c : codes) c = static_cast<uint8_t>(byte(rng));
    for (uint8_t& s : scales) s = static_cast<uint8_t>(scale(rng));
    std::vector<float> x(static_cast<size_t>(m * k));
    for (float& v : x) v = static_cast<float>(integer(rng));
    const std::vector<double> y = EmulateKernel(codes, scales, x, m, n, k, false);
    const std::vector<double> swapped = EmulateKernel(codes, scales, x, m, n, k, true);
    int mismatches = 0, swapped_mismatches = 0;
    for (int64_t t = 0; t < m; ++t) {
      for (int64_t j = 0; j < n; ++j) {
        double direct = 0.0;  // exact in double: integer x times multiples of 2^-13, K <= 384 terms
        for (int64_t i = 0; i < k; ++i) {
          const uint8_t code = (codes[j * (k / 2) + i / 2] >> (4 * (i % 2))) & 0xF;
          direct += x[t * k + i] * std::ldexp(E2M1ToF32(code) * E4M3ToF32(scales[j * (k / 16) + i / 16]), -8);
        }
        mismatches += y[t * n + j] != direct;
        swapped_mismatches += swapped[t * n + j] != direct;
      }
    }
    EXPECT_EQ(mismatches, 0) << "M " << m << ", N " << n << ", K " << k;
    EXPECT_GT(swapped_mismatches, m * n / 2) << "M " << m << ", N " << n << ", K " << k;
  }
}

}  // namespace
}  // namespace fp4lab
