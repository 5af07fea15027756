#include "engine/cuda/cuda_linear.h"

#include "engine/cuda/bf16_gemv.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/elementwise_kernels.h"
#include "engine/cuda/fp8_kernels.h"
#include "engine/cuda/nvfp4_kernels.h"
#include "engine/cuda/synthetic_device.h"
#include "engine/cuda/synthetic_kernels.h"
#include "engine/cuda/w4a16_dispatch.h"
#include "engine/cuda/w4a16_gemv.h"
#include "engine/native_nvfp4_plan.h"
#include "engine/nvfp4.h"

namespace fp4lab::cuda {
namespace {

std::string Shape(int64_t rows, int64_t cols) {
  std::string out = "[";
  out += std::to_string(rows);
  out += ", ";
  out += std::to_string(cols);
  out += "]";
  return out;
}

// Largest batch a bf16 layer runs through the bf16 GEMV (engine/cuda/bf16_gemv.h) rather than the f32 -> bf16
// conversion and cuBLASLt. Decided from BM_Bf16Gemv against BM_CublasLtBf16 on the four Llama-3.1-8B layer shapes
// (H200, docs/perf/bf16_gemv.md): up to M = 3 the GEMV takes less time over the four shapes even before counting the
// conversion kernel it saves; at M = 4 it is 5 % slower without that kernel (a tie with it); from M = 6 it is 1.2x
// to 3.7x slower.
constexpr int64_t kBf16GemvMaxBatch = 3;

// True when the bf16 GEMV takes this batch: decode-sized, whole 16-byte rows, x 16-byte aligned.
bool Bf16GemvTakes(int64_t rows, int64_t k, const float* x) {
  return rows <= kBf16GemvMaxBatch && Bf16GemvSupports(rows, k) && reinterpret_cast<uintptr_t>(x) % 16 == 0;
}

}  // namespace

Result<std::unique_ptr<CudaLinear>> CudaLinear::Prepare(const std::shared_ptr<CudaContext>& context,
                                                        const LinearWeights& w, bool native_nvfp4,
                                                        bool w4a16_mma_gemm) {
  return Prepare(context, std::span<const LinearWeights>(&w, 1), w.name, native_nvfp4, w4a16_mma_gemm);
}

Result<std::unique_ptr<CudaLinear>> CudaLinear::Prepare(const std::shared_ptr<CudaContext>& context,
                                                        std::span<const LinearWeights> parts,
                                                        const std::string& name, bool native_nvfp4,
                                                        bool w4a16_mma_gemm) {
  FP4LAB_RETURN_IF_ERROR(CheckFusable(parts));
  const LinearWeights& first = parts[0];
  auto lin = std::unique_ptr<CudaLinear>(new CudaLinear(context));
  lin->name_ = name;
  lin->k_ = first.in_features;
  lin->scheme_ = first.scheme;
  lin->w4a16_mma_gemm_ = w4a16_mma_gemm;
  for (const LinearWeights& w : parts) lin->n_ += w.out_features;
  const int64_t n = lin->n_, k = lin->k_;
  const bool nvfp4 = first.scheme == LinearScheme::kNvfp4 || first.scheme == LinearScheme::kNvfp4W4A16;
  if (nvfp4 && k % kNvfp4BlockSize != 0) {
    return Status::Internal(name + ": K = " + std::to_string(k) + " is not a multiple of the NVFP4 block");
  }
  // Bytes of one W row in the stored form, and of its block scales.
  const int64_t row_bytes = first.scheme == LinearScheme::kBf16 ? 2 * k : nvfp4 ? k / 2 : k;
  const int64_t scale_row_bytes = nvfp4 ? k / kNvfp4BlockSize : 0;
  FP4LAB_RETURN_IF_ERROR(context->Activate());

  const auto allocate = [&](DeviceBuffer& dst, int64_t bytes, const std::string& what) -> Status {
    FP4LAB_ASSIGN_OR_RETURN(dst, DeviceBuffer::Allocate(context, bytes, name + " " + what));
    lin->device_bytes_ += bytes;
    return Status::Ok();
  };
  // `bytes` at `dst`: uploaded from `src` (pageable: returns once staged, so `src` may go away afterwards), or
  // generated here from the part's synthetic description (the same bytes).
  const auto fill = [&](void* dst, const void* src, int64_t bytes, const SyntheticTensor* generated,
                        const LinearWeights& w) -> Status {
    if (generated != nullptr) {
      if (generated->Bytes() != bytes) {
        return Status::Internal(w.name + ": synthetic payload bytes do not match the layer shape " +
                                Shape(w.out_features, k));
      }
      return GenerateSyntheticTensor(*context, *generated, dst);
    }
    if (bytes > 0) {
      CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), cudaMemcpyHostToDevice, context->stream()));
    }
    return Status::Ok();
  };
  const char* what = first.scheme == LinearScheme::kBf16 ? "bf16 weight" : nvfp4 ? "NVFP4 codes" : "FP8 weight";
  FP4LAB_RETURN_IF_ERROR(allocate(lin->weights_, n * row_bytes, std::string(what) + " " + Shape(n, row_bytes)));
  if (nvfp4) {
    FP4LAB_RETURN_IF_ERROR(
        allocate(lin->block_scales_, n * scale_row_bytes, "NVFP4 block scales " + Shape(n, scale_row_bytes)));
  }
  if (!first.bias.empty()) FP4LAB_RETURN_IF_ERROR(allocate(lin->bias_, n * 4, "bias [" + std::to_string(n) + "]"));

  int64_t row0 = 0;  // first output row of the part
  for (const LinearWeights& w : parts) {
    const int64_t rows = w.out_features;
    const int64_t payload_bytes = first.scheme == LinearScheme::kBf16 ? w.WeightElements() * 2 : w.WeightElements();
    if (payload_bytes != rows * row_bytes || w.BlockScaleElements() != rows * scale_row_bytes ||
        (!w.bias.empty() && static_cast<int64_t>(w.bias.size()) != rows)) {
      return Status::Internal(w.name + ": weights, block scales or bias do not match the layer shape " +
                              Shape(rows, k));
    }
    const void* payload = first.scheme == LinearScheme::kBf16 ? static_cast<const void*>(w.bf16.data())
                          : nvfp4                              ? static_cast<const void*>(w.codes.data())
                                                               : static_cast<const void*>(w.fp8.data());
    FP4LAB_RETURN_IF_ERROR(fill(lin->weights_.as<uint8_t>() + row0 * row_bytes, payload, rows * row_bytes,
                                w.synthetic ? &w.synthetic->weight : nullptr, w));
    if (nvfp4) {
      FP4LAB_RETURN_IF_ERROR(fill(lin->block_scales_.as<uint8_t>() + row0 * scale_row_bytes, w.block_scales.data(),
                                  rows * scale_row_bytes, w.synthetic ? &w.synthetic->block_scales : nullptr, w));
    }
    if (!w.bias.empty()) {
      FP4LAB_RETURN_IF_ERROR(fill(lin->bias_.as<float>() + row0, w.bias.data(), rows * 4, nullptr, w));
    }
    row0 += rows;
  }

  switch (first.scheme) {
    case LinearScheme::kBf16:
      lin->path_ = CudaLinearPath::kBf16;
      break;
    case LinearScheme::kNvfp4:
    case LinearScheme::kNvfp4W4A16:
      lin->weight_global_ = first.weight_scale_2;
      lin->input_scale_ = first.input_scale;
      if (first.scheme == LinearScheme::kNvfp4W4A16) {
        lin->path_ = CudaLinearPath::kNvfp4WeightOnly;
      } else if (!native_nvfp4) {
        lin->path_ = CudaLinearPath::kNvfp4Emulated;
      } else if (const Status shape = CheckNativeNvfp4Shape(name, n, k); !shape.ok()) {
        lin->path_ = CudaLinearPath::kNvfp4Emulated;
        lin->native_refusal_ = shape.message();
      } else {  // the cuBLASLt scale layout, swizzled on the device from the linear scales
        FP4LAB_RETURN_IF_ERROR(allocate(lin->swizzled_scales_, SwizzledScaleBytes(n, scale_row_bytes),
                                        "NVFP4 swizzled block scales"));
        CUDA_CHECK(LaunchSwizzleScales(lin->block_scales_.as<uint8_t>(), n, scale_row_bytes,
                                       lin->swizzled_scales_.as<uint8_t>(), context->stream()));
        lin->path_ = CudaLinearPath::kNvfp4Native;
      }
      break;
    case LinearScheme::kFp8:
      lin->weight_global_ = first.fp8_weight_scale;
      lin->input_scale_ = first.input_scale;
      lin->path_ = CudaLinearPath::kFp8Emulated;
      break;
  }
  // The weights are complete when Prepare returns: the W4A16 GEMV loads codes and scales before it waits for the
  // kernel before it (programmatic dependent launch, w4a16_gemv.h), so no generating kernel may still be running.
  CUDA_CHECK(cudaStreamSynchronize(context->stream()));
  return lin;
}

