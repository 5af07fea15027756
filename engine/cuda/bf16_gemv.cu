#include "engine/cuda/bf16_gemv.h"

#include <type_traits>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/launch.h"

namespace fp4lab::cuda {
namespace {

constexpr int kWarps = 4;  // warps per block
constexpr int kBlockThreads = kWarps * 32;
constexpr int kPieceElems = 8;   // bf16 per 16-byte piece

// Work split for a padded row count kRows (rows >= m repeat row m - 1 and are not stored).
//   kCols       columns per warp: each x value a lane loads serves kCols columns
//   kStages     steps of weight loads in flight per warp (kCols pieces per lane each: 512 bytes per column)
//   kMinBlocks  __launch_bounds__ residency: a register budget of 65536 / (128 kMinBlocks) = 128 (M <= 4), 170
//               (M <= 8) or 255. ptxas -v (CUDA 13.0, sm_90): 101, 111, 117, 122, 158, 168, 242, 232 registers for
//               M = 1, 2, 3, 4, 6, 8, 12, 16, no spills. M = 1 capped at 85 (79 used, 6 blocks per SM) was slower on
//               3 of the 4 Llama shapes with programmatic dependent launch (docs/perf/bf16_gemv.md).
template <int kRows>
struct Config {
  static constexpr int kCols = 4;
  static constexpr int kStages = 2;
  static constexpr int kMinBlocks = kRows <= 4 ? 4 : (kRows <= 8 ? 3 : 2);
};

// The 8 bf16 of a piece (element 2i in the low half of word i, 2i + 1 in the high half) as f32, exactly.
__device__ __forceinline__ void DecodePiece(const uint4& q, float (&f)[kPieceElems]) {
  const uint32_t words[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(words[i] << 16);
    f[2 * i + 1] = __uint_as_float(words[i] & 0xFFFF0000u);
  }
}

template <int kCols>
struct Stage {
  uint4 q[kCols];
};

// Grid: blocks of kWarps warps; warp w of a block serves column group w / split_k (kCols consecutive columns) and K
// slice w % split_k. At step s = slice, slice + split_k, ..., lane l serves piece s * 32 + l of each of its columns.
// Columns >= n load row n - 1 and are not stored. x and bias are not __restrict__, so the compiler reads them with
// coherent loads, not ld.global.nc: another kernel may write them until WaitForPriorGrids.
template <int kRows>
__global__ void __launch_bounds__(kBlockThreads, Config<kRows>::kMinBlocks)
    Bf16GemvKernel(const float* x, int m, const uint16_t* __restrict__ w, int64_t n, int k, int split_k,
                   const float* bias, float* __restrict__ y) {
  using C = Config<kRows>;
  constexpr int kCols = C::kCols, kStages = C::kStages;

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int groups = kWarps / split_k;  // column groups per block
  const int group = warp / split_k, slice = warp % split_k;
  const int64_t group_col0 = (static_cast<int64_t>(blockIdx.x) * groups + group) * kCols;
  const int pieces = k / kPieceElems;     // per row
  const int steps = (pieces + 31) / 32;   // 32 pieces per column per step

  const uint4* w_col[kCols];
#pragma unroll
  for (int j = 0; j < kCols; ++j) {
    int64_t col = group_col0 + j;
    if (col >= n) col = n - 1;
    w_col[j] = reinterpret_cast<const uint4*>(w + col * k);
  }
  int x_row[kRows];  // element offset of each row of x (padded rows repeat row m - 1)
#pragma unroll
  for (int r = 0; r < kRows; ++r) x_row[r] = (r < m ? r : m - 1) * k;

  // Loads step s into `st`; past the row's end it reloads the last piece, which compute() then skips (no branch,
  // so each refill issues right after the stage it replaces is consumed). REQUIRES pieces > 0.
  auto load = [&](Stage<kCols>& st, int s) {
    const int piece = min(s * 32 + lane, pieces - 1);
#pragma unroll
    for (int j = 0; j < kCols; ++j) st.q[j] = LoadStreaming(w_col[j] + piece);
  };

  float acc[kRows][kCols] = {};
  // Adds step s (loaded into `st`) to acc: one FMA per product, in element order within the piece.
  auto compute = [&](const Stage<kCols>& st, int s) {
    const int piece = s * 32 + lane;
    if (piece >= pieces) return;
    float wf[kCols][kPieceElems];
#pragma unroll
    for (int j = 0; j < kCols; ++j) DecodePiece(st.q[j], wf[j]);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float4* xp = reinterpret_cast<const float4*>(x + x_row[r] + piece * kPieceElems);
      const float4 lo = xp[0], hi = xp[1];
      const float xv[kPieceElems] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
      for (int j = 0; j < kCols; ++j) {
#pragma unroll
        for (int e = 0; e < kPieceElems; ++e) acc[r][j] = fmaf(xv[e], wf[j][e], acc[r][j]);
      }
    }
  };

