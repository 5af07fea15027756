// CudaLinear: one Linear layer resident on a CUDA device, and its forward pass.
//
// Stored form (DeviceBytes counts exactly these buffers):
//   kBf16        bf16 W [N, K]
//   kNvfp4       packed E2M1 codes [N, K/2] + linear E4M3 block scales [N, K/16]; on the native path also the
//                scales swizzled for cuBLASLt [SwizzledScaleBytes(N, K/16)], prepared once here
//   kNvfp4W4A16  codes + linear block scales (stay packed; the GEMV and the MMA GEMM dequantize them in registers,
//                the largest batches into a workspace copy per call)
//   kFp8         E4M3 W [N, K]
// plus the f32 bias [N] when present. Global scales stay on the host. A synthetic layer (LinearWeights::synthetic)
// has its payload generated in place on the device (engine/cuda/synthetic_device.h), never uploaded.
//
// Numerics, per path (the CPU reference in engine/cpu/cpu_linear.h is the contract; only what is listed differs):
//   bf16          decode batches (rows <= 3, K % 8 == 0; engine/cuda/bf16_gemv.h): f32 x, W decoded exactly, f32
//                 FMA accumulation                                                   [summation order]
//                 other batches: x rounded to bf16 (RNE), cuBLASLt bf16 GEMM, f32 accumulation
//                                                                                    [bf16 rounding of x, order]
//   nvfp4 emulated x quantized per 16-block bit-identically to the CPU, exact e2m1*e4m3 products in bf16 for x and
//                 W, cuBLASLt bf16 GEMM with f32 accumulation, alpha = input_scale * weight_scale_2 once per
//                 output; rows <= 16 (decode): the same quantized x in f32 through the W4A16 GEMV, the same
//                 alpha                                                              [summation order]
//   nvfp4 native  cuBLASLt block-scaled FP4 GEMM on the same codes and scales (Blackwell tensor cores apply the
//                 block scales internally), same alpha                               [hardware summation]
//   nvfp4-w4a16   the kernel per batch size is ChooseW4A16Kernel's (engine/cuda/w4a16_dispatch.h; the MMA GEMM unless
//                 FP4LAB_W4A16_GEMM=dequant):
//                 GEMV (decode): f32 x, exactly dequantized W in registers, f32 FMA accumulation, * weight_scale_2
//                 (engine/cuda/w4a16_gemv.h)                                          [summation order]
//                 MMA GEMM (batched decode, short prefill): x rounded to bf16, W dequantized exactly to bf16 in
//                 registers, tensor cores with f32 accumulation, * weight_scale_2 once per output
//                 (engine/cuda/w4a16_mma_gemm.h)                                [bf16 rounding of x, order]
//                 other batches: W dequantized exactly to bf16 into the workspace, x rounded to bf16,
//                 cuBLASLt bf16 GEMM, alpha = weight_scale_2 once per output  [bf16 rounding of x, order]
//   fp8           x -> e4m3(x / input_scale) bit-identically, exact bf16 operands, cuBLASLt bf16 GEMM, alpha =
//                 input_scale * weight_scale once per output                         [summation order]
// then + bias.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "engine/backend.h"
#include "engine/cuda/cublaslt_gemm.h"
#include "engine/cuda/cuda_context.h"

