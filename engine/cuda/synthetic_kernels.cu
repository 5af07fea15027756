#include "engine/cuda/synthetic_kernels.h"

#include "engine/cuda/kernel_util.cuh"
#include "engine/nvfp4.h"

namespace fp4lab::cuda {

// The level tables of this device (384 KiB of module memory, written by UploadSyntheticLevels).
__device__ SyntheticLevelTables g_synthetic_levels;

namespace {

// Word j of `t` -> bytes [j * kBytesPerWord, ...) of dst, cut at `bytes`. kBytesPerWord =
// SyntheticBytesPerWord(t.fill); dst is 8-byte aligned, so a whole word is one aligned store.
template <int kBytesPerWord>
__global__ void FillSyntheticKernel(SyntheticTensor t, uint8_t* dst, int64_t bytes, int64_t words) {
  for (int64_t j = GlobalThread(); j < words; j += GlobalStride()) {
    const uint64_t value = SyntheticWordBytes(t, g_synthetic_levels, static_cast<uint64_t>(j));
    const int64_t begin = j * kBytesPerWord;
    if (begin + kBytesPerWord <= bytes) {
      if constexpr (kBytesPerWord == 8) {
        reinterpret_cast<uint64_t*>(dst)[j] = value;
      } else {
        reinterpret_cast<uint32_t*>(dst)[j] = static_cast<uint32_t>(value);
      }
    } else {
      for (int64_t i = 0; begin + i < bytes; ++i) dst[begin + i] = static_cast<uint8_t>(value >> (8 * i));
    }
  }
}

// One thread per linear scale.
__global__ void SwizzleScalesKernel(const uint8_t* linear, int64_t rows, int64_t cols, uint8_t* swizzled) {
  for (int64_t i = GlobalThread(); i < rows * cols; i += GlobalStride()) {
    swizzled[SwizzledScaleOffset(i / cols, i % cols, cols)] = linear[i];
  }
}

}  // namespace

cudaError_t UploadSyntheticLevels(const SyntheticLevelTables& levels, cudaStream_t stream) {
  const cudaError_t copy = cudaMemcpyToSymbolAsync(g_synthetic_levels, &levels, sizeof(SyntheticLevelTables), 0,
                                                   cudaMemcpyHostToDevice, stream);
  if (copy != cudaSuccess) return copy;
  return cudaStreamSynchronize(stream);
}

cudaError_t LaunchFillSynthetic(const SyntheticTensor& t, uint8_t* dst, cudaStream_t stream) {
  const int64_t bytes = t.Bytes(), words = t.Words();
  if (words == 0) return cudaSuccess;
  if (dst == nullptr || reinterpret_cast<uintptr_t>(dst) % 8 != 0) return cudaErrorInvalidValue;
  if (SyntheticBytesPerWord(t.fill) == 8) {
    FillSyntheticKernel<8><<<GridFor(words), kThreads, 0, stream>>>(t, dst, bytes, words);
  } else {
    FillSyntheticKernel<4><<<GridFor(words), kThreads, 0, stream>>>(t, dst, bytes, words);
  }
  return cudaGetLastError();
}

cudaError_t LaunchSwizzleScales(const uint8_t* linear, int64_t rows, int64_t cols, uint8_t* swizzled,
                                cudaStream_t stream) {
  const int64_t swizzled_bytes = SwizzledScaleBytes(rows, cols);
  if (swizzled_bytes == 0) return cudaSuccess;
  const cudaError_t zero = cudaMemsetAsync(swizzled, 0, static_cast<size_t>(swizzled_bytes), stream);
  if (zero != cudaSuccess) return zero;
  if (rows * cols == 0) return cudaSuccess;
  SwizzleScalesKernel<<<GridFor(rows * cols), kThreads, 0, stream>>>(linear, rows, cols, swizzled);
  return cudaGetLastError();
}

}  // namespace fp4lab::cuda
