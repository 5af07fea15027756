// Error handling for the CUDA runtime and cuBLASLt: a failed call becomes a Status that names the call, the error
// (name, number and text) and the source location (engine/cuda/<file>:<line>). Out-of-memory errors map to
// ResourceExhausted, a missing device or unsupported configuration to Unimplemented, everything else to Internal.
//
//   CUDA_CHECK(cudaMemcpyAsync(...));   // returns the Status from the enclosing function on failure
//   CUBLAS_CHECK(cublasLtMatmul(...));
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "engine/status.h"

namespace fp4lab::cuda {

Status CudaErrorStatus(cudaError_t error, const char* expr, const char* file, int line);
Status CublasErrorStatus(cublasStatus_t status, const char* expr, const char* file, int line);
// "CUBLAS_STATUS_NOT_SUPPORTED (15)".
std::string CublasStatusText(cublasStatus_t status);

}  // namespace fp4lab::cuda

#define CUDA_CHECK(expr)                                                                     \
  do {                                                                                       \
    const cudaError_t fp4lab_cuda_error = (expr);                                            \
    if (fp4lab_cuda_error != cudaSuccess) {                                                  \
      return ::fp4lab::cuda::CudaErrorStatus(fp4lab_cuda_error, #expr, __FILE__, __LINE__);  \
    }                                                                                        \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                      \
  do {                                                                                          \
    const cublasStatus_t fp4lab_cublas_status = (expr);                                         \
    if (fp4lab_cublas_status != CUBLAS_STATUS_SUCCESS) {                                        \
      return ::fp4lab::cuda::CublasErrorStatus(fp4lab_cublas_status, #expr, __FILE__, __LINE__); \
    }                                                                                           \
  } while (0)