namespace fp4lab::cuda {

enum class CudaLinearPath { kBf16, kNvfp4Native, kNvfp4Emulated, kNvfp4WeightOnly, kFp8Emulated };

class CudaLinear : public DeviceLinear {
 public:
  // Uploads `w` in its path's layout. With native_nvfp4, a kNvfp4 layer whose shape the native GEMM accepts
  // (CheckNativeNvfp4Shape) takes the native path and gets swizzled scales; other kNvfp4 layers are emulated.
  // w4a16_mma_gemm: a kNvfp4W4A16 layer may run batches through the tensor-core GEMM (ChooseW4A16Kernel).
  // Errors: sizes that do not match the shape (Internal), out of device memory (ResourceExhausted naming the layer).
  static Result<std::unique_ptr<CudaLinear>> Prepare(const std::shared_ptr<CudaContext>& context,
                                                     const LinearWeights& w, bool native_nvfp4,
                                                     bool w4a16_mma_gemm = false);
  // One layer named `name` whose output rows are the parts' rows stacked in order (fused q|k|v, gate|up); the
  // parts must pass CheckFusable (engine/linear_weights.h), else FailedPrecondition.
  static Result<std::unique_ptr<CudaLinear>> Prepare(const std::shared_ptr<CudaContext>& context,
                                                     std::span<const LinearWeights> parts, const std::string& name,
                                                     bool native_nvfp4, bool w4a16_mma_gemm = false);

  const std::string& name() const override { return name_; }
  int64_t out_features() const override { return n_; }
  int64_t in_features() const override { return k_; }
  LinearScheme scheme() const override { return scheme_; }
  int64_t DeviceBytes() const override { return device_bytes_; }

  // Why a kNvfp4 layer is emulated although the device runs NVFP4 natively (its shape); empty otherwise.
  const std::string& native_refusal() const { return native_refusal_; }

  // y[rows, N] = x[rows, K] * W^T (+ bias) on the context's stream, with the numerics above. Scratch comes from
  // `workspace`. If cuBLASLt refuses a native NVFP4 problem (no algorithm for this M), the call runs emulated and
  // *native_fallback (if not null) receives the reason.
  Status Forward(const float* x, int64_t rows, float* y, CublasLtGemm& gemm, Workspace& workspace,
                 std::string* native_fallback) const;

  // Decodes rows tokens[0..count) (device ids, validated by the caller) of W times its global scale into
  // out[count, K], bit-identical to CpuLinear::DequantizedRow (the embedding lookup).
  Status EmbedRows(const int32_t* tokens, int64_t count, float* out) const;

 private:
  explicit CudaLinear(std::shared_ptr<CudaContext> context) : context_(std::move(context)) {}
  Status ForwardNvfp4Emulated(const float* x, int64_t rows, float* y, CublasLtGemm& gemm, Workspace& ws) const;
  Status ForwardNvfp4W4A16Gemm(const float* x, int64_t rows, float* y, CublasLtGemm& gemm, Workspace& ws) const;
  Status ForwardNvfp4W4A16Mma(const float* x, int64_t rows, float* y, Workspace& ws) const;
  Status ForwardNvfp4Native(const float* x, int64_t rows, float* y, CublasLtGemm& gemm, Workspace& ws) const;
  Status ForwardFp8(const float* x, int64_t rows, float* y, CublasLtGemm& gemm, Workspace& ws) const;
  Status ForwardBf16(const float* x, int64_t rows, float* y, CublasLtGemm& gemm, Workspace& ws) const;

  std::shared_ptr<CudaContext> context_;
  std::string name_;
  int64_t n_ = 0, k_ = 0;
  LinearScheme scheme_ = LinearScheme::kBf16;
  CudaLinearPath path_ = CudaLinearPath::kBf16;
  std::string native_refusal_;
  DeviceBuffer weights_;          // bf16 W, NVFP4 codes or E4M3 W (see the header comment)
  DeviceBuffer block_scales_;     // NVFP4: linear E4M3 [N, K/16]
  DeviceBuffer swizzled_scales_;  // native NVFP4: cuBLASLt layout
  DeviceBuffer bias_;             // f32 [N], or empty
  float weight_global_ = 1.0f;    // weight_scale_2 (NVFP4), weight scale (FP8), 1 (bf16)
  float input_scale_ = 1.0f;      // kNvfp4 / kFp8 static activation scale
  bool w4a16_mma_gemm_ = false;   // kNvfp4W4A16: the tensor-core GEMM may take batches (ChooseW4A16Kernel)
  int64_t device_bytes_ = 0;
};

}  // namespace fp4lab::cuda
