#include "engine/cuda/nvfp4_kernels.h"

#include "engine/cuda/device_codecs.cuh"
#include "engine/cuda/kernel_util.cuh"
#include "engine/nvfp4.h"

namespace fp4lab::cuda {
namespace {

constexpr int kBlock = static_cast<int>(kNvfp4BlockSize);  // 16

// One thread per 16-element block of one row; operation order as QuantizeActivationBlock in engine/nvfp4.cc.
__global__ void QuantizeActivationsKernel(const float* x, int64_t rows, int64_t k, float input_scale,
                                          __nv_bfloat16* products, uint8_t* packed, uint8_t* swizzled_scales) {
  const int64_t blocks_per_row = k / kBlock;
  for (int64_t b = GlobalThread(); b < rows * blocks_per_row; b += GlobalStride()) {
    const int64_t r = b / blocks_per_row, c = b % blocks_per_row;
    const float* xb = x + b * kBlock;
    float v[kBlock];
#pragma unroll
    for (int i = 0; i < kBlock; ++i) v[i] = xb[i];
    float amax = 0.0f;  // NaN never compares greater, so it is skipped
#pragma unroll
    for (int i = 0; i < kBlock; ++i) {
      const float magnitude = fabsf(v[i]);
      if (magnitude > amax) amax = magnitude;
    }
    const uint8_t sa = DeviceF32ToE4M3(__fdiv_rn(amax, __fmul_rn(6.0f, input_scale)));
    const float sa_value = DeviceE4M3ToF32(sa);
    const float block_scale = __fmul_rn(sa_value, input_scale);
    uint8_t codes[kBlock];
#pragma unroll
    for (int i = 0; i < kBlock; ++i) codes[i] = block_scale == 0.0f ? 0 : DeviceF32ToE2M1(__fdiv_rn(v[i], block_scale));
    if (products != nullptr) {
#pragma unroll
      for (int i = 0; i < kBlock; ++i) {
        products[b * kBlock + i] = DeviceF32ToBf16(__fmul_rn(DeviceE2M1ToF32(codes[i]), sa_value));
      }
    }
    if (packed != nullptr) {
      uint32_t words[2] = {0, 0};
#pragma unroll
      for (int i = 0; i < kBlock; ++i) words[i / 8] |= static_cast<uint32_t>(codes[i]) << (4 * (i % 8));
      *reinterpret_cast<uint2*>(packed + b * (kBlock / 2)) = make_uint2(words[0], words[1]);
    }
    if (swizzled_scales != nullptr) swizzled_scales[SwizzledScaleOffset(r, c, blocks_per_row)] = sa;
  }
}

// One thread per packed byte (two elements).
__global__ void DequantizeKernel(const uint8_t* codes, const uint8_t* scales, int64_t count_bytes,
                                 __nv_bfloat162* out) {
  for (int64_t i = GlobalThread(); i < count_bytes; i += GlobalStride()) {
    const uint8_t byte = codes[i];
    const float scale = DeviceE4M3ToF32(scales[(2 * i) / kBlock]);
    __nv_bfloat162 pair;
    pair.x = DeviceF32ToBf16(__fmul_rn(DeviceE2M1ToF32(byte & 0xFu), scale));
    pair.y = DeviceF32ToBf16(__fmul_rn(DeviceE2M1ToF32(byte >> 4), scale));
    out[i] = pair;
  }
}

constexpr int kGemmWarps = 8;        // output columns per block
constexpr int kGemmRows = 4;         // activation rows per block
constexpr int kChunk = 8;            // elements per packed 32-bit word

__global__ void __launch_bounds__(kGemmWarps * 32) W4A16GemmKernel(const float* x, int64_t m, const uint32_t* codes,
                                                                   const uint8_t* scales, int64_t n, int64_t k,
                                                                   float weight_scale_2, const float* bias,
                                                                   float* y) {
  const int lane = threadIdx.x % 32;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kGemmWarps + threadIdx.x / 32;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kGemmRows;
  if (col >= n) return;  // whole warps leave together
  const int64_t chunks = k / kChunk;
  const uint32_t* w_row = codes + col * chunks;
  const uint8_t* s_row = scales + col * (k / kBlock);
  float acc[kGemmRows] = {};
  for (int64_t c = lane; c < chunks; c += 32) {
    const uint32_t word = w_row[c];
    const float scale = DeviceE4M3ToF32(s_row[c / 2]);
    float w[kChunk];
#pragma unroll
    for (int j = 0; j < kChunk; ++j) w[j] = __fmul_rn(DeviceE2M1ToF32((word >> (4 * j)) & 0xFu), scale);  // exact
#pragma unroll
    for (int r = 0; r < kGemmRows; ++r) {
      if (row0 + r >= m) break;
      const float4* xv = reinterpret_cast<const float4*>(x + (row0 + r) * k + c * kChunk);
      const float4 lo = xv[0], hi = xv[1];
      acc[r] = fmaf(lo.x, w[0], acc[r]);
      acc[r] = fmaf(lo.y, w[1], acc[r]);
      acc[r] = fmaf(lo.z, w[2], acc[r]);
      acc[r] = fmaf(lo.w, w[3], acc[r]);
      acc[r] = fmaf(hi.x, w[4], acc[r]);
      acc[r] = fmaf(hi.y, w[5], acc[r]);
      acc[r] = fmaf(hi.z, w[6], acc[r]);
      acc[r] = fmaf(hi.w, w[7], acc[r]);
    }
  }
#pragma unroll
  for (int r = 0; r < kGemmRows; ++r) {
    const float total = WarpSum(acc[r]);
    if (lane == 0 && row0 + r < m) {
      float out = __fmul_rn(total, weight_scale_2);
      if (bias != nullptr) out = __fadd_rn(out, bias[col]);
      y[(row0 + r) * n + col] = out;
    }
  }
}

}  // namespace

cudaError_t LaunchQuantizeNvfp4Activations(const float* x, int64_t rows, int64_t k, float input_scale,
                                           void* products_bf16, uint8_t* packed, uint8_t* swizzled_scales,
                                           cudaStream_t stream) {
  if (k % kBlock != 0) return cudaErrorInvalidValue;
  const int64_t blocks = rows * (k / kBlock);
  if (blocks == 0) return cudaSuccess;
  QuantizeActivationsKernel<<<GridFor(blocks), kThreads, 0, stream>>>(
      x, rows, k, input_scale, static_cast<__nv_bfloat16*>(products_bf16), packed, swizzled_scales);
  return cudaGetLastError();
}

cudaError_t LaunchDequantizeNvfp4(const uint8_t* codes, const uint8_t* scales, int64_t rows, int64_t k,
                                  void* out_bf16, cudaStream_t stream) {
  if (k % kBlock != 0) return cudaErrorInvalidValue;
  const int64_t bytes = rows * k / 2;
  if (bytes == 0) return cudaSuccess;
  DequantizeKernel<<<GridFor(bytes), kThreads, 0, stream>>>(codes, scales, bytes,
                                                            static_cast<__nv_bfloat162*>(out_bf16));
  return cudaGetLastError();
}

cudaError_t LaunchNvfp4W4A16Gemm(const float* x, int64_t m, const uint8_t* codes, const uint8_t* scales, int64_t n,
                                 int64_t k, float weight_scale_2, const float* bias, float* y, cudaStream_t stream) {
  if (k % kBlock != 0) return cudaErrorInvalidValue;
  if (m * n == 0) return cudaSuccess;
  const int64_t grid_x = (n + kGemmWarps - 1) / kGemmWarps, grid_y = (m + kGemmRows - 1) / kGemmRows;
  if (grid_x > kMaxGridX || grid_y > 65535) return cudaErrorInvalidConfiguration;
  const dim3 grid(static_cast<unsigned>(grid_x), static_cast<unsigned>(grid_y));
  W4A16GemmKernel<<<grid, kGemmWarps * 32, 0, stream>>>(x, m, reinterpret_cast<const uint32_t*>(codes), scales, n, k,
                                                        weight_scale_2, bias, y);
  return cudaGetLastError();
}

}  // namespace fp4lab::cuda
