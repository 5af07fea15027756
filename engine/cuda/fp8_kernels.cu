#include "engine/cuda/fp8_kernels.h"

#include "engine/cuda/device_codecs.cuh"
#include "engine/cuda/kernel_util.cuh"

namespace fp4lab::cuda {
namespace {

__global__ void FakeQuantizeFp8Kernel(const float* x, int64_t count, float input_scale, __nv_bfloat16* out) {
  for (int64_t i = GlobalThread(); i < count; i += GlobalStride()) {
    out[i] = DeviceF32ToBf16(DeviceE4M3ToF32(DeviceF32ToE4M3(__fdiv_rn(x[i], input_scale))));
  }
}

__global__ void DecodeE4M3Kernel(const uint8_t* w8, int64_t count, __nv_bfloat16* out) {
  for (int64_t i = GlobalThread(); i < count; i += GlobalStride()) out[i] = DeviceF32ToBf16(DeviceE4M3ToF32(w8[i]));
}

}  // namespace

cudaError_t LaunchFakeQuantizeFp8Activations(const float* x, int64_t count, float input_scale, void* out_bf16,
                                             cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  FakeQuantizeFp8Kernel<<<GridFor(count), kThreads, 0, stream>>>(x, count, input_scale,
                                                                  static_cast<__nv_bfloat16*>(out_bf16));
  return cudaGetLastError();
}

cudaError_t LaunchDecodeE4M3ToBf16(const uint8_t* w8, int64_t count, void* out_bf16, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  DecodeE4M3Kernel<<<GridFor(count), kThreads, 0, stream>>>(w8, count, static_cast<__nv_bfloat16*>(out_bf16));
  return cudaGetLastError();
}

}  // namespace fp4lab::cuda
