// NVFP4 W4A16 GEMM on tensor cores (mma.sync m16n8k16, bf16 operands, f32 accumulation) for batched decode and short
// prefills: y[m, n] = weight_scale_2 * bf16(x[m, k]) * W^T (+ bias[n]), w = e2m1(code) * e4m3(block scale), the
// weights read packed and dequantized in registers (the Marlin / Machete idea; written for this layout).
//
// Layout: the stored NVFP4 layout of CudaLinear (codes [n, k/2], low nibble = even k; linear E4M3 block scales
// [n, k/16]), read as it is: nothing is re-laid out at load, DeviceBytes does not grow, and the GEMV, the embedding
// lookup and the dequantizer keep reading the same buffers. What a pre-shuffle would buy (one 16-byte load per lane
// covering several MMA steps) is had here by permuting K instead: a sum over k does not depend on which k each MMA
// slot holds, as long as the weight (A) and activation (B) fragments use the same permutation. Lane (g, t) of a warp
// (g = lane / 4, t = lane % 4) loads the 16 code bytes of k-tile elements [32 t, 32 t + 32) of weight rows g and
// g + 8 of a 16-row tile; MMA step s = 2 w + h (w = word 0..3 of the 16 bytes, h = 0, 1) gives its four K slots
// (2t, 2t+1, 2t+8, 2t+9) the codes at nibbles (2h, 2h+4, 2h+1, 2h+5) of word w. Each lane's 32 elements hold two
// block scales (elements 0..15: words 0, 1; 16..31: words 2, 3). The activations are packed per call into the same
// permutation (bf16, the eight bytes each lane's B fragment needs at one step contiguous, one warp's fragment 256
// contiguous bytes): `packed_x` below.
//
// Work split: a warp owns 32 weight rows (two 16-row tiles) and up to 64 tokens (kTokenTiles tiles of 8) over a range
// of K tiles (128 elements); 4 warps per block take consecutive row groups. Weights stream into registers one K tile
// ahead (ld.global.nc, no L1 allocation); B fragments come from the packed activations through L1. When the rows and
// token tiles alone give too few warps to keep the device's memory busy, K is split over blocks (grid z): each split
// writes f32 partial sums and a second kernel adds them in split order (deterministic), scales and adds the bias.
//
// Numerics (CpuLinear is the contract; what differs is the bf16 rounding of x and the summation order):
//   - x is rounded to bf16 (RNE) once, when packed, as the bf16 GEMM path does.
//   - each code becomes the bf16 e2m1 * 2^-126 by moving bits (sign to bit 15, exponent and mantissa to bits 8..6; the
//     0.5 code is the bf16 subnormal 2^-127); each block scale becomes the bf16 e4m3 * 2^118 (exact: 4 significant
//     bits, at most 448 * 2^118 < 2^127); one bf16x2 multiply gives w * 2^-8 exactly (at most 6 significant bits,
//     magnitude in [2^-18, 10.5], a normal bf16). So the dequantized weight is exact in bf16: e2m1 * e4m3 has at most
//     6 significant bits. The global scale is not folded in (an arbitrary f32 times it is not exact in bf16).
//   - the tensor cores form the exact products bf16(x) * (w * 2^-8) and add them in f32 (their accumulation order and
//     alignment rounding are the hardware's: cuda_linear_test allows 2u per addition, as for cuBLASLt); split-K
//     partials are added in f32 in split order.
//   - then * 2^8 (exact) * weight_scale_2 (one rounding, as the reference) + bias (one rounding).
//
// Graph-capturable: no allocation, no host synchronization (the caller carves the scratch buffers); in stream capture
// the overlap becomes programmatic edges.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

// True when the GEMM accepts the problem: m >= 1, n >= 1, k % 128 == 0 (whole K tiles) and 0 < k <= 2^24.
bool W4A16GemmSupports(int64_t m, int64_t n, int64_t k);

// How one call is split, and the scratch it needs (both chosen from the shape and the device; see the .cu file).
struct W4A16GemmPlan {
  int token_tiles = 1;           // 8-token MMA tiles per warp: 1, 2, 4 or 8
  int splits = 1;                // K ranges over grid z; > 1 means a second (reduction) kernel
  int64_t k_tiles_per_split = 0;
  int64_t packed_x_bytes = 0;    // bf16 activations in fragment order: ceil(m / 8) * 8 * k * 2
  int64_t partial_bytes = 0;     // f32 partial sums [splits, m, n] when splits > 1, else 0
};

// The plan for one call on the current device. REQUIRES W4A16GemmSupports(m, n, k).
cudaError_t PlanW4A16Gemm(int64_t m, int64_t n, int64_t k, W4A16GemmPlan* plan);

// y[m, n] (f32, row-major) = weight_scale_2 * bf16(x[m, k]) * W^T (+ bias[n] when bias != null), W as packed codes
// [n, k/2] and linear E4M3 block scales [n, k/16], all device pointers; `plan` from PlanW4A16Gemm for the same
// shape; packed_x (plan.packed_x_bytes, 16-byte aligned) and partials (plan.partial_bytes, 16-byte aligned; may be
// null when 0) are scratch. REQUIRES W4A16GemmSupports(m, n, k); x and codes 16-byte aligned (cudaMalloc'd buffers
// are). Returns cudaErrorInvalidValue when the problem is not supported, else the launches' error. Asynchronous on
// `stream`.
// allow_overlap (default true; compute capability 9.0+): the packing, MMA and reduction kernels are launched with
// programmatic dependent launch, as the W4A16 GEMV is (w4a16_gemv.h states the contract, which holds here too): each
// waits for the kernel before it before touching x, the scratch buffers or y, and the MMA kernel requests
// its first K tile of codes and scales before that wait, so codes and scales must not be written by a kernel that may
// still be running when this call starts (weights uploaded at load qualify). false: ordinary launches.
cudaError_t LaunchW4A16Gemm(const float* x, int64_t m, const uint8_t* codes, const uint8_t* scales, int64_t n,
                            int64_t k, float weight_scale_2, const float* bias, float* y, const W4A16GemmPlan& plan,
                            void* packed_x, float* partials, cudaStream_t stream, bool allow_overlap = true);

}  // namespace fp4lab::cuda