  // Software pipeline: kStages steps in flight; step slice + i * split_k lives in stage i % kStages. The first
  // stages are loaded before the wait, so they may overlap the kernel before this one (programmatic dependent
  // launch); x, bias and y are touched only after it has completed. The loads sit inside `if (active)`, whose
  // block boundary keeps ptxas from scheduling the wait above them (docs/perf/w4a16_gemv.md).
  const bool active = slice < steps;  // this warp's K slice has steps
  Stage<kCols> stage[kStages];
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

  // Sum over the 32 lanes (every lane ends with the same value), then over the split_k warps of a group.
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int j = 0; j < kCols; ++j) {
#pragma unroll
      for (int offset = 16; offset > 0; offset /= 2) {
        acc[r][j] += __shfl_xor_sync(0xFFFFFFFFu, acc[r][j], offset);
      }
    }
  }
  __shared__ float partial[kWarps][kRows][kCols];
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int j = 0; j < kCols; ++j) partial[warp][r][j] = acc[r][j];
    }
  }
  __syncthreads();
  constexpr int kGroupOutputs = kRows * kCols;
  for (int o = threadIdx.x; o < groups * kGroupOutputs; o += kBlockThreads) {
    const int g = o / kGroupOutputs, r = (o % kGroupOutputs) / kCols, c = o % kCols;
    const int64_t col = (static_cast<int64_t>(blockIdx.x) * groups + g) * kCols + c;
    if (r >= m || col >= n) continue;
    float total = 0.0f;
    for (int v = 0; v < split_k; ++v) total += partial[g * split_k + v][r][c];
    if (bias != nullptr) total += bias[col];
    y[r * n + col] = total;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Launch shapes. Occupancy is queried once per (kernel, device) and cached; concurrent first calls compute the
// same value.

template <int kRows>
cudaError_t LaunchForRows(const float* x, int64_t m, const uint16_t* w, int64_t n, int64_t k, const float* bias,
                          float* y, cudaStream_t stream, bool overlap) {
  constexpr int kCols = Config<kRows>::kCols;
  static ResidentBlocksCache cache = {};
  int resident = 0;
  const cudaError_t err = ResidentBlocks(Bf16GemvKernel<kRows>, kBlockThreads, 0, cache, &resident);
  if (err != cudaSuccess) return err;
  // The largest K split (more warps per column group) that still keeps every block resident at once, but no more
  // K slices than steps.
  const int64_t steps = (k / kPieceElems + 31) / 32;
  int split_k = 1;
  for (const int candidate : {4, 2}) {
    const int64_t block_cols = (kWarps / candidate) * kCols;
    if (candidate <= steps && (n + block_cols - 1) / block_cols <= resident) {
      split_k = candidate;
      break;
    }
  }
  const int64_t block_cols = (kWarps / split_k) * kCols;
  const int64_t blocks = (n + block_cols - 1) / block_cols;
  if (blocks > kMaxGridX) return cudaErrorInvalidConfiguration;
  return LaunchKernel(Bf16GemvKernel<kRows>, dim3(static_cast<unsigned>(blocks)), dim3(kBlockThreads), 0, stream,
                      overlap, x, static_cast<int>(m), w, n, static_cast<int>(k), split_k, bias, y);
}

}  // namespace

bool Bf16GemvSupports(int64_t m, int64_t k) {
  return m >= 1 && m <= kBf16GemvMaxRows && k >= 0 && k % kPieceElems == 0 && k <= (int64_t{1} << 26);
}

cudaError_t LaunchBf16Gemv(const float* x, int64_t m, const uint16_t* w, int64_t n, int64_t k, const float* bias,
                           float* y, cudaStream_t stream, bool allow_overlap) {
  if (!Bf16GemvSupports(m, k) || n < 0) return cudaErrorInvalidValue;
  if (k > 0 && (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(w) % 16 != 0)) {
    return cudaErrorInvalidValue;
  }
  if (n == 0) return cudaSuccess;
  // The kernel for the row count padded up to 1, 2, 3, 4, 6, 8, 12 or 16.
  const auto launch = [&](auto rows) {
    return LaunchForRows<decltype(rows)::value>(x, m, w, n, k, bias, y, stream, allow_overlap);
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

}  // namespace fp4lab::cuda
