#include "engine/cuda/cuda_check.h"

#include <string>

namespace fp4lab::cuda {
namespace {

// "engine/cuda/x.cc" from an absolute __FILE__.
std::string ShortFile(const char* file) {
  const std::string path(file);
  const size_t at = path.rfind("engine/cuda/");
  return at == std::string::npos ? path : path.substr(at);
}

std::string Where(const char* expr, const char* file, int line) {
  return ShortFile(file) + ":" + std::to_string(line) + ": " + expr;
}

}  // namespace

Status CudaErrorStatus(cudaError_t error, const char* expr, const char* file, int line) {
  // An out-of-memory error is not sticky; clear it so the next call does not report it again.
  if (error == cudaErrorMemoryAllocation) (void)cudaGetLastError();
  const std::string message = Where(expr, file, line) + " failed: " + cudaGetErrorName(error) + " (" +
                              std::to_string(static_cast<int>(error)) + "): " + cudaGetErrorString(error);
  switch (error) {
    case cudaErrorMemoryAllocation: return Status::ResourceExhausted(message);
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorNotSupported: return Status::Unimplemented(message);
    default: return Status::Internal(message);
  }
}

std::string CublasStatusText(cublasStatus_t status) {
  return std::string(cublasLtGetStatusName(status)) + " (" + std::to_string(static_cast<int>(status)) + ")";
}

Status CublasErrorStatus(cublasStatus_t status, const char* expr, const char* file, int line) {
  const std::string message = Where(expr, file, line) + " failed: " + CublasStatusText(status) + ": " +
                              cublasLtGetStatusString(status);
  switch (status) {
    case CUBLAS_STATUS_ALLOC_FAILED: return Status::ResourceExhausted(message);
    case CUBLAS_STATUS_NOT_SUPPORTED:
    case CUBLAS_STATUS_ARCH_MISMATCH: return Status::Unimplemented(message);
    default: return Status::Internal(message);
  }
}

}  // namespace fp4lab::cuda
