#include "engine/cuda/cublaslt_gemm.h"

#include "engine/cuda/cuda_check.h"

namespace fp4lab::cuda {
namespace {

// The host-side plan pins these cuBLASLt enum values without CUDA headers; hold it to the real ones.
static_assert(CUBLASLT_MATMUL_MATRIX_SCALE_VEC16_UE4M3 == kCublasLtScaleModeVec16Ue4m3);
static_assert(CUDA_R_4F_E2M1 == kCudaDataTypeE2M1);
static_assert(CUBLAS_STATUS_NOT_SUPPORTED == kCublasStatusNotSupported);

constexpr int64_t kWorkspaceBytes = int64_t{32} << 20;  // cuBLASLt's recommended size for Hopper/Blackwell
constexpr size_t kMaxCachedProblems = 1024;             // beyond this the cache starts over
constexpr int64_t kProbeSize = 128;                     // the NVFP4 probe problem, 128 x 128 x 128

std::string ProblemText(const char* kind, int64_t m, int64_t n, int64_t k) {
  return std::string(kind) + " GEMM m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k);
}

}  // namespace

Result<std::unique_ptr<CublasLtGemm>> CublasLtGemm::Create(std::shared_ptr<CudaContext> context) {
  auto gemm = std::unique_ptr<CublasLtGemm>(new CublasLtGemm(context));
  FP4LAB_RETURN_IF_ERROR(context->Activate());
  CUBLAS_CHECK(cublasLtCreate(&gemm->handle_));
  FP4LAB_ASSIGN_OR_RETURN(gemm->workspace_, DeviceBuffer::Allocate(context, kWorkspaceBytes, "cuBLASLt workspace"));
  return gemm;
}

CublasLtGemm::~CublasLtGemm() {
  for (auto& [key, entry] : cache_) Destroy(entry);
  if (handle_ != nullptr) (void)cublasLtDestroy(handle_);
}

void CublasLtGemm::Destroy(Entry& entry) {
  if (entry.a != nullptr) (void)cublasLtMatrixLayoutDestroy(entry.a);
  if (entry.b != nullptr) (void)cublasLtMatrixLayoutDestroy(entry.b);
  if (entry.d != nullptr) (void)cublasLtMatrixLayoutDestroy(entry.d);
  if (entry.desc != nullptr) (void)cublasLtMatmulDescDestroy(entry.desc);
  entry = Entry();
}

Status CublasLtGemm::CreateEntry(const Problem& problem, Entry& entry) {
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&entry.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transa = problem.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t transb = problem.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(entry.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa)));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(entry.desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb)));
  if (problem.nvfp4) {
    // Without the modes the scale pointers would be read as f32 scalars (NVFP4.md section 7).
    const int32_t a_mode = problem.a_scale_mode, b_mode = problem.b_scale_mode;
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(entry.desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &a_mode, sizeof(a_mode)));
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(entry.desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &b_mode, sizeof(b_mode)));
    // Placeholders until each call sets the real scale buffers; the algorithm does not depend on them.
    const void* placeholder = workspace_.data();
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(entry.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &placeholder,
                                                sizeof(placeholder)));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(entry.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &placeholder,
                                                sizeof(placeholder)));
  }
  // Column-major storage of the operands before op(): A is k x m when transposed (else m x k), B k x n (else n x k).
  const int64_t m = problem.m, n = problem.n, k = problem.k;
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&entry.a, static_cast<cudaDataType_t>(problem.a_type),
                                          problem.transpose_a ? k : m, problem.transpose_a ? m : k, problem.lda));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&entry.b, static_cast<cudaDataType_t>(problem.b_type),
                                          problem.transpose_b ? n : k, problem.transpose_b ? k : n, problem.ldb));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&entry.d, CUDA_R_32F, m, n, problem.ldd));

  cublasLtMatmulPreference_t preference = nullptr;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  const uint64_t workspace_bytes = static_cast<uint64_t>(workspace_.bytes());
  cublasStatus_t status = cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                               &workspace_bytes, sizeof(workspace_bytes));
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulAlgoGetHeuristic(handle_, entry.desc, entry.a, entry.b, entry.d, entry.d, preference, 1,
                                            &result, &returned);
  }
  (void)cublasLtMatmulPreferenceDestroy(preference);
  const char* kind_name = problem.nvfp4 ? "NVFP4 block-scaled" : "bf16";
  if (status != CUBLAS_STATUS_SUCCESS) {
    return Status::Unimplemented("cublasLtMatmulAlgoGetHeuristic for a " + ProblemText(kind_name, m, n, k) +
                                 " answered " + CublasStatusText(status));
  }
  if (returned == 0) {
    return Status::Unimplemented("cublasLtMatmulAlgoGetHeuristic found no algorithm for a " +
                                 ProblemText(kind_name, m, n, k));
  }
  entry.algo = result.algo;
  return Status::Ok();
}

