#include "engine/cuda/w4a16_mma_gemm.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/launch.h"
#include "engine/cuda/nvfp4_unpack.cuh"
#include "engine/cuda/w4a16_mma_layout.h"

namespace fp4lab::cuda {
namespace {

using w4a16_mma::CodePair;
using w4a16_mma::kKTile;
using w4a16_mma::PackedFragment;
using w4a16_mma::ScaleOfWord;
using w4a16_mma::SlotNibble;

constexpr int kGemmWarps = 4;                 // warps per block, each with its own rows
constexpr int kRowTiles = 2;                  // 16-row MMA tiles per warp
constexpr int kWarpRows = 16 * kRowTiles;
constexpr int kMaxTokenTiles = 8;             // 8-token tiles per warp at most (64 tokens)
constexpr int kWarpsPerSmTarget = 16;         // warps per SM that keep enough weight loads in flight (split K below)

// ----------------------------------------------------------------------------------------------------------------
// Packing x: f32 [m, k] -> bf16 in fragment order (w4a16_mma_layout.h): lane l = 4g + t's B fragment for token tile
// T, K tile kt and step s = 2w + h at PackedFragment(T, kt, k_tiles, s, l) holds the bf16 of x[8T + g][kt * 128 +
// TileElement(t, s, slot)] for slots 0..3. Tokens >= m are zero. One thread per 8 consecutive x values (word w of
// lane column t: elements 32t + 8w .. + 7, whose nibble q is element q of the word).
// x (written by the kernel before) is read with ordinary loads after the wait (programmatic dependent launch).
__global__ void PackActivationsKernel(const float* x, int64_t m, int64_t k, int64_t padded_rows, uint2* packed) {
  WaitForPriorGrids();
  LetDependentGridsLaunch();  // the MMA kernel may start loading weights; it waits for this grid before reading
  const int64_t words_per_row = k / 8, k_tiles = k / kKTile;
  for (int64_t i = GlobalThread(); i < padded_rows * words_per_row; i += GlobalStride()) {
    const int64_t token = i / words_per_row, e8 = i % words_per_row;
    float q[8] = {};
    if (token < m) {
      const float4 lo = *reinterpret_cast<const float4*>(x + token * k + e8 * 8);
      const float4 hi = *reinterpret_cast<const float4*>(x + token * k + e8 * 8 + 4);
      q[0] = lo.x, q[1] = lo.y, q[2] = lo.z, q[3] = lo.w, q[4] = hi.x, q[5] = hi.y, q[6] = hi.z, q[7] = hi.w;
    }
    const int64_t kt = e8 / 16;
    const int t = static_cast<int>(e8 % 16) / 4, w = static_cast<int>(e8 % 4);
    const int lane = static_cast<int>(token % 8) * 4 + t;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const __nv_bfloat162 b01 = __floats2bfloat162_rn(q[SlotNibble(h, 0)], q[SlotNibble(h, 1)]);  // .x = low half
      const __nv_bfloat162 b23 = __floats2bfloat162_rn(q[SlotNibble(h, 2)], q[SlotNibble(h, 3)]);
      uint2 v;
      memcpy(&v.x, &b01, 4);
      memcpy(&v.y, &b23, 4);
      packed[PackedFragment(token / 8, kt, k_tiles, 2 * w + h, lane)] = v;
    }
  }
}

// ----------------------------------------------------------------------------------------------------------------
// Dequantization in registers (the header states why each value is exact).

// The two block scales of a lane's 32 elements (low byte: elements 0..15) as bf16x2 pairs e4m3 * 2^118, each value in
// both halves.
__device__ __forceinline__ void ScalePairs(uint32_t bits, __nv_bfloat162 (&pair)[2]) {
  const float2 f = __half22float2(ScalesToHalf2<2>(bits));  // exact: e4m3 -> fp16 -> f32
  pair[0] = __float2bfloat162_rn(f.x * 0x1p118f);           // exact (4 significant bits, below 2^127)
  pair[1] = __float2bfloat162_rn(f.y * 0x1p118f);
}

__device__ __forceinline__ uint32_t ScaleCodes(uint32_t codes, __nv_bfloat162 scale) {
  __nv_bfloat162 c;
  memcpy(&c, &codes, 4);
  const __nv_bfloat162 w = __hmul2_rn(c, scale);  // e2m1 * e4m3 * 2^-8, exact (subnormal c included)
  uint32_t out;
  memcpy(&out, &w, 4);
  return out;
}

__device__ __forceinline__ void Mma(float (&d)[4], const uint32_t (&a)[4], uint2 b) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b.x), "r"(b.y));
}

