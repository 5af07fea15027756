// The FP8 KV cache on the CUDA backend (Backend::RoundKvRowsToFp8, engine/kv_cache_format.h).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

// For every r < rows and column c of the caches k_cache [*, k_cols], v_cache [*, v_cols] (f32 device memory), in
// place at cache row cache_rows[r] (device int32): x = f32(E4M3(x / scale)) * scale, with k_scale on keys and
// v_scale on values; the division and the multiply rounded to nearest (__fdiv_rn, __fmul_rn) and the conversion
// DeviceF32ToE4M3: bit-identical to Fp8KvRoundTrip on the CPU. REQUIRES every cache row inside the caches.
cudaError_t LaunchRoundKvRowsToFp8(const int32_t* cache_rows, int64_t rows, float* k_cache, int64_t k_cols,
                                   float k_scale, float* v_cache, int64_t v_cols, float v_scale, cudaStream_t stream);

}  // namespace fp4lab::cuda