Status CudaLinear::Forward(const float* x, int64_t rows, float* y, CublasLtGemm& gemm, Workspace& workspace,
                           std::string* native_fallback) const {
  if (rows == 0) return Status::Ok();
  FP4LAB_RETURN_IF_ERROR(context_->Activate());
  switch (path_) {
    case CudaLinearPath::kBf16:
      if (Bf16GemvTakes(rows, k_, x)) {  // decode-sized batches: the GEMV, f32 x, which adds the bias itself
        CUDA_CHECK(
            LaunchBf16Gemv(x, rows, weights_.as<uint16_t>(), n_, k_, bias_.as<float>(), y, context_->stream()));
        return Status::Ok();
      }
      FP4LAB_RETURN_IF_ERROR(ForwardBf16(x, rows, y, gemm, workspace));
      break;
    case CudaLinearPath::kNvfp4Native: {
      Status status = ForwardNvfp4Native(x, rows, y, gemm, workspace);
      if (status.code() == StatusCode::kUnimplemented) {
        if (native_fallback != nullptr) *native_fallback = name_ + ": " + status.message();
        status = ForwardNvfp4Emulated(x, rows, y, gemm, workspace);
      }
      FP4LAB_RETURN_IF_ERROR(status);
      break;
    }
    case CudaLinearPath::kNvfp4Emulated:
      FP4LAB_RETURN_IF_ERROR(ForwardNvfp4Emulated(x, rows, y, gemm, workspace));
      break;
    case CudaLinearPath::kNvfp4WeightOnly:
      switch (ChooseW4A16Kernel(rows, n_, k_, w4a16_mma_gemm_)) {  // the GEMV and the MMA GEMM add the bias themselves
        case W4A16Kernel::kGemv:
          CUDA_CHECK(LaunchW4A16Gemv(x, rows, weights_.as<uint8_t>(), block_scales_.as<uint8_t>(), n_, k_,
                                     weight_global_, bias_.as<float>(), y, context_->stream()));
          return Status::Ok();
        case W4A16Kernel::kMmaGemm:
          return ForwardNvfp4W4A16Mma(x, rows, y, workspace);
        case W4A16Kernel::kDequantGemm:
          FP4LAB_RETURN_IF_ERROR(ForwardNvfp4W4A16Gemm(x, rows, y, gemm, workspace));
          break;
      }
      break;
    case CudaLinearPath::kFp8Emulated:
      FP4LAB_RETURN_IF_ERROR(ForwardFp8(x, rows, y, gemm, workspace));
      break;
  }
  if (bias_.bytes() > 0) CUDA_CHECK(LaunchAddBias(y, bias_.as<float>(), rows, n_, context_->stream()));
  return Status::Ok();
}

