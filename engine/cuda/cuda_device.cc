#include "engine/cuda/cuda_device.h"

#include <cuda_runtime.h>

namespace fp4lab {

int CudaDeviceCount(std::string* reason) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    (void)cudaGetLastError();
    if (reason != nullptr) {
      *reason = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(error) + " (" +
                std::to_string(static_cast<int>(error)) + "): " + cudaGetErrorString(error);
    }
    return 0;
  }
  if (count == 0 && reason != nullptr) *reason = "cudaGetDeviceCount found 0 devices";
  return count;
}

std::string DescribeCudaDevices() {
  std::string reason;
  const int count = CudaDeviceCount(&reason);
  if (count == 0) return "none (" + reason + ")";
  std::string out;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    const bool named = cudaGetDeviceProperties(&prop, i) == cudaSuccess;
    out += (i ? ", cuda:" : "cuda:") + std::to_string(i) + (named ? std::string(" (") + prop.name + ")" : "");
  }
  return out;
}

}  // namespace fp4lab