// One K tile of a warp's weights: per row tile, rows g and g + 8: 16 code bytes and 2 block scales each.
struct WeightTile {
  uint4 codes[kRowTiles][2];
  uint32_t scales[kRowTiles][2];
};

__device__ __forceinline__ void LoadWeightTile(const uint8_t* const (&code_rows)[kRowTiles][2],
                                               const uint8_t* const (&scale_rows)[kRowTiles][2], int64_t kt,
                                               WeightTile& tile) {
#pragma unroll
  for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      tile.codes[rt][half] = LoadStreaming(reinterpret_cast<const uint4*>(code_rows[rt][half] + kt * (kKTile / 2)));
      tile.scales[rt][half] = LoadScales<2>(scale_rows[rt][half] + kt * (kKTile / 16));
    }
  }
}

__device__ __forceinline__ float Unscale(float acc, float out_scale) {
  return __fmul_rn(__fmul_rn(acc, 0x1p8f), out_scale);  // * 2^8 exact, then one rounding
}

// y (or this split's partials) for rows [row0, row0 + 32) of the block's warp and tokens of tiles [tile0, tile0 +
// kTokenTiles), over K tiles [blockIdx.z * k_tiles_per_split, ...). partials null: y = unscaled acc (+ bias).
// Programmatic dependent launch: the first K tile of weights (which no kernel of a forward pass writes) is requested
// before the wait; packed_x, y and partials are touched only after it, packed_x with ordinary loads.
template <int kTokenTiles>
__global__ void __launch_bounds__(kGemmWarps * 32)
    W4A16MmaKernel(const uint2* packed_x, const uint8_t* __restrict__ codes, const uint8_t* __restrict__ scales,
                   int64_t m, int64_t n, int64_t k, int64_t k_tiles_per_split, float out_scale,
                   const float* __restrict__ bias, float* y, float* partials) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * kGemmWarps + threadIdx.x / 32) * kWarpRows;
  if (row0 >= n) return;  // whole warp
  const int64_t k_tiles = k / kKTile, x_tiles = (m + 7) / 8;
  const int64_t kt_begin = static_cast<int64_t>(blockIdx.z) * k_tiles_per_split;
  const int64_t kt_end = min(k_tiles, kt_begin + k_tiles_per_split);
  const int64_t tile0 = static_cast<int64_t>(blockIdx.y) * kTokenTiles;

  // Rows g and g + 8 of each row tile, clamped to the last row: rows >= n are computed but never stored.
  const uint8_t* code_rows[kRowTiles][2];
  const uint8_t* scale_rows[kRowTiles][2];
#pragma unroll
  for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int64_t row = min(row0 + rt * 16 + half * 8 + g, n - 1);
      code_rows[rt][half] = codes + row * (k / 2) + t * 16;
      scale_rows[rt][half] = scales + row * (k / 16) + t * 2;
    }
  }

  float acc[kRowTiles][kTokenTiles][4] = {};
  WeightTile next;
  if (kt_begin < kt_end) LoadWeightTile(code_rows, scale_rows, kt_begin, next);
  WaitForPriorGrids();  // no early LetDependentGridsLaunch: waiting successors would take slots of later blocks
  for (int64_t kt = kt_begin; kt < kt_end; ++kt) {
    const WeightTile cur = next;
    if (kt + 1 < kt_end) LoadWeightTile(code_rows, scale_rows, kt + 1, next);
    __nv_bfloat162 scale[kRowTiles][2][2];  // [row tile][row half][elements 0..15 / 16..31]
#pragma unroll
    for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
      for (int half = 0; half < 2; ++half) ScalePairs(cur.scales[rt][half], scale[rt][half]);
    }
