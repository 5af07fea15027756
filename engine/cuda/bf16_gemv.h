// BF16 GEMV for decode (M = 1..16) on CUDA cores: y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]) with f32 x read
// directly (no bf16 conversion kernel), bf16 weights decoded exactly to f32, f32 FMA accumulation, and no split-K
// reduction kernel.
//
// Layout: the bf16 layout of CudaLinear, W [n, k] row-major (K contiguous), so nothing is re-laid out at load. A
// "piece" is 16 bytes of one row (8 bf16); k % 8 == 0 keeps every row and piece 16-byte aligned.
//
// Kernel (bf16_gemv.cu; docs/perf/bf16_gemv.md has the design record): a block is 4 warps; a warp owns kCols
// consecutive columns (rows of W) and one K slice of them (split_k = 4, 2 or 1 warps per column group, the largest
// that keeps every block resident at once). Lane l reads piece s * 32 + l of each column at step s, so a warp reads
// 512 contiguous bytes of every row per step (coalesced), with kStages steps of weight loads in flight in registers.
// x is read by the same lanes as two 16-byte loads per row and piece (through L1, shared by the block's warps); each
// x value serves kCols columns. Rows are padded to 1, 2, 3, 4, 6, 8, 12 or 16 (padded rows repeat row m - 1 and are
// not stored). Weights are read once, past L1 (ld.global.nc.L1::no_allocate).
//
// Programmatic dependent launch (compute capability 9.0+, on by default), exactly as the W4A16 GEMV (w4a16_gemv.h):
// every warp first issues its first kStages steps of weight loads, which no kernel of the decode step writes, then
// waits (griddepcontrol.wait) until the previous kernel has completed and its writes are visible, then lets a
// programmatically launched successor start (griddepcontrol.launch_dependents), and only then reads x and bias and
// writes y (ordinary coherent loads, ordered after the wait). Same bits with and without the overlap.
//
// Numerics (exact weights, f32 x, f32 accumulation; only the summation order differs from CpuLinear):
//   - each bf16 becomes the f32 with the same value by moving bits (bits << 16; exact);
//   - each lane accumulates its products x_k w_k in an FMA chain per (row, column) (one rounding per product, at
//     most K products per lane), then 5 shuffle levels sum the 32 lanes, then a sequential sum over at most 4
//     split_k warps (starting from 0, so at most 3 roundings), then + bias (one rounding).
//   Depth: every output is a summation tree over its K exact products in which each product passes through at most
//   K + 8 roundings before the bias is added (the test's bound derives its tolerance from this). Products below
//   2^-126 round as f32 subnormals (absolute error <= 2^-150 per rounding; the kernel is built without
//   flush-to-zero).
//
// Graph-capturable: no allocation, no host synchronization; the occupancy of each kernel is queried once per device
// (cached in atomics, thread-safe). In stream capture (CUDA 12.3+) the overlap becomes a programmatic edge.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

inline constexpr int64_t kBf16GemvMaxRows = 16;  // largest M the GEMV takes

// True when the GEMV accepts the problem shape: 1 <= m <= kBf16GemvMaxRows, k % 8 == 0 (whole 16-byte pieces per
// row) and 0 <= k <= 2^26 (element offsets of x stay in 32 bits).
bool Bf16GemvSupports(int64_t m, int64_t k);

// y[m, n] (f32, row-major) = x[m, k] (f32, row-major) * W^T (+ bias[n] when bias != null), W bf16 [n, k] row-major;
// all device pointers. REQUIRES Bf16GemvSupports(m, k); x and w 16-byte aligned (cudaMalloc'd buffers are; x is
// checked); n >= 0; w not written while the call runs.
// allow_overlap (default true): programmatic dependent launch (see above), with the weights contract of
// LaunchW4A16Gemv: w is read before the kernel right before this call has completed, so w must not be written by
// any kernel that may still be running when this call starts (weights uploaded with a copy, or written by a kernel
// followed by an ordinarily launched kernel, a copy or a host synchronization, qualify). false: an ordinary launch.
// Returns cudaErrorInvalidValue when the problem is not supported or x is not 16-byte aligned, else the launch's
// error. Asynchronous on `stream`.
cudaError_t LaunchBf16Gemv(const float* x, int64_t m, const uint16_t* w, int64_t n, int64_t k, const float* bias,
                           float* y, cudaStream_t stream, bool allow_overlap = true);

}  // namespace fp4lab::cuda
