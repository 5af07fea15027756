#include "engine/cuda/synthetic_device.h"

#include <mutex>
#include <vector>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/synthetic_kernels.h"

namespace fp4lab::cuda {
namespace {

// Uploads the level tables to the context's device unless this process already did.
Status EnsureLevelsOnDevice(const CudaContext& context) {
  static std::mutex mutex;
  static std::vector<bool> uploaded;  // by device ordinal
  std::lock_guard<std::mutex> lock(mutex);
  const size_t device = static_cast<size_t>(context.device());
  if (device < uploaded.size() && uploaded[device]) return Status::Ok();
  CUDA_CHECK(UploadSyntheticLevels(SyntheticLevels(), context.stream()));
  if (uploaded.size() <= device) uploaded.resize(device + 1, false);
  uploaded[device] = true;
  return Status::Ok();
}

}  // namespace

Status GenerateSyntheticTensor(const CudaContext& context, const SyntheticTensor& t, void* dst) {
  FP4LAB_RETURN_IF_ERROR(context.Activate());
  FP4LAB_RETURN_IF_ERROR(EnsureLevelsOnDevice(context));
  CUDA_CHECK(LaunchFillSynthetic(t, static_cast<uint8_t*>(dst), context.stream()));
  return Status::Ok();
}

}  // namespace fp4lab::cuda