Status CudaLinear::ForwardBf16(const float* x, int64_t rows, float* y, CublasLtGemm& gemm, Workspace& ws) const {
  FP4LAB_ASSIGN_OR_RETURN(auto slices, ws.Carve({rows * k_ * 2}, name_ + " bf16 activations"));
  CUDA_CHECK(LaunchConvertToBf16(x, rows * k_, slices[0], context_->stream()));
  return gemm.Bf16(slices[0], weights_.data(), rows, n_, k_, 1.0f, y);
}

Status CudaLinear::ForwardNvfp4Emulated(const float* x, int64_t rows, float* y, CublasLtGemm& gemm,
                                        Workspace& ws) const {
  if (W4A16GemvSupports(rows, k_)) {  // decode sizes: the quantized activations through the W4A16 GEMV
    FP4LAB_ASSIGN_OR_RETURN(auto slices, ws.Carve({rows * k_ * 4}, name_ + " NVFP4 emulation (GEMV)"));
    float* products = static_cast<float*>(slices[0]);
    CUDA_CHECK(LaunchQuantizeNvfp4ActivationsToF32(x, rows, k_, input_scale_, products, context_->stream()));
    CUDA_CHECK(LaunchW4A16Gemv(products, rows, weights_.as<uint8_t>(), block_scales_.as<uint8_t>(), n_, k_,
                               input_scale_ * weight_global_, /*bias=*/nullptr, y, context_->stream()));
    return Status::Ok();  // Forward adds the bias, as after the GEMM
  }
  FP4LAB_ASSIGN_OR_RETURN(auto slices, ws.Carve({rows * k_ * 2, n_ * k_ * 2}, name_ + " NVFP4 emulation"));
  CUDA_CHECK(LaunchQuantizeNvfp4Activations(x, rows, k_, input_scale_, slices[0], nullptr, nullptr,
                                            context_->stream()));
  CUDA_CHECK(LaunchDequantizeNvfp4(weights_.as<uint8_t>(), block_scales_.as<uint8_t>(), n_, k_, slices[1],
                                   context_->stream()));
  return gemm.Bf16(slices[0], slices[1], rows, n_, k_, input_scale_ * weight_global_, y);
}

