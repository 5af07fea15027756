#include "engine/cuda/w4a16_gemv.h"

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <utility>

#include "engine/cuda/bulk_copy.cuh"
#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/launch.h"
#include "engine/cuda/nvfp4_unpack.cuh"

namespace fp4lab::cuda {
namespace {

constexpr int kWarps = 4;  // warps per block
constexpr int kBlockThreads = kWarps * 32;
constexpr int kMaxDevices = kMaxCachedDevices;  // per-device caches (launch.h); later devices query on every call

// Kernel B's work split and numerics for a padded row count kRows (rows >= m repeat row m - 1 and are not stored).
//   kCols      columns per lane: each x value a lane loads serves kCols columns
//   kStages    steps of code loads in flight per warp
//   kScalePartial  block scale applied once per 16-element partial sum (M <= 2), else per weight (fp16x2 multiply)
//   kMinBlocks     __launch_bounds__ residency
template <int kRows>
struct Config {
  static constexpr bool kScalePartial = kRows <= 2;
  static constexpr int kLanesK = 4;                  // lanes that take consecutive pieces of one column
  static constexpr int kSlots = 32 / kLanesK;        // lane columns across a warp
  static constexpr int kCols = kRows == 1 ? 1 : 2;
  static constexpr int kStages = kRows <= 2 ? 4 : (kRows <= 4 ? 3 : 2);
  static constexpr int kMinBlocks = kRows <= 2 ? 4 : (kRows <= 8 ? 3 : 2);
  static constexpr int kWarpCols = kSlots * kCols;   // output columns per warp
  // Accumulator units: y / (weight_scale_2 * kUnit); see the header.
  static constexpr float kUnit = kScalePartial ? 0x1p14f : 0x1p7f;
};

// ---------------------------------------------------------------------------------------------------------------
// Kernel A, M = 1 ("x resident"): thread t of a block keeps x piece t in registers for the whole block and streams the
// block's tile of columns past it. Per column: one code load per thread (a warp reads 32 consecutive pieces of a row:
// coalesced, bank-conflict free), one partial sum (a 16-element FMA chain per block scale, scaled inside an FMA).
// Every 8 columns the warp reduces its partials with a transposed butterfly (each lane ends with one column's warp
// sum), and the warp sums meet in shared memory once, after the loop. x is read once per block, so L1 only moves
// codes. Each thread holds kResidentStages columns of code loads in registers; ptxas issues the refills for the next
// 8 columns at the end of each group, so a group's loads overlap the other resident warps' work.
constexpr int kResidentMaxThreads = 512;  // threads (pieces) per block at most: K <= 512 * piece elements
constexpr int kResidentMaxWarps = kResidentMaxThreads / 32;
constexpr int kGroupCols = 8;             // columns reduced together
constexpr int kResidentMaxTile = 128;     // columns per block at most (shared memory)
constexpr int kResidentStages = 8;        // columns of code loads in flight per thread (divides kGroupCols)

// Sums v[c] over the warp for c < 8 and returns, in every lane, the sum for column (lane >> 2) & 7: three levels of
// a reduce-scatter butterfly (each lane keeps the half of its values named by one lane bit and adds its partner's
// copy of that half), then two plain levels. Fixed order: deterministic.
__device__ __forceinline__ float ReduceScatter8(float (&v)[kGroupCols], int lane) {
#pragma unroll
  for (int level = 0; level < 3; ++level) {
    const int offset = 16 >> level, half = 4 >> level;
    const bool upper = (lane & offset) != 0;
#pragma unroll
    for (int i = 0; i < half; ++i) {
      const float send = upper ? v[i] : v[i + half];
      const float keep = upper ? v[i + half] : v[i];
      v[i] = keep + __shfl_xor_sync(0xFFFFFFFFu, send, offset);
    }
  }
  v[0] += __shfl_xor_sync(0xFFFFFFFFu, v[0], 2);
  v[0] += __shfl_xor_sync(0xFFFFFFFFu, v[0], 1);
  return v[0];
}

template <int kPieceBytes>
struct ColumnStage {
  Piece<kPieceBytes> q;
  uint32_t s;
};

// Piece `piece` of x (kElems floats, 16-byte loads) into registers, or zeros for a thread past the row's end
// (live false). Kernels A and T, after the PDL wait.
template <int kElems>
__device__ __forceinline__ void LoadXPiece(const float* x, int piece, bool live, float (&xr)[kElems]) {
  const float4* x4 = reinterpret_cast<const float4*>(x);
#pragma unroll
  for (int i = 0; i < kElems / 4; ++i) {
    const float4 v = live ? x4[piece * (kElems / 4) + i] : float4{};
    xr[4 * i] = v.x;
    xr[4 * i + 1] = v.y;
    xr[4 * i + 2] = v.z;
    xr[4 * i + 3] = v.w;
  }
}

// One column's partial sum over one thread's piece (codes q, block scales s) against that piece of x, in units of
// 2^-14 (see the header): a 16-element FMA chain per block scale, scaled inside an FMA. Kernel A; kernel T does the
// same operations, interleaved over 8 columns.
template <int kPieceBytes>
__device__ __forceinline__ float ColumnSum(const ColumnStage<kPieceBytes>& st, const float (&xr)[2 * kPieceBytes]) {
  constexpr int kGroups = kPieceBytes / 8;
  const __half2 scale = ScalesToHalf2<kGroups>(st.s);
  float total = 0.0f;
#pragma unroll
  for (int g = 0; g < kGroups; ++g) {
    float part = 0.0f;
#pragma unroll
    for (int wd = 2 * g; wd < 2 * g + 2; ++wd) {
      __half2 h[4];
      WordToHalf2(Word(st.q, wd), h);
      float w[8];
      Half2ToF32(h, w);
#pragma unroll
      for (int e = 0; e < 8; ++e) part = fmaf(xr[8 * wd + e], w[e], part);
    }
    total = fmaf(part, g == 0 ? __low2float(scale) : __high2float(scale), total);
  }
  return total;
}

// Block b owns columns [b * tile_cols, (b + 1) * tile_cols) (tile_cols a multiple of 8, at most kResidentMaxTile
// and at most n); the last block, where that range passes n, computes the tile ending at column n - 1 and stores only
// its own columns. Thread t owns piece t of every row (blockDim.x >= pieces, a multiple of 32); threads past the
// last piece repeat it with x = 0. Loads carry no branches. x and bias (both kernels) are not __restrict__, so the
// compiler reads them with coherent loads, not ld.global.nc: another kernel may write them until WaitForPriorGrids.
template <int kPieceBytes>
__global__ void __launch_bounds__(kResidentMaxThreads)
    ResidentXKernel(const float* x, const uint8_t* __restrict__ codes, const uint8_t* __restrict__ scales, int64_t n,
                    int k, int tile_cols, float weight_scale_2, const float* bias, float* __restrict__ y) {
  using P = Piece<kPieceBytes>;
  constexpr int kElems = 2 * kPieceBytes, kGroups = kElems / 16;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  const int pieces = k / kElems;
  const bool live = static_cast<int>(threadIdx.x) < pieces;
  const int piece = live ? static_cast<int>(threadIdx.x) : pieces - 1;
  const int64_t first_col = static_cast<int64_t>(blockIdx.x) * tile_cols;  // first column this block stores
  const int64_t col0 = first_col + tile_cols <= n ? first_col : n - tile_cols;
  const int64_t row_bytes = k / 2, row_scales = k / 16;

  // Column c of the tile is read through code_ptr + c * row_bytes (scales alike); the pointers advance as the
  // loads go out.
  const uint8_t* code_ptr = codes + col0 * row_bytes + piece * kPieceBytes;
  const uint8_t* scale_ptr = scales + col0 * row_scales + piece * kGroups;
  auto load_next = [&](ColumnStage<kPieceBytes>& st) {
    st.q = LoadStreaming(reinterpret_cast<const P*>(code_ptr));
    st.s = LoadScales<kGroups>(scale_ptr);
    code_ptr += row_bytes;
    scale_ptr += row_scales;
  };
  ColumnStage<kPieceBytes> stage[kResidentStages];
#pragma unroll
  for (int i = 0; i < kResidentStages; ++i) load_next(stage[i]);

  // The loads above may overlap the kernel before this one (programmatic dependent launch); x, bias and y are
  // touched only after it has completed. Every thread waits: tile_cols >= 8 always, and the branch only keeps ptxas
  // from scheduling the wait above the loads, which it does when both sit in one basic block (kernel B has its own
  // branch; the SASS check is in docs/perf/w4a16_gemv.md).
  if (tile_cols > 0) WaitForPriorGrids();
  LetDependentGridsLaunch();

  float xr[kElems];
  LoadXPiece<kElems>(x, piece, live, xr);

  auto column_sum = [&](const ColumnStage<kPieceBytes>& st) { return ColumnSum(st, xr); };

  __shared__ float warp_sums[kResidentMaxWarps][kResidentMaxTile];
  // Columns c0 .. c0 + 7; with `refill`, each consumed stage is refilled with the column kResidentStages later.
  auto group = [&](int c0, auto refill) {
    float v[kGroupCols];
#pragma unroll
    for (int j = 0; j < kGroupCols; ++j) {
      v[j] = column_sum(stage[j % kResidentStages]);
      if constexpr (decltype(refill)::value) load_next(stage[j % kResidentStages]);
    }
    const float sum = ReduceScatter8(v, lane);
    if ((lane & 3) == 0) warp_sums[warp][c0 + ((lane >> 2) & 7)] = sum;
  };
  int c0 = 0;
  for (; c0 + kGroupCols < tile_cols; c0 += kGroupCols) group(c0, std::true_type{});
  group(c0, std::false_type{});
  __syncthreads();
  for (int c = threadIdx.x; c < tile_cols; c += blockDim.x) {
    const int64_t col = col0 + c;
    if (col < first_col) continue;  // the previous block's column (last block only)
    float total = 0.0f;
    for (int w = 0; w < warps; ++w) total += warp_sums[w][c];
    float out = __fmul_rn(__fmul_rn(total, 0x1p14f), weight_scale_2);  // the first product is exact
    if (bias != nullptr) out = __fadd_rn(out, bias[col]);
    y[col] = out;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Kernel T, M = 1 with 16-byte pieces, when each block's whole tile fits in shared memory ("tile prefetch"): kernel
// A's per-thread work (x piece t in registers, one partial sum per column, one butterfly per 8 columns), but the
// block's weights are requested all at once, before the wait for the previous kernel, by bulk copies (cp.async.bulk,
// the copy engine) into shared memory: the bytes in flight cost neither registers nor per-thread load instructions,
// and the whole transfer may overlap the previous kernel (programmatic dependent launch). A chunk is 8 consecutive
// columns: their codes (8 k / 2 contiguous bytes) and block scales (8 k / 16 contiguous bytes), two copies that
// complete on the chunk's `full` mbarrier. Block b of G takes chunks b, b + G, b + 2 G, ... (G = the blocks resident
// at once: one wave, balanced to one chunk); the launch takes kernel T only when every block's chunks fit.
// Per chunk, each warp waits for `full`, reads its pieces (a warp reads 512 contiguous bytes per column: no bank
// conflicts), reduces, writes its 8 warp sums to shared memory and arrives on the chunk's `empty` mbarrier; warp 0
// waits for `empty`, sums the warps' partials in warp order and stores the 8 outputs. Same partial sums, butterfly
// and warp order as kernel A: the same bits.
constexpr int kTileMaxChunks = 4;           // chunks per block at most
constexpr int kTileBlockBudget = 56 * 1024;  // shared-memory bytes of weights per block (at least 2 chunks' worth)
constexpr int kTileSmBudget = 120 * 1024;    // shared memory of the resident blocks per SM (at least one block)

// Bytes between chunks in shared memory: one chunk of codes and scales, rounded up to 128.
__host__ __device__ constexpr int TileChunkStride(int k) { return (kGroupCols * (k / 2 + k / 16) + 127) / 128 * 128; }
// Dynamic shared memory of kernel T: the chunks, then a full and an empty mbarrier per chunk, then the warp sums
// [chunks][warps][8] (f32).
__host__ __device__ constexpr int TileSmemBytes(int k, int warps, int block_chunks) {
  return block_chunks * (TileChunkStride(k) + 2 * 8 + warps * kGroupCols * 4);
}


// REQUIRES k % 32 == 0, k / 32 <= kResidentMaxThreads, blockDim.x = 32 * ceil(k / 32 / 32), n >= 8, gridDim.x <=
// ceil(n / 8), 1 <= block_chunks <= kTileMaxChunks, every block's chunk count (ceil(n / 8) over gridDim.x, rounded
// up) <= block_chunks, TileSmemBytes(k, warps, block_chunks) bytes of dynamic shared memory, codes and scales 16-byte
// aligned and, unless n % 8 == 0, k % 256 == 0 (the last chunk starts at column n - 8: its scales must stay 16-byte
// aligned). Chunk c covers columns [min(8 c, n - 8), + 8) and stores those >= 8 c.
__global__ void __launch_bounds__(kResidentMaxThreads)
    TileKernel(const float* x, const uint8_t* __restrict__ codes, const uint8_t* __restrict__ scales, int64_t n, int k,
               int block_chunks, float weight_scale_2, const float* bias, float* __restrict__ y) {
  constexpr int kPieceBytes = 16, kElems = 32;
  extern __shared__ __align__(128) uint8_t tile[];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  const int pieces = k / kElems;
  const bool live = static_cast<int>(threadIdx.x) < pieces;
  const int piece = live ? static_cast<int>(threadIdx.x) : pieces - 1;  // threads past the last piece: x = 0
  const int row_bytes = k / 2, row_scales = k / 16;
  const uint32_t code_bytes = kGroupCols * row_bytes, scale_bytes = kGroupCols * row_scales;
  const int stride = TileChunkStride(k);
  uint64_t* full = reinterpret_cast<uint64_t*>(tile + block_chunks * stride);
  uint64_t* empty = full + block_chunks;
  float* warp_sums = reinterpret_cast<float*>(empty + block_chunks);  // [block_chunks][warps][8]
  const int64_t chunks = (n + kGroupCols - 1) / kGroupCols;
  const int my_chunks = static_cast<int>((chunks - 1 - blockIdx.x) / gridDim.x) + 1;  // <= block_chunks

  if (threadIdx.x == 0) {
    for (int i = 0; i < my_chunks; ++i) {
      BarrierInit(&full[i], 1);
      BarrierInit(&empty[i], warps);
    }
    BarrierInitFence();
    // Weights only: these copies may overlap the kernel before this one (programmatic dependent launch).
    for (int i = 0; i < my_chunks; ++i) {
      const int64_t chunk = blockIdx.x + static_cast<int64_t>(i) * gridDim.x;
      const int64_t c0 = min(chunk * kGroupCols, n - kGroupCols);
      BarrierArriveExpectBytes(&full[i], code_bytes + scale_bytes);
      BulkLoad(tile + i * stride, codes + c0 * row_bytes, code_bytes, &full[i]);
      BulkLoad(tile + i * stride + code_bytes, scales + c0 * row_scales, scale_bytes, &full[i]);
    }
  }
  __syncthreads();  // the barriers are initialized
  WaitForPriorGrids();  // x, bias and y only from here on
  LetDependentGridsLaunch();

  float xr[kElems];
  LoadXPiece<kElems>(x, piece, live, xr);

  for (int i = 0; i < my_chunks; ++i) {
    BarrierWait(&full[i], 0);
    const uint8_t* chunk_bytes = tile + i * stride;
    ColumnStage<kPieceBytes> st[kGroupCols];
#pragma unroll
    for (int j = 0; j < kGroupCols; ++j) {
      st[j].q = *reinterpret_cast<const uint4*>(chunk_bytes + j * row_bytes + piece * kPieceBytes);
      st[j].s = *reinterpret_cast<const uint16_t*>(chunk_bytes + code_bytes + j * row_scales + piece * 2);
    }
    // ColumnSum of the 8 columns, interleaved word by word (8 independent FMA chains; per column the same operations
    // in the same order, so the same bits).
    float v[kGroupCols];
#pragma unroll
    for (int g = 0; g < 2; ++g) {
      float part[kGroupCols];
#pragma unroll
      for (int wd = 2 * g; wd < 2 * g + 2; ++wd) {
#pragma unroll
        for (int j = 0; j < kGroupCols; ++j) {
          __half2 h[4];
          WordToHalf2(Word(st[j].q, wd), h);
          float w[8];
          Half2ToF32(h, w);
          float acc = wd == 2 * g ? 0.0f : part[j];
#pragma unroll
          for (int e = 0; e < 8; ++e) acc = fmaf(xr[8 * wd + e], w[e], acc);
          part[j] = acc;
        }
      }
#pragma unroll
      for (int j = 0; j < kGroupCols; ++j) {
        const __half2 scale = ScalesToHalf2<2>(st[j].s);
        v[j] = fmaf(part[j], g == 0 ? __low2float(scale) : __high2float(scale), g == 0 ? 0.0f : v[j]);
      }
    }
    const float sum = ReduceScatter8(v, lane);
    float* sums = warp_sums + i * warps * kGroupCols;
    if ((lane & 3) == 0) sums[warp * kGroupCols + ((lane >> 2) & 7)] = sum;
    __syncwarp();
    if (lane == 0) BarrierArrive(&empty[i]);  // this warp has written its sums of chunk i
    if (warp == 0) {
      BarrierWait(&empty[i], 0);
      const int64_t chunk = blockIdx.x + static_cast<int64_t>(i) * gridDim.x;
      const int64_t col = min(chunk * kGroupCols, n - kGroupCols) + lane;
      if (lane < kGroupCols && col >= chunk * kGroupCols) {
        float total = 0.0f;
        for (int w = 0; w < warps; ++w) total += sums[w * kGroupCols + lane];
        float out = __fmul_rn(__fmul_rn(total, 0x1p14f), weight_scale_2);  // the first product is exact
        if (bias != nullptr) out = __fadd_rn(out, bias[col]);
        y[col] = out;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Kernel B, any M <= 16 ("x streamed"): warps split K among kLanesK lanes per column and, per block, split_k warps.
// Lane (kl, slot) = (lane / kSlots, lane % kSlots): the 8 lanes of a quarter warp share kl, so their x loads are one
// broadcast (a quarter warp is what L1 serves per wavefront, and 8 different x pieces would hit the same banks).

template <int kRows, int kPieceBytes>
struct Stage {
  Piece<kPieceBytes> q[Config<kRows>::kCols];
  uint32_t s[Config<kRows>::kCols];
};

// Grid: blocks of kWarps warps; warp w of a block serves column group w / split_k and K slice w % split_k. Lane
// (kl, slot) serves columns col0 + j * kSlots + slot (j < kCols) and, for step s = slice, slice + split_k, ...,
// piece s * kLanesK + kl of each. Columns >= n load row n - 1 and are not stored.
template <int kRows, int kPieceBytes>
__global__ void __launch_bounds__(kBlockThreads, Config<kRows>::kMinBlocks)
    StreamXKernel(const float* x, int m, const uint8_t* __restrict__ codes, const uint8_t* __restrict__ scales,
                  int64_t n, int k, int split_k, float weight_scale_2, const float* bias, float* __restrict__ y) {
  using C = Config<kRows>;
  using P = Piece<kPieceBytes>;
  constexpr int kElems = 2 * kPieceBytes;  // elements per piece
  constexpr int kGroups = kElems / 16;     // block scales per piece
  constexpr int kCols = C::kCols, kLanesK = C::kLanesK, kStages = C::kStages;

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int kl = lane / C::kSlots, slot = lane % C::kSlots;
  const int groups = kWarps / split_k;  // column groups per block
  const int group = warp / split_k, slice = warp % split_k;
  const int64_t group_col0 = (static_cast<int64_t>(blockIdx.x) * groups + group) * C::kWarpCols;
  const int pieces = k / kElems;                        // per row
  const int steps = (pieces + kLanesK - 1) / kLanesK;   // kLanesK pieces per column per step
  const int64_t row_bytes = k / 2;

  const P* code_col[kCols];
  const uint8_t* scale_col[kCols];
#pragma unroll
  for (int j = 0; j < kCols; ++j) {
    int64_t col = group_col0 + j * C::kSlots + slot;
    if (col >= n) col = n - 1;
    code_col[j] = reinterpret_cast<const P*>(codes + col * row_bytes);
    scale_col[j] = scales + col * (k / 16);
  }
  int x_row[kRows];  // element offset of each row of x (padded rows repeat row m - 1)
#pragma unroll
  for (int r = 0; r < kRows; ++r) x_row[r] = (r < m ? r : m - 1) * k;

  // Loads step s into `st`; past the row's end it reloads the last piece, which compute() then skips (no branch,
  // so each refill issues right after the stage it replaces is consumed). REQUIRES pieces > 0.
  auto load = [&](Stage<kRows, kPieceBytes>& st, int s) {
    const int piece = min(s * kLanesK + kl, pieces - 1);
#pragma unroll
    for (int j = 0; j < kCols; ++j) {
      st.q[j] = LoadStreaming(code_col[j] + piece);
      st.s[j] = LoadScales<kGroups>(scale_col[j] + piece * kGroups);
    }
  };

  float acc[kRows][kCols] = {};
  // Adds step s (loaded into `st`) to acc.
  auto compute = [&](const Stage<kRows, kPieceBytes>& st, int s) {
    const int piece = s * kLanesK + kl;
    if (piece >= pieces) return;
    const float* xs = x + piece * kElems;
    __half2 scale[kCols];
#pragma unroll
    for (int j = 0; j < kCols; ++j) scale[j] = ScalesToHalf2<kGroups>(st.s[j]);
#pragma unroll
    for (int g = 0; g < kGroups; ++g) {
      float part[kRows][kCols] = {};  // kScalePartial: this block's sums
#pragma unroll
      for (int wd = 2 * g; wd < 2 * g + 2; ++wd) {
        float w[kCols][8];
#pragma unroll
        for (int j = 0; j < kCols; ++j) {
          __half2 h[4];
          WordToHalf2(Word(st.q[j], wd), h);
          if constexpr (!C::kScalePartial) {
            // (scale * 2^7) * (e2m1 * 2^-14): exact in fp16 (see the header).
            const __half2 sg = g == 0 ? __low2half2(scale[j]) : __high2half2(scale[j]);
            const __half2 sg7 = __hmul2(sg, __float2half2_rn(128.0f));
#pragma unroll
            for (int i = 0; i < 4; ++i) h[i] = __hmul2(h[i], sg7);
          }
          Half2ToF32(h, w[j]);
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          const float4* xp = reinterpret_cast<const float4*>(xs + x_row[r] + wd * 8);
          const float4 lo = xp[0], hi = xp[1];
          const float xv[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
          for (int j = 0; j < kCols; ++j) {
            float& a = C::kScalePartial ? part[r][j] : acc[r][j];
#pragma unroll
            for (int e = 0; e < 8; ++e) a = fmaf(xv[e], w[j][e], a);
          }
        }
      }
      if constexpr (C::kScalePartial) {
#pragma unroll
        for (int j = 0; j < kCols; ++j) {
          const float sg = g == 0 ? __low2float(scale[j]) : __high2float(scale[j]);
#pragma unroll
          for (int r = 0; r < kRows; ++r) acc[r][j] = fmaf(part[r][j], sg, acc[r][j]);
        }
      }
    }
  };

  // Software pipeline: kStages steps in flight; step slice + i * split_k lives in stage i % kStages. The first
  // stages are loaded before the wait, so they may overlap the kernel before this one (programmatic dependent
  // launch); x, bias and y are touched only after it has completed.
  const bool active = slice < steps;  // this warp's K slice has steps
  Stage<kRows, kPieceBytes> stage[kStages];
  if (active) {
#pragma unroll
    for (int i = 0; i < kStages; ++i) load(stage[i], slice + i * split_k);
  }
  WaitForPriorGrids();
  LetDependentGridsLaunch();
  if (active) {
    for (int s0 = slice; s0 < steps; s0 += kStages * split_k) {
#pragma unroll
      for (int i = 0; i < kStages; ++i) {
        const int s = s0 + i * split_k;
        compute(stage[i], s);
        load(stage[i], s + kStages * split_k);
      }
    }
  }

  // Sum over the kLanesK lanes of a column (lane bits above the slot), then over the split_k warps of a group.
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int j = 0; j < kCols; ++j) {
#pragma unroll
      for (int offset = 16; offset >= C::kSlots; offset /= 2) {
        acc[r][j] += __shfl_xor_sync(0xFFFFFFFFu, acc[r][j], offset);
      }
    }
  }
  __shared__ float partial[kWarps][kRows][C::kWarpCols];
  if (kl == 0) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int j = 0; j < kCols; ++j) partial[warp][r][j * C::kSlots + slot] = acc[r][j];
    }
  }
  __syncthreads();
  constexpr int kGroupOutputs = kRows * C::kWarpCols;
  for (int o = threadIdx.x; o < groups * kGroupOutputs; o += kBlockThreads) {
    const int g = o / kGroupOutputs, r = (o % kGroupOutputs) / C::kWarpCols, c = o % C::kWarpCols;
    const int64_t col = (static_cast<int64_t>(blockIdx.x) * groups + g) * C::kWarpCols + c;
    if (r >= m || col >= n) continue;
    float total = 0.0f;
    for (int v = 0; v < split_k; ++v) total += partial[g * split_k + v][r][c];
    float out = __fmul_rn(__fmul_rn(total, C::kUnit), weight_scale_2);  // the first product is exact
    if (bias != nullptr) out = __fadd_rn(out, bias[col]);
    y[r * n + col] = out;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Launch shapes. Occupancy is queried once per (kernel, device, block size) and cached; concurrent first calls
// compute the same value.

// Kernel A when it takes the problem (M = 1, the row's pieces fit one block, n >= 8); else *launched = false.
template <int kPieceBytes>
cudaError_t LaunchResidentX(const float* x, const uint8_t* codes, const uint8_t* scales, int64_t n, int64_t k,
                            float weight_scale_2, const float* bias, float* y, cudaStream_t stream, bool overlap,
                            bool* launched) {
  *launched = false;
  const int64_t pieces = k / (2 * kPieceBytes);
  if (pieces == 0 || pieces > kResidentMaxThreads || n < kGroupCols) return cudaSuccess;
  const int warps = static_cast<int>((pieces + 31) / 32);
  static ResidentBlocksCache cache[kResidentMaxWarps + 1] = {};
  int resident = 0;
  const cudaError_t err =
      ResidentBlocks(ResidentXKernel<kPieceBytes>, 32 * warps, 0, cache[warps], &resident);
  if (err != cudaSuccess) return err;
  // Enough columns per block that all blocks are resident at once (one wave), in whole reduction groups, and no
  // more than n (the last tile ends at column n - 1).
  int64_t tile = (n + resident - 1) / resident;
  tile = (tile + kGroupCols - 1) / kGroupCols * kGroupCols;
  if (tile > kResidentMaxTile) tile = kResidentMaxTile;
  if (tile > n / kGroupCols * kGroupCols) tile = n / kGroupCols * kGroupCols;
  const int64_t blocks = (n + tile - 1) / tile;
  if (blocks > kMaxGridX) return cudaErrorInvalidConfiguration;
  *launched = true;
  return LaunchKernel(ResidentXKernel<kPieceBytes>, dim3(static_cast<unsigned>(blocks)), dim3(32 * warps), 0, stream,
                      overlap, x, codes, scales, n, static_cast<int>(k), static_cast<int>(tile), weight_scale_2, bias,
                      y);
}

// Kernel T's launch limits on one device: compute capability, shared memory, and the blocks per SM that threads and
// registers allow for each block size.
struct TileLimits {
  bool supported = false;      // compute capability 9.0+ (bulk copies, mbarrier transaction counts)
  int sms = 0;
  int smem_per_sm = 0;         // shared memory per SM that blocks may use, bytes
  int smem_per_block = 0;      // opt-in maximum per block, bytes (the kernel's dynamic limit is raised to it)
  int reserved_per_block = 0;  // shared memory the system reserves per block, bytes
  int blocks_by_threads[kResidentMaxWarps + 1] = {};  // per warps per block
};

cudaError_t QueryTileLimits(int device, TileLimits* limits) {
  int major = 0;
  cudaError_t err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  if (err != cudaSuccess || major < 9) return err;
  const std::pair<int*, cudaDeviceAttr> attributes[] = {
      {&limits->sms, cudaDevAttrMultiProcessorCount},
      {&limits->smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor},
      {&limits->smem_per_block, cudaDevAttrMaxSharedMemoryPerBlockOptin},
      {&limits->reserved_per_block, cudaDevAttrReservedSharedMemoryPerBlock}};
  for (const auto& [value, attribute] : attributes) {
    err = cudaDeviceGetAttribute(value, attribute, device);
    if (err != cudaSuccess) return err;
  }
  err = cudaFuncSetAttribute(TileKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, limits->smem_per_block);
  if (err != cudaSuccess) return err;
  for (int warps = 1; warps <= kResidentMaxWarps; ++warps) {
    err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&limits->blocks_by_threads[warps], TileKernel, 32 * warps, 0);
    if (err != cudaSuccess) return err;
  }
  limits->supported = true;
  return cudaSuccess;
}

// The current device's limits, queried once per device (devices past kMaxDevices query on every call).
cudaError_t GetTileLimits(TileLimits* limits) {
  int device = 0;
  const cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  if (device >= kMaxDevices) return QueryTileLimits(device, limits);
  static std::once_flag once[kMaxDevices];
  static TileLimits cached[kMaxDevices];
  static cudaError_t errors[kMaxDevices];
  std::call_once(once[device], [device] { errors[device] = QueryTileLimits(device, &cached[device]); });
  *limits = cached[device];
  return errors[device];
}

// Kernel T when it takes the problem (M = 1, its REQUIRES on k, n and alignment, compute capability 9.0+, and every
// block's whole tile fits in shared memory); else *launched = false. Shared memory per block: as many chunks as
// kTileBlockBudget holds (2 to kTileMaxChunks), fewer if the device cannot hold a block with that many; blocks per SM:
// as many as kTileSmBudget holds (at least one), and as threads, registers and shared memory allow. Blocks: every
// chunk, or as many as are resident at once (one wave) when each then takes at most the chunks it holds; larger
// problems go to kernel A, whose register stages stream (measured faster there, docs/perf/w4a16_gemv.md).
cudaError_t LaunchTile(const float* x, const uint8_t* codes, const uint8_t* scales, int64_t n, int64_t k,
                       float weight_scale_2, const float* bias, float* y, cudaStream_t stream, bool overlap,
                       bool* launched) {
  *launched = false;
  const int64_t pieces = k / 32;
  if (k % 32 != 0 || pieces == 0 || pieces > kResidentMaxThreads || n < kGroupCols) return cudaSuccess;
  if (n % kGroupCols != 0 && k % 256 != 0) return cudaSuccess;
  if (reinterpret_cast<uintptr_t>(codes) % 16 != 0 || reinterpret_cast<uintptr_t>(scales) % 16 != 0) {
    return cudaSuccess;
  }
  TileLimits limits;
  const cudaError_t err = GetTileLimits(&limits);
  if (err != cudaSuccess || !limits.supported) return err;
  const int warps = static_cast<int>((pieces + 31) / 32);
  const int kk = static_cast<int>(k);
  const auto resident = [&](int block_chunks) -> int64_t {
    const int smem = TileSmemBytes(kk, warps, block_chunks);
    if (smem > limits.smem_per_block) return 0;
    const int by_smem = limits.smem_per_sm / (smem + limits.reserved_per_block);
    const int by_budget = std::max(1, kTileSmBudget / (smem + limits.reserved_per_block));
    return int64_t{limits.sms} * std::min({by_smem, by_budget, limits.blocks_by_threads[warps]});
  };
  int block_chunks = std::clamp(kTileBlockBudget / TileChunkStride(kk), 2, kTileMaxChunks);
  while (block_chunks > 1 && resident(block_chunks) == 0) --block_chunks;
  const int64_t chunks = (n + kGroupCols - 1) / kGroupCols;
  const int64_t blocks = std::min(chunks, resident(block_chunks));
  if (blocks == 0) return cudaSuccess;
  const int64_t per_block = (chunks + blocks - 1) / blocks;
  if (per_block > block_chunks) return cudaSuccess;
  *launched = true;
  return LaunchKernel(TileKernel, dim3(static_cast<unsigned>(blocks)), dim3(32 * warps),
                      static_cast<size_t>(TileSmemBytes(kk, warps, static_cast<int>(per_block))), stream, overlap, x,
                      codes, scales, n, kk, static_cast<int>(per_block), weight_scale_2, bias, y);
}

template <int kRows, int kPieceBytes>
cudaError_t LaunchStreamX(const float* x, int64_t m, const uint8_t* codes, const uint8_t* scales, int64_t n,
                          int64_t k, float weight_scale_2, const float* bias, float* y, cudaStream_t stream,
                          bool overlap) {
  using C = Config<kRows>;
  static ResidentBlocksCache cache = {};
  int resident = 0;
  const cudaError_t err = ResidentBlocks(StreamXKernel<kRows, kPieceBytes>, kBlockThreads, 0, cache, &resident);
  if (err != cudaSuccess) return err;
  // The largest K split (more warps per column) that still keeps every block resident at once, but no more K
  // slices than steps.
  const int64_t steps = (k / (2 * kPieceBytes) + C::kLanesK - 1) / C::kLanesK;
  int split_k = 1;
  for (const int candidate : {4, 2}) {
    const int64_t block_cols = (kWarps / candidate) * C::kWarpCols;
    if (candidate <= steps && (n + block_cols - 1) / block_cols <= resident) {
      split_k = candidate;
      break;
    }
  }
  const int64_t block_cols = (kWarps / split_k) * C::kWarpCols;
  const int64_t blocks = (n + block_cols - 1) / block_cols;
  if (blocks > kMaxGridX) return cudaErrorInvalidConfiguration;
  return LaunchKernel(StreamXKernel<kRows, kPieceBytes>, dim3(static_cast<unsigned>(blocks)), dim3(kBlockThreads), 0,
                      stream, overlap, x, static_cast<int>(m), codes, scales, n, static_cast<int>(k), split_k,
                      weight_scale_2, bias, y);
}

template <int kPieceBytes>
cudaError_t LaunchForRows(const float* x, int64_t m, const uint8_t* codes, const uint8_t* scales, int64_t n,
                          int64_t k, float weight_scale_2, const float* bias, float* y, cudaStream_t stream,
                          bool overlap) {
  if (m == 1) {
    bool launched = false;
    const cudaError_t err =
        LaunchResidentX<kPieceBytes>(x, codes, scales, n, k, weight_scale_2, bias, y, stream, overlap, &launched);
    if (err != cudaSuccess || launched) return err;
  }
  // Kernel B for the row count padded up to 1, 2, 3, 4, 6, 8, 12 or 16.
  const auto launch = [&](auto rows) {
    return LaunchStreamX<decltype(rows)::value, kPieceBytes>(x, m, codes, scales, n, k, weight_scale_2, bias, y,
                                                             stream, overlap);
  };
  if (m == 1) return launch(std::integral_constant<int, 1>{});
  if (m == 2) return launch(std::integral_constant<int, 2>{});
  if (m == 3) return launch(std::integral_constant<int, 3>{});
  if (m == 4) return launch(std::integral_constant<int, 4>{});
  if (m <= 6) return launch(std::integral_constant<int, 6>{});
  if (m <= 8) return launch(std::integral_constant<int, 8>{});
  if (m <= 12) return launch(std::integral_constant<int, 12>{});
  return launch(std::integral_constant<int, 16>{});
}

}  // namespace

bool W4A16GemvSupports(int64_t m, int64_t k) {
  return m >= 1 && m <= kW4A16GemvMaxRows && k >= 0 && k % 16 == 0 && k <= (int64_t{1} << 26);
}

cudaError_t LaunchW4A16Gemv(const float* x, int64_t m, const uint8_t* codes, const uint8_t* scales, int64_t n,
                            int64_t k, float weight_scale_2, const float* bias, float* y, cudaStream_t stream,
                            bool allow_overlap) {
  if (!W4A16GemvSupports(m, k) || n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  if (k % 32 == 0) {
    if (m == 1) {
      bool launched = false;
      const cudaError_t err =
          LaunchTile(x, codes, scales, n, k, weight_scale_2, bias, y, stream, allow_overlap, &launched);
      if (err != cudaSuccess || launched) return err;
    }
    return LaunchForRows<16>(x, m, codes, scales, n, k, weight_scale_2, bias, y, stream, allow_overlap);
  }
  return LaunchForRows<8>(x, m, codes, scales, n, k, weight_scale_2, bias, y, stream, allow_overlap);
}

}  // namespace fp4lab::cuda
