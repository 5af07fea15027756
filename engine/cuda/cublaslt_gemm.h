// CublasLtGemm: the backend's cuBLASLt handle, workspace and descriptor cache (no globals: each backend owns one).
// Row-major Y[M, N] = alpha * X[M, K] * W[N, K]^T with f32 output, mapped to cuBLASLt's column-major "TN" problem
// (m = N, n = M, k = K; see engine/native_nvfp4_plan.h), in two forms:
//   Bf16  : X and W bf16, CUBLAS_COMPUTE_32F (exact products, f32 accumulation), alpha on the f32 accumulator.
//   Nvfp4 : X and W packed E2M1 (CUDA_R_4F_E2M1) with swizzled VEC16_UE4M3 block scales (Blackwell only).
// Descriptors and the chosen algorithm are cached per problem (types, shape, leading dimensions, transposes, scale
// modes), which the Nvfp4 form takes from the NativeNvfp4GemmPlan. All device pointers must be 256-byte aligned
// (cudaMalloc and Workspace slices are). Not thread-safe, like the backend that owns it.
#pragma once

#include <cublasLt.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "engine/cuda/cuda_context.h"
#include "engine/native_nvfp4_plan.h"
#include "engine/status.h"

namespace fp4lab::cuda {

class CublasLtGemm {
 public:
  static Result<std::unique_ptr<CublasLtGemm>> Create(std::shared_ptr<CudaContext> context);
  ~CublasLtGemm();
  CublasLtGemm(const CublasLtGemm&) = delete;
  CublasLtGemm& operator=(const CublasLtGemm&) = delete;

  // y[m, n] = alpha * x_bf16[m, k] * w_bf16[n, k]^T, f32 out (row-major sizes: m rows, n outputs).
  Status Bf16(const void* x_bf16, const void* w_bf16, int64_t m, int64_t n, int64_t k, float alpha, float* y);
  // The native NVFP4 GEMM of `plan`: x_codes [M, K/2] with x_scales (swizzled over M), w_codes [N, K/2] with
  // w_scales (swizzled over N), alpha = plan.alpha. Unimplemented when cuBLASLt has no algorithm for it.
  Status Nvfp4(const NativeNvfp4GemmPlan& plan, const void* x_codes, const void* x_scales, const void* w_codes,
               const void* w_scales, float* y);
  // Asks cuBLASLt's heuristic for an NVFP4 block-scaled algorithm on this device (a 128 x 128 x 128 problem):
  // OK if one exists, else Unimplemented carrying the heuristic's answer, e.g. "CUBLAS_STATUS_NOT_SUPPORTED (15)"
  // on Hopper.
  Status ProbeNvfp4();

 private:
  // The fields of a Problem, in order.
  using Key = std::tuple<bool, int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, int, int>;
  // One cuBLASLt problem in column-major terms (see engine/native_nvfp4_plan.h), and its cache key.
  struct Problem {
    bool nvfp4 = false;                              // block-scaled operands (scale modes below); else bf16
    int a_type = CUDA_R_16BF, b_type = CUDA_R_16BF;  // cudaDataType_t of A and B
    int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldd = 0;
    bool transpose_a = true, transpose_b = false;
    int a_scale_mode = 0, b_scale_mode = 0;  // NVFP4 only
    Key AsKey() const {
      return Key(nvfp4, a_type, b_type, m, n, k, lda, ldb, ldd, transpose_a, transpose_b, a_scale_mode, b_scale_mode);
    }
  };
  struct Entry {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };

  explicit CublasLtGemm(std::shared_ptr<CudaContext> context) : context_(std::move(context)) {}
  static Problem Nvfp4Problem(const NativeNvfp4GemmPlan& plan);
  // The cached descriptors of a problem, created (with its heuristic) on first use.
  Result<Entry*> Lookup(const Problem& problem);
  Status CreateEntry(const Problem& problem, Entry& entry);
  static void Destroy(Entry& entry);

  std::shared_ptr<CudaContext> context_;
  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
  std::map<Key, Entry> cache_;
};

}  // namespace fp4lab::cuda