Status CudaLinear::ForwardNvfp4W4A16Gemm(const float* x, int64_t rows, float* y, CublasLtGemm& gemm,
                                         Workspace& ws) const {
  FP4LAB_ASSIGN_OR_RETURN(auto slices, ws.Carve({rows * k_ * 2, n_ * k_ * 2}, name_ + " W4A16 GEMM"));
  CUDA_CHECK(LaunchConvertToBf16(x, rows * k_, slices[0], context_->stream()));
  CUDA_CHECK(LaunchDequantizeNvfp4(weights_.as<uint8_t>(), block_scales_.as<uint8_t>(), n_, k_, slices[1],
                                   context_->stream()));
  return gemm.Bf16(slices[0], slices[1], rows, n_, k_, weight_global_, y);
}

Status CudaLinear::ForwardNvfp4W4A16Mma(const float* x, int64_t rows, float* y, Workspace& ws) const {
  W4A16GemmPlan plan;
  CUDA_CHECK(PlanW4A16Gemm(rows, n_, k_, &plan));
  FP4LAB_ASSIGN_OR_RETURN(auto slices, ws.Carve({plan.packed_x_bytes, plan.partial_bytes}, name_ + " W4A16 MMA GEMM"));
  CUDA_CHECK(LaunchW4A16Gemm(x, rows, weights_.as<uint8_t>(), block_scales_.as<uint8_t>(), n_, k_, weight_global_,
                             bias_.as<float>(), y, plan, slices[0], static_cast<float*>(slices[1]),
                             context_->stream()));
  return Status::Ok();
}

Status CudaLinear::ForwardNvfp4Native(const float* x, int64_t rows, float* y, CublasLtGemm& gemm,
                                      Workspace& ws) const {
  FP4LAB_ASSIGN_OR_RETURN(NativeNvfp4GemmPlan plan,
                          PlanNativeNvfp4Gemm(name_, rows, n_, k_, input_scale_, weight_global_));
  FP4LAB_ASSIGN_OR_RETURN(auto slices, ws.Carve({plan.b_bytes, plan.b_scale_bytes}, name_ + " NVFP4 activations"));
  CUDA_CHECK(cudaMemsetAsync(slices[1], 0, static_cast<size_t>(plan.b_scale_bytes), context_->stream()));
  CUDA_CHECK(LaunchQuantizeNvfp4Activations(x, rows, k_, input_scale_, nullptr, static_cast<uint8_t*>(slices[0]),
                                            static_cast<uint8_t*>(slices[1]), context_->stream()));
  return gemm.Nvfp4(plan, slices[0], slices[1], weights_.data(), swizzled_scales_.data(), y);
}

Status CudaLinear::ForwardFp8(const float* x, int64_t rows, float* y, CublasLtGemm& gemm, Workspace& ws) const {
  FP4LAB_ASSIGN_OR_RETURN(auto slices, ws.Carve({rows * k_ * 2, n_ * k_ * 2}, name_ + " FP8 emulation"));
  CUDA_CHECK(LaunchFakeQuantizeFp8Activations(x, rows * k_, input_scale_, slices[0], context_->stream()));
  CUDA_CHECK(LaunchDecodeE4M3ToBf16(weights_.as<uint8_t>(), n_ * k_, slices[1], context_->stream()));
  return gemm.Bf16(slices[0], slices[1], rows, n_, k_, input_scale_ * weight_global_, y);
}

Status CudaLinear::EmbedRows(const int32_t* tokens, int64_t count, float* out) const {
  EmbedTable table;
  table.values = weights_.data();
  table.cols = k_;
  table.global_scale = weight_global_;
  switch (path_) {
    case CudaLinearPath::kBf16: table.format = EmbedTable::Format::kBf16; break;
    case CudaLinearPath::kFp8Emulated: table.format = EmbedTable::Format::kFp8; break;
    default:
      table.format = EmbedTable::Format::kNvfp4;
      table.block_scales = block_scales_.as<uint8_t>();
      break;
  }
  FP4LAB_RETURN_IF_ERROR(context_->Activate());
  CUDA_CHECK(LaunchEmbed(table, tokens, count, out, context_->stream()));
  return Status::Ok();
}

}  // namespace fp4lab::cuda