Result<CublasLtGemm::Entry*> CublasLtGemm::Lookup(const Problem& problem) {
  const Key key = problem.AsKey();
  auto it = cache_.find(key);
  if (it != cache_.end()) return &it->second;
  if (cache_.size() >= kMaxCachedProblems) {
    for (auto& [unused, entry] : cache_) Destroy(entry);
    cache_.clear();
  }
  Entry entry;
  const Status status = CreateEntry(problem, entry);
  if (!status.ok()) {
    Destroy(entry);
    return status;
  }
  return &cache_.emplace(key, entry).first->second;
}

CublasLtGemm::Problem CublasLtGemm::Nvfp4Problem(const NativeNvfp4GemmPlan& plan) {
  Problem p;
  p.nvfp4 = true;
  p.a_type = plan.a_type;
  p.b_type = plan.b_type;
  p.m = plan.m;
  p.n = plan.n;
  p.k = plan.k;
  p.lda = plan.lda;
  p.ldb = plan.ldb;
  p.ldd = plan.ldd;
  p.transpose_a = plan.transpose_a;
  p.transpose_b = plan.transpose_b;
  p.a_scale_mode = plan.a_scale_mode;
  p.b_scale_mode = plan.b_scale_mode;
  return p;
}

Status CublasLtGemm::Bf16(const void* x_bf16, const void* w_bf16, int64_t m, int64_t n, int64_t k, float alpha,
                          float* y) {
  if (m == 0 || n == 0) return Status::Ok();
  FP4LAB_RETURN_IF_ERROR(context_->Activate());
  // The same "TN" mapping as the native plan: cuBLAS m = outputs n, cuBLAS n = rows m.
  Problem problem;
  problem.m = n;
  problem.n = m;
  problem.k = k;
  problem.lda = k;
  problem.ldb = k;
  problem.ldd = n;
  FP4LAB_ASSIGN_OR_RETURN(Entry * entry, Lookup(problem));
  const float beta = 0.0f;
  CUBLAS_CHECK(cublasLtMatmul(handle_, entry->desc, &alpha, w_bf16, entry->a, x_bf16, entry->b, &beta, y, entry->d, y,
                              entry->d, &entry->algo, workspace_.data(), static_cast<size_t>(workspace_.bytes()),
                              context_->stream()));
  return Status::Ok();
}

Status CublasLtGemm::Nvfp4(const NativeNvfp4GemmPlan& plan, const void* x_codes, const void* x_scales,
                           const void* w_codes, const void* w_scales, float* y) {
  FP4LAB_RETURN_IF_ERROR(context_->Activate());
  FP4LAB_ASSIGN_OR_RETURN(Entry * entry, Lookup(Nvfp4Problem(plan)));
  // A = W carries the weight scales, B = X the activation scales (CUDALibrarySamples issue #248).
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(entry->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &w_scales,
                                              sizeof(w_scales)));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(entry->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &x_scales,
                                              sizeof(x_scales)));
  CUBLAS_CHECK(cublasLtMatmul(handle_, entry->desc, &plan.alpha, w_codes, entry->a, x_codes, entry->b, &plan.beta, y,
                              entry->d, y, entry->d, &entry->algo, workspace_.data(),
                              static_cast<size_t>(workspace_.bytes()), context_->stream()));
  return Status::Ok();
}

Status CublasLtGemm::ProbeNvfp4() {
  FP4LAB_RETURN_IF_ERROR(context_->Activate());
  // A plan of the same kind the layers use, at a shape every algorithm accepts.
  FP4LAB_ASSIGN_OR_RETURN(NativeNvfp4GemmPlan plan,
                          PlanNativeNvfp4Gemm("probe", kProbeSize, kProbeSize, kProbeSize, 1.0f, 1.0f));
  return Lookup(Nvfp4Problem(plan)).status();
}

}  // namespace fp4lab::cuda