#pragma unroll
    for (int w = 0; w < 4; ++w) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int s = 2 * w + h;
        uint2 b[kTokenTiles];
#pragma unroll
        for (int i = 0; i < kTokenTiles; ++i) {
          b[i] = tile0 + i < x_tiles ? packed_x[PackedFragment(tile0 + i, kt, k_tiles, s, lane)] : make_uint2(0u, 0u);
        }
#pragma unroll
        for (int rt = 0; rt < kRowTiles; ++rt) {
          const uint32_t lo = Word(cur.codes[rt][0], w), hi = Word(cur.codes[rt][1], w);
          const __nv_bfloat162 s_lo = scale[rt][0][ScaleOfWord(w)], s_hi = scale[rt][1][ScaleOfWord(w)];
          // A fragment: (row g, slots 0, 1), (row g + 8, slots 0, 1), (row g, slots 2, 3), (row g + 8, slots 2, 3);
          // CodePair(word, 2h) holds slots 0, 1 and CodePair(word, 2h + 1) slots 2, 3 (SlotNibble).
          const uint32_t a[4] = {ScaleCodes(CodePair(lo, 2 * h), s_lo), ScaleCodes(CodePair(hi, 2 * h), s_hi),
                                 ScaleCodes(CodePair(lo, 2 * h + 1), s_lo), ScaleCodes(CodePair(hi, 2 * h + 1), s_hi)};
#pragma unroll
          for (int i = 0; i < kTokenTiles; ++i) {
            if (tile0 + i < x_tiles) Mma(acc[rt][i], a, b[i]);
          }
        }
      }
    }
  }

  // D fragment: acc[.][.][0..1] = row g, tokens 2t, 2t+1 of the tile; [2..3] = row g + 8.
#pragma unroll
  for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
    for (int i = 0; i < kTokenTiles; ++i) {
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int64_t row = row0 + rt * 16 + g + (r >= 2 ? 8 : 0);
        const int64_t token = (tile0 + i) * 8 + 2 * t + (r & 1);
        if (row >= n || token >= m) continue;
        if (partials != nullptr) {
          partials[(static_cast<int64_t>(blockIdx.z) * m + token) * n + row] = acc[rt][i][r];
        } else {
          float v = Unscale(acc[rt][i][r], out_scale);
          if (bias != nullptr) v = __fadd_rn(v, bias[row]);
          y[token * n + row] = v;
        }
      }
    }
  }
}

// y[i] = unscaled (sum of the splits' partials in split order) (+ bias), for i < m * n. partials are read with
// ordinary loads after the wait (programmatic dependent launch).
__global__ void SumSplitsKernel(const float* partials, int splits, int64_t m, int64_t n, float out_scale,
                                const float* __restrict__ bias, float* y) {
  WaitForPriorGrids();
  LetDependentGridsLaunch();
  const int64_t count = m * n;
  for (int64_t i = GlobalThread(); i < count; i += GlobalStride()) {
    float sum = partials[i];
    for (int z = 1; z < splits; ++z) sum = __fadd_rn(sum, partials[z * count + i]);
    float v = Unscale(sum, out_scale);
    if (bias != nullptr) v = __fadd_rn(v, bias[i % n]);
    y[i] = v;
  }
}

template <int kTokenTiles>
cudaError_t LaunchMma(const uint2* packed_x, int64_t m, const uint8_t* codes, const uint8_t* scales, int64_t n,
                      int64_t k, float weight_scale_2, const float* bias, float* y, const W4A16GemmPlan& plan,
                      float* partials, cudaStream_t stream, bool programmatic) {
  const int64_t row_groups = (n + kWarpRows - 1) / kWarpRows;
  const dim3 grid(static_cast<unsigned>((row_groups + kGemmWarps - 1) / kGemmWarps),
                  static_cast<unsigned>(((m + 7) / 8 + kTokenTiles - 1) / kTokenTiles),
                  static_cast<unsigned>(plan.splits));
  return LaunchKernel(W4A16MmaKernel<kTokenTiles>, grid, dim3(kGemmWarps * 32), 0, stream, programmatic, packed_x,
                      codes, scales, m, n, k, plan.k_tiles_per_split, weight_scale_2,
                      plan.splits > 1 ? nullptr : bias, y, plan.splits > 1 ? partials : nullptr);
}

}  // namespace

