#include "engine/cuda/w4a16_gemv.h"

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "engine/cuda/kernel_util.cuh"

namespace fp4lab::cuda {
namespace {

constexpr int kGemvThreads = 128;                 // split-K threads per block (4 warps)
constexpr int kGemvWarps = kGemvThreads / 32;
constexpr int kGemvCols = 4;                      // output columns per block; their chunks share one x load
constexpr int kChunkElems = 32;                   // elements per 16-byte code load
constexpr float kScaleOffset = 0x1p118f;          // block scales are used as e4m3 * 2^118
constexpr float kUndoOffsets = 256.0f;            // 2^8 = 1 / (2^-126 * 2^118)

// Codes j and j + 4 of the 8 in `word` (low nibble first) as f32, each equal to e2m1(code) * 2^-126: the nibble
// moves to the top 4 bits (sign at bit 31) and its exponent+mantissa bits to 22..24 (the 0.5 code becomes the
// subnormal 2^-127).
template <int kJ>
__device__ __forceinline__ void PairToF32(uint32_t word, float& lo, float& hi) {
  const uint32_t y = (word << (12 - 4 * kJ)) & 0xF000F000u;  // code j at bits 12..15, code j + 4 at 28..31
  const uint32_t t = y | (y >> 6);
  lo = __uint_as_float((t << 16) & 0x81C00000u);
  hi = __uint_as_float(t & 0x81C00000u);
}

// Both E4M3 scales of a chunk (.x: elements 0..15) times 2^118, exact: hardware E4M3 -> f16 conversion (sm_89+),
// then f32.
__device__ __forceinline__ float2 ScalesToF32(uint16_t pair) {
  const __half2_raw raw = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(pair), __NV_E4M3);
  const float2 f = __half22float2(__half2(raw));
  return make_float2(__fmul_rn(f.x, kScaleOffset), __fmul_rn(f.y, kScaleOffset));
}

// Block b owns columns [kGemvCols b, kGemvCols (b + 1)); thread t takes chunks t, t + T, ... of each of them.
// kRows >= m is the padded row count (rows >= m are skipped).
template <int kRows>
__global__ void __launch_bounds__(kGemvThreads) W4A16GemvKernel(const float* __restrict__ x, int m,
                                                                const uint4* __restrict__ codes,
                                                                const uint16_t* __restrict__ scales, int64_t n,
                                                                int64_t chunks, float weight_scale_2,
                                                                const float* __restrict__ bias, float* y) {
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kGemvCols;
  const int64_t k = chunks * kChunkElems;
  float acc[kRows][kGemvCols] = {};
  for (int64_t c = threadIdx.x; c < chunks; c += kGemvThreads) {
    uint4 q[kGemvCols];
    uint16_t s[kGemvCols];
#pragma unroll
    for (int i = 0; i < kGemvCols; ++i) {
      const bool live = col0 + i < n;
      q[i] = live ? __ldg(codes + (col0 + i) * chunks + c) : make_uint4(0, 0, 0, 0);
      s[i] = live ? __ldg(scales + (col0 + i) * chunks + c) : uint16_t{0};
    }
    float2 sc[kGemvCols];
#pragma unroll
    for (int i = 0; i < kGemvCols; ++i) sc[i] = ScalesToF32(s[i]);
    // One 32-bit word (8 elements) at a time keeps few registers live: its weights for every column, then every row.
#pragma unroll
    for (int wd = 0; wd < 4; ++wd) {
      float w[kGemvCols][8];  // [j] = element 8 wd + j of the chunk
#pragma unroll
      for (int i = 0; i < kGemvCols; ++i) {
        const uint32_t word = wd == 0 ? q[i].x : wd == 1 ? q[i].y : wd == 2 ? q[i].z : q[i].w;
        const float scale = wd < 2 ? sc[i].x : sc[i].y;  // words 0-1: elements 0..15, words 2-3: 16..31
        PairToF32<0>(word, w[i][0], w[i][4]);
        PairToF32<1>(word, w[i][1], w[i][5]);
        PairToF32<2>(word, w[i][2], w[i][6]);
        PairToF32<3>(word, w[i][3], w[i][7]);
#pragma unroll
        for (int j = 0; j < 8; ++j) w[i][j] = __fmul_rn(w[i][j], scale);  // exact (see the header)
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r >= m) break;
        const float4* xw = reinterpret_cast<const float4*>(x + r * k + c * kChunkElems + wd * 8);
        const float4 lo = __ldg(xw), hi = __ldg(xw + 1);
        const float xv[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
        for (int i = 0; i < kGemvCols; ++i) {
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[r][i] = fmaf(xv[j], w[i][j], acc[r][i]);
        }
      }
    }
  }
  __shared__ float partial[kGemvWarps][kRows * kGemvCols];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int i = 0; i < kGemvCols; ++i) {
      const float total = WarpSum(acc[r][i]);
      if (lane == 0) partial[warp][r * kGemvCols + i] = total;
    }
  }
  __syncthreads();
  if (threadIdx.x < kRows * kGemvCols) {
    const int r = threadIdx.x / kGemvCols, i = threadIdx.x % kGemvCols;
    const int64_t col = col0 + i;
    if (r < m && col < n) {
      float total = 0.0f;
#pragma unroll
      for (int v = 0; v < kGemvWarps; ++v) total += partial[v][threadIdx.x];
      float out = __fmul_rn(__fmul_rn(total, kUndoOffsets), weight_scale_2);  // the first product is exact
      if (bias != nullptr) out = __fadd_rn(out, bias[col]);
      y[r * n + col] = out;
    }
  }
}

template <int kRows>
cudaError_t Launch(const float* x, int64_t m, const uint8_t* codes, const uint8_t* scales, int64_t n, int64_t k,
                   float weight_scale_2, const float* bias, float* y, cudaStream_t stream) {
  const int64_t blocks = (n + kGemvCols - 1) / kGemvCols;
  if (blocks > kMaxGridX) return cudaErrorInvalidConfiguration;
  W4A16GemvKernel<kRows><<<static_cast<unsigned>(blocks), kGemvThreads, 0, stream>>>(
      x, static_cast<int>(m), reinterpret_cast<const uint4*>(codes), reinterpret_cast<const uint16_t*>(scales), n,
      k / kChunkElems, weight_scale_2, bias, y);
  return cudaGetLastError();
}

}  // namespace

bool W4A16GemvSupports(int64_t m, int64_t k) {
  return m >= 1 && m <= kW4A16GemvMaxRows && k >= 0 && k % kChunkElems == 0;
}

cudaError_t LaunchW4A16Gemv(const float* x, int64_t m, const uint8_t* codes, const uint8_t* scales, int64_t n,
                            int64_t k, float weight_scale_2, const float* bias, float* y, cudaStream_t stream) {
  if (!W4A16GemvSupports(m, k) || n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  if (m == 1) return Launch<1>(x, m, codes, scales, n, k, weight_scale_2, bias, y, stream);
  if (m == 2) return Launch<2>(x, m, codes, scales, n, k, weight_scale_2, bias, y, stream);
  if (m <= 4) return Launch<4>(x, m, codes, scales, n, k, weight_scale_2, bias, y, stream);
  if (m <= 8) return Launch<8>(x, m, codes, scales, n, k, weight_scale_2, bias, y, stream);
  return Launch<16>(x, m, codes, scales, n, k, weight_scale_2, bias, y, stream);
}

}  // namespace fp4lab::cuda
