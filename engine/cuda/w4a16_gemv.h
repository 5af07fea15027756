// NVFP4 W4A16 GEMV for decode (M = 1..16) on CUDA cores: y[m, n] = weight_scale_2 * sum_k x[m, k] * w[n, k]
// (+ bias[n]), w = e2m1(code) * e4m3(block scale), with f32 x, f32 accumulation and the weights read packed.
//
// Layout: the stored NVFP4 layout of CudaLinear is the one this kernel reads, so nothing is re-laid out at load and
// DeviceBytes does not grow: codes [n, k/2] are K-contiguous (low nibble = even k), linear E4M3 block scales
// [n, k/16]. A "piece" is the codes of one row that one lane loads at once: 16 bytes (32 elements, two block
// scales) when k % 32 == 0, else 8 bytes (16 elements, one scale), which k % 16 == 0 keeps aligned in every row.
//
// Three kernels (w4a16_gemv.cu; docs/perf/w4a16_gemv.md has the design record):
//   T, M = 1 when k % 32 == 0, k <= 16384, n >= 8 (and n % 8 == 0 or k % 256 == 0), codes and scales 16-byte
//     aligned, compute capability 9.0+, and each block's whole tile (at most 4 chunks of 8 columns, with the blocks
//     resident at once) fits in shared memory: kernel A's per-thread arithmetic, but one thread of each block requests
//     the block's whole tile of codes and scales at once with bulk copies (cp.async.bulk into shared memory, completing
//     on mbarriers) before the wait below, so the transfer costs no registers and may overlap the previous kernel.
//   A, other M = 1 while a row has at most 512 pieces (k <= 16384, or 8192 when k % 32 == 16) and n >= 8: thread t of a
//     block keeps x piece t in registers and streams a tile of columns past it: one coalesced code load per column
//     and thread (a warp reads 32 consecutive pieces of a row), 8 columns of loads in flight, a transposed butterfly
//     per 8 columns, one shared-memory sum over the block's warps. x is read once per block, so L1 only moves codes.
//     The tile is the smallest that keeps all blocks resident (one wave).
//   B, all other M <= 16: 4 lanes take consecutive pieces of a column, the 8 lanes of each quarter warp serve 8
//     columns and read one broadcast x word (so x loads do not serialize on L1 banks), each lane serves 2 columns
//     (1 at M = 1) per x load; the 4 warps of a block own different columns or split K (split_k = 4, 2 or 1, the
//     largest that keeps all blocks resident); lane sums meet through shuffles, warp sums through shared memory.
//   Codes and scales are read once, past L1 (ld.global.nc.L1::no_allocate).
//
// Programmatic dependent launch (compute capability 9.0+, on by default): each call is launched so that it may start
// while the kernel before it in the stream is still running. Every thread first issues its first stages of code and
// scale loads (kernel T: one thread, the block's whole tile; A: 8 columns; B: 2 to 4 steps), which no kernel of the
// decode step writes, then waits (griddepcontrol.wait) until the previous kernel has completed and its writes are
// visible, and only then reads x and bias and writes y. It then lets a programmatically launched successor start
// (griddepcontrol.launch_dependents): that successor still waits for this call's completion before it touches y, and
// since this happens after the wait, at most one call's loads run ahead of the kernel it follows. x and bias are read
// with ordinary (coherent) loads, which the PTX memory model orders after the wait; results are the same bits with and
// without the overlap.
//
// Numerics (exact dequantization, f32 x, f32 accumulation; only the summation order differs from CpuLinear):
//   - each code becomes the fp16 e2m1 * 2^-14 by moving bits (sign to bit 15, exponent+mantissa to bits 9..11; the
//     0.5 code is the fp16 subnormal 2^-15), and then an f32 through the exact fp16 -> f32 conversion;
//   - each block scale becomes fp16 through the hardware E4M3 -> fp16 conversion (exact: E4M3 is a subset of fp16);
//   - M <= 2 ("scale per partial"): the f32 codes of one 16-element block are summed against x by an FMA chain
//     (16 roundings at most), and that partial enters the accumulator as acc = fma(partial, scale, acc) (the product
//     is exact inside the FMA, one rounding); the accumulator holds y / (2^14 * weight_scale_2);
//   - M >= 3 ("scaled weights"): one fp16x2 multiply by (scale * 2^7) gives w * 2^-7 exactly (at most 6 significant
//     bits, a multiple of 2^-17, at most 21), converted to f32 and accumulated by FMA against x (one rounding per
//     element); the accumulator holds y / (2^7 * weight_scale_2);
//   - per output: at most 5 shuffle levels (kernels T, A) or 2 (B), then a sequential sum over at most 16 warps
//     (T, A) or 4 split_k warps (B), then * 2^14 or 2^7 (exact), * weight_scale_2 (one rounding, as the reference),
//     + bias (one rounding).
//   Depth: T and A: 16 + 2 + 5 + (pieces / 32) <= K + 8; B: per lane at most K / 16 blocks (16 + one per block) or at
//   most K elements, then 2 + 3, <= K + 8. So every output is a summation tree over its K exact products x_k w_k in
//   which each product passes through at most K + 8 roundings (the test's LinearBound derives its tolerance from
//   this). Products that fall below 2^-126 round as f32 subnormals (absolute error <= 2^-150 in accumulator units per
//   FMA; the kernels are built without flush-to-zero).
//
// Graph-capturable: no allocation, no host synchronization; the first launch of each kernel on each device queries
// its occupancy once (cached in atomics, thread-safe). In stream capture (CUDA 12.3+) the overlap becomes a
// programmatic edge from the previous kernel node.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

