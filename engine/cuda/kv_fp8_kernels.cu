#include "engine/cuda/kv_fp8_kernels.h"

#include "engine/cuda/device_codecs.cuh"
#include "engine/cuda/kernel_util.cuh"

namespace fp4lab::cuda {

namespace {

__device__ __forceinline__ float RoundTrip(float x, float scale) {
  return __fmul_rn(DeviceE4M3ToF32(DeviceF32ToE4M3(__fdiv_rn(x, scale))), scale);
}

// One thread per element of the rows' K then V values (grid-stride).
__global__ void RoundKvRowsToFp8Kernel(const int32_t* cache_rows, int64_t rows, float* k_cache, int64_t k_cols,
                                       float k_scale, float* v_cache, int64_t v_cols, float v_scale) {
  const int64_t k_count = rows * k_cols, total = k_count + rows * v_cols;
  for (int64_t i = GlobalThread(); i < total; i += GlobalStride()) {
    if (i < k_count) {
      float& x = k_cache[int64_t{cache_rows[i / k_cols]} * k_cols + i % k_cols];
      x = RoundTrip(x, k_scale);
    } else {
      const int64_t j = i - k_count;
      float& x = v_cache[int64_t{cache_rows[j / v_cols]} * v_cols + j % v_cols];
      x = RoundTrip(x, v_scale);
    }
  }
}

}  // namespace

cudaError_t LaunchRoundKvRowsToFp8(const int32_t* cache_rows, int64_t rows, float* k_cache, int64_t k_cols,
                                   float k_scale, float* v_cache, int64_t v_cols, float v_scale, cudaStream_t stream) {
  const int64_t total = rows * (k_cols + v_cols);
  if (total == 0) return cudaSuccess;
  RoundKvRowsToFp8Kernel<<<GridFor(total), kThreads, 0, stream>>>(cache_rows, rows, k_cache, k_cols, k_scale,
                                                                   v_cache, v_cols, v_scale);
  return cudaGetLastError();
}

}  // namespace fp4lab::cuda
