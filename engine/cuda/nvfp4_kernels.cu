#include "engine/cuda/nvfp4_kernels.h"

#include "engine/cuda/device_codecs.cuh"
#include "engine/cuda/kernel_util.cuh"
#include "engine/nvfp4.h"

namespace fp4lab::cuda {
namespace {

constexpr int kBlock = static_cast<int>(kNvfp4BlockSize);  // 16

// One thread per 16-element block of one row; operation order as QuantizeActivationBlock in engine/nvfp4.cc.
__global__ void QuantizeActivationsKernel(const float* x, int64_t rows, int64_t k, float input_scale,
                                          __nv_bfloat16* products, float* products_f32, uint8_t* packed,
                                          uint8_t* swizzled_scales) {
  const int64_t blocks_per_row = k / kBlock;
  for (int64_t b = GlobalThread(); b < rows * blocks_per_row; b += GlobalStride()) {
    const int64_t r = b / blocks_per_row, c = b % blocks_per_row;
    const float* xb = x + b * kBlock;
    float v[kBlock];
#pragma unroll
    for (int i = 0; i < kBlock; ++i) v[i] = xb[i];
    uint8_t codes[kBlock];
    const uint8_t sa = DeviceQuantizeActivationBlock(v, input_scale, codes);
    const float sa_value = DeviceE4M3ToF32(sa);
    if (products != nullptr) {
#pragma unroll
      for (int i = 0; i < kBlock; ++i) {
        products[b * kBlock + i] = DeviceF32ToBf16(__fmul_rn(DeviceE2M1ToF32(codes[i]), sa_value));
      }
    }
    if (products_f32 != nullptr) {
#pragma unroll
      for (int i = 0; i < kBlock; ++i) products_f32[b * kBlock + i] = __fmul_rn(DeviceE2M1ToF32(codes[i]), sa_value);
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

}  // namespace

cudaError_t LaunchQuantizeNvfp4Activations(const float* x, int64_t rows, int64_t k, float input_scale,
                                           void* products_bf16, uint8_t* packed, uint8_t* swizzled_scales,
                                           cudaStream_t stream) {
  if (k % kBlock != 0) return cudaErrorInvalidValue;
  const int64_t blocks = rows * (k / kBlock);
  if (blocks == 0) return cudaSuccess;
  QuantizeActivationsKernel<<<GridFor(blocks), kThreads, 0, stream>>>(
      x, rows, k, input_scale, static_cast<__nv_bfloat16*>(products_bf16), nullptr, packed, swizzled_scales);
  return cudaGetLastError();
}

cudaError_t LaunchQuantizeNvfp4ActivationsToF32(const float* x, int64_t rows, int64_t k, float input_scale,
                                                float* products, cudaStream_t stream) {
  if (k % kBlock != 0) return cudaErrorInvalidValue;
  const int64_t blocks = rows * (k / kBlock);
  if (blocks == 0) return cudaSuccess;
  QuantizeActivationsKernel<<<GridFor(blocks), kThreads, 0, stream>>>(x, rows, k, input_scale, nullptr, products,
                                                                      nullptr, nullptr);
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

}  // namespace fp4lab::cuda
