#include <string>

#include "engine/backend.h"
#include "engine/cpu/cpu_backend.h"
#ifdef FP4LAB_WITH_CUDA
#include "engine/cuda/cuda_backend.h"
#endif

namespace fp4lab {

Result<std::unique_ptr<Backend>> CreateBackend(const std::string& device) {
  if (device == "cpu") return CreateCpuBackend();
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
#ifdef FP4LAB_WITH_CUDA
    return CreateCudaBackend(device);
#else
    return Status::Unimplemented("device '" + device + "': this fp4lab was built without CUDA (-DFP4LAB_CUDA=OFF); "
                                 "available devices: cpu");
#endif
  }
  return Status::InvalidArgument("unknown device '" + device + "' (expected cpu, cuda or cuda:N)");
}

}  // namespace fp4lab