bool W4A16GemmSupports(int64_t m, int64_t n, int64_t k) {
  return m >= 1 && n >= 1 && k > 0 && k % kKTile == 0 && k <= (int64_t{1} << 24);
}

cudaError_t PlanW4A16Gemm(int64_t m, int64_t n, int64_t k, W4A16GemmPlan* plan) {
  if (!W4A16GemmSupports(m, n, k)) return cudaErrorInvalidValue;
  int device = 0, sms = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return err;
  const int64_t x_tiles = (m + 7) / 8;
  plan->token_tiles = x_tiles <= 1 ? 1 : x_tiles <= 2 ? 2 : x_tiles <= 4 ? 4 : kMaxTokenTiles;
  const int64_t warps = (n + kWarpRows - 1) / kWarpRows * ((x_tiles + plan->token_tiles - 1) / plan->token_tiles);
  const int64_t k_tiles = k / kKTile;
  // Enough warps for the memory system, but partial sums (written and read once) of at most the weight bytes.
  const int64_t wanted = (int64_t{sms} * kWarpsPerSmTarget + warps - 1) / warps;
  const int64_t partial_cap = std::max<int64_t>(1, 9 * k / (64 * m));  // splits * m * n * 4 <= n * k * 9 / 16
  const int64_t splits = std::clamp<int64_t>(std::min(wanted, partial_cap), 1, k_tiles);
  plan->k_tiles_per_split = (k_tiles + splits - 1) / splits;
  plan->splits = static_cast<int>((k_tiles + plan->k_tiles_per_split - 1) / plan->k_tiles_per_split);
  plan->packed_x_bytes = x_tiles * 8 * k * 2;
  plan->partial_bytes = plan->splits > 1 ? int64_t{plan->splits} * m * n * 4 : 0;
  return cudaSuccess;
}

cudaError_t LaunchW4A16Gemm(const float* x, int64_t m, const uint8_t* codes, const uint8_t* scales, int64_t n,
                            int64_t k, float weight_scale_2, const float* bias, float* y, const W4A16GemmPlan& plan,
                            void* packed_x, float* partials, cudaStream_t stream, bool allow_overlap) {
  if (!W4A16GemmSupports(m, n, k) || (plan.splits > 1 && partials == nullptr)) return cudaErrorInvalidValue;
  int device = 0, major = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  if (err != cudaSuccess) return err;
  const bool programmatic = allow_overlap && major >= 9;
  const int64_t padded_rows = (m + 7) / 8 * 8;
  auto* packed = static_cast<uint2*>(packed_x);
  err = LaunchKernel(PackActivationsKernel, dim3(GridFor(padded_rows * k / 8)), dim3(kThreads), 0, stream,
                     programmatic, x, m, k, padded_rows, packed);
  if (err != cudaSuccess) return err;
  const auto mma = [&](auto launch) {
    return launch(packed, m, codes, scales, n, k, weight_scale_2, bias, y, plan, partials, stream, programmatic);
  };
  switch (plan.token_tiles) {
    case 1: err = mma(LaunchMma<1>); break;
    case 2: err = mma(LaunchMma<2>); break;
    case 4: err = mma(LaunchMma<4>); break;
    case 8: err = mma(LaunchMma<8>); break;
    default: return cudaErrorInvalidValue;
  }
  if (err != cudaSuccess || plan.splits == 1) return err;
  return LaunchKernel(SumSplitsKernel, dim3(GridFor(m * n)), dim3(kThreads), 0, stream, programmatic,
                      static_cast<const float*>(partials), plan.splits, m, n, weight_scale_2, bias, y);
}

}  // namespace fp4lab::cuda