inline constexpr int64_t kW4A16GemvMaxRows = 16;  // largest M the GEMV takes; larger M: bf16 GEMM (CudaLinear)

// True when the GEMV accepts the problem: 1 <= m <= kW4A16GemvMaxRows, k % 16 == 0 (whole E4M3 blocks) and
// 0 <= k <= 2^26 (element offsets of x stay in 32 bits).
bool W4A16GemvSupports(int64_t m, int64_t k);

// y[m, n] (f32, row-major) = weight_scale_2 * x[m, k] * W^T (+ bias[n] when bias != null) with W given as packed
// codes [n, k/2] (low nibble = even k) and linear E4M3 block scales [n, k/16], all device pointers.
// REQUIRES W4A16GemvSupports(m, k); x and codes 16-byte aligned (cudaMalloc'd buffers are), scales 2-byte aligned;
// n >= 0; codes and scales not written while the call runs.
// allow_overlap (default true): programmatic dependent launch (see above). x, bias and y may then be written or
// read by the kernel right before this call as with an ordinary launch, but codes and scales are read before that
// kernel has completed, so they must not be written by any kernel that may still be running when this call starts:
// the kernel right before it in the stream (even one that never calls griddepcontrol.launch_dependents: its blocks
// count as having called it when they exit, before its writes are visible), and the kernels before that one back to
// the first that was launched without the attribute or that releases its dependents (explicitly or by exiting) only
// after its own wait (this GEMV does). Weights uploaded with a copy, or written by a kernel followed by any
// ordinarily launched kernel, a copy, or a host synchronization, qualify. false: an ordinary launch (the call starts
// after all earlier work in the stream has completed); the benchmark uses it to measure the overlap.
// Returns cudaErrorInvalidValue when the problem is not supported, else the launch's error. Asynchronous on `stream`.
cudaError_t LaunchW4A16Gemv(const float* x, int64_t m, const uint8_t* codes, const uint8_t* scales, int64_t n,
                            int64_t k, float weight_scale_2, const float* bias, float* y, cudaStream_t stream,
                            bool allow_overlap = true);

}  // namespace fp4lab::cuda
