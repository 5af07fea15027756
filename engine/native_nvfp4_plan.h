// Host-side logic of the native NVFP4 GEMM (Blackwell, cuBLASLt block-scaled FP4; design/NVFP4.md sections 6-7),
// free of CUDA headers so that it is unit-tested on machines without a GPU. engine/cuda/ turns a plan into
// cuBLASLt descriptors; nothing here touches a device.
//
// The GEMM: row-major X[M, K] (activations, NVFP4 codes + per-16 E4M3 scales), W[N, K] (weights, same format),
// Y[M, N] = alpha * sum_k (qa * sa)[m, k] * (qw * sw)[n, k], alpha = input_scale * weight_scale_2, f32 out.
// cuBLASLt is column-major and FP4 supports only "TN", so it is asked for D = op(A) * op(B) with
//   A = W seen as column-major K x N (lda = K), op(A) = A^T          -> m = N
//   B = X seen as column-major K x M (ldb = K), op(B) = B            -> n = M
//   D column-major N x M with ldd = N, which is exactly row-major Y[M, N].
// The block scale of A is the weight's [N, K/16] swizzled over N rows; that of B the activations' [M, K/16]
// swizzled over M rows (CUDALibrarySamples issue #248: swapping them is the classic bug).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/linear_weights.h"
#include "engine/status.h"

namespace fp4lab {

// cuBLASLt enum values the plan refers to, pinned here so the plan needs no CUDA header. engine/cuda checks them
// against cublasLt.h with static_assert.
inline constexpr int kCublasLtScaleModeVec16Ue4m3 = 1;  // CUBLASLT_MATMUL_MATRIX_SCALE_VEC16_UE4M3
inline constexpr int kCudaDataTypeE2M1 = 33;            // CUDA_R_4F_E2M1
inline constexpr int kCublasStatusNotSupported = 15;    // CUBLAS_STATUS_NOT_SUPPORTED

// Which NVFP4 (W4A4) path the user asked for: env FP4LAB_NVFP4_PATH or CudaBackendOptions.
enum class Nvfp4PathRequest { kAuto, kNative, kEmulated };

// "" or "auto" -> kAuto, "native", "emulated"; InvalidArgument naming `source` (e.g. "FP4LAB_NVFP4_PATH") otherwise.
Result<Nvfp4PathRequest> ParseNvfp4PathRequest(std::string_view text, std::string_view source);

// True for the compute capabilities with FP4 tensor cores that cuBLASLt's block-scaled GEMM targets (10.x, 12.x).
bool HasFp4TensorCores(int cc_major);

// The path one device takes for kNvfp4 Linears, and why.
struct Nvfp4PathDecision {
  bool native = false;
  std::string reason;  // always set: why native, or why emulated
};

// Decides from the request, the device's compute capability and the outcome of probing cuBLASLt for an NVFP4
// block-scaled algorithm (`probe` OK = an algorithm exists; otherwise its error, e.g. the heuristic's
// CUBLAS_STATUS_NOT_SUPPORTED on Hopper). kEmulated always emulates; kAuto and kNative run natively iff the probe
// succeeded (a kNative request on a device without support falls back to emulation, saying so: nothing crashes).
Nvfp4PathDecision DecideNvfp4Path(Nvfp4PathRequest request, int cc_major, int cc_minor, const Status& probe);

// One native NVFP4 GEMM, as cuBLASLt is asked for it (see the header comment).
struct NativeNvfp4GemmPlan {
  int64_t m = 0;  // cuBLAS m = out_features N
  int64_t n = 0;  // cuBLAS n = rows M
  int64_t k = 0;  // in_features K
  bool transpose_a = true;   // op(A) = A^T (CUBLAS_OP_T)
  bool transpose_b = false;  // op(B) = B   (CUBLAS_OP_N)
  int64_t lda = 0, ldb = 0, ldd = 0;  // leading dimensions in elements: K, K, N
  int a_type = kCudaDataTypeE2M1;
  int b_type = kCudaDataTypeE2M1;
  int a_scale_mode = kCublasLtScaleModeVec16Ue4m3;
  int b_scale_mode = kCublasLtScaleModeVec16Ue4m3;
  int64_t a_scale_bytes = 0;  // swizzled weight scales: SwizzledScaleBytes(N, K/16)
  int64_t b_scale_bytes = 0;  // swizzled activation scales: SwizzledScaleBytes(M, K/16)
  int64_t a_bytes = 0;        // packed weight codes N * K / 2
  int64_t b_bytes = 0;        // packed activation codes M * K / 2
  float alpha = 0.0f;         // input_scale * weight_scale_2, applied once per output
  float beta = 0.0f;
};

// Shape rule of the native path: K % 32 == 0 (FP4 rows of K/2 bytes must be 16-byte aligned, the FP8-class
// alignment rule of NVFP4.md section 7) and N % 16 == 0. Unimplemented (with the layer name) otherwise: such a
// layer runs emulated.
Status CheckNativeNvfp4Shape(std::string_view name, int64_t out_features, int64_t in_features);

// alpha = input_scale * weight_scale_2 in f32, the single global factor of a W4A4 GEMM (CUDA's epilogue applies it
// once per output, as the CPU reference does).
float NativeNvfp4Alpha(float input_scale, float weight_scale_2);

// The plan for `rows` activations through a kNvfp4 layer of that shape. Errors: CheckNativeNvfp4Shape, rows < 1,
// scales not finite and > 0 (InvalidArgument).
Result<NativeNvfp4GemmPlan> PlanNativeNvfp4Gemm(std::string_view name, int64_t rows, int64_t out_features,
                                                int64_t in_features, float input_scale, float weight_scale_2);

// The weight's block scales [N, K/16] re-laid out for cuBLASLt (128x4 swizzle, zero padded), done once at load.
// Errors: not an NVFP4 scheme, or codes/scales sizes that do not match [N, K] (InvalidArgument naming the layer).
Result<std::vector<uint8_t>> SwizzleWeightScales(const LinearWeights& w);

}  // namespace fp4lab
