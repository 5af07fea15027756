#include "engine/cuda/cuda_linear.h"

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/elementwise_kernels.h"
#include "engine/cuda/fp8_kernels.h"
#include "engine/cuda/nvfp4_kernels.h"
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

}  // namespace

Result<std::unique_ptr<CudaLinear>> CudaLinear::Prepare(const std::shared_ptr<CudaContext>& context,
                                                        const LinearWeights& w, bool native_nvfp4) {
  auto lin = std::unique_ptr<CudaLinear>(new CudaLinear(context));
  lin->name_ = w.name;
  lin->n_ = w.out_features;
  lin->k_ = w.in_features;
  lin->scheme_ = w.scheme;
  const int64_t n = w.out_features, k = w.in_features, nk = n * k;
  FP4LAB_RETURN_IF_ERROR(context->Activate());
  const auto upload = [&](DeviceBuffer& dst, const void* src, size_t bytes, const std::string& what) -> Status {
    FP4LAB_ASSIGN_OR_RETURN(dst, DeviceBuffer::Allocate(context, static_cast<int64_t>(bytes), w.name + " " + what));
    if (bytes > 0) {
      // From pageable memory: returns once the source has been staged, so `src` may go away afterwards.
      CUDA_CHECK(cudaMemcpyAsync(dst.data(), src, bytes, cudaMemcpyHostToDevice, context->stream()));
    }
    lin->device_bytes_ += static_cast<int64_t>(bytes);
    return Status::Ok();
  };
  const auto size_error = [&](const char* what) {
    return Status::Internal(w.name + ": " + what + " do not match the layer shape " + Shape(n, k));
  };

  switch (w.scheme) {
    case LinearScheme::kBf16:
      if (static_cast<int64_t>(w.bf16.size()) != nk) return size_error("bf16 weights");
      FP4LAB_RETURN_IF_ERROR(upload(lin->weights_, w.bf16.data(), w.bf16.size() * 2, "bf16 weight " + Shape(n, k)));
      lin->path_ = CudaLinearPath::kBf16;
      break;
    case LinearScheme::kNvfp4:
    case LinearScheme::kNvfp4W4A16:
      if (k % kNvfp4BlockSize != 0 || static_cast<int64_t>(w.codes.size()) * 2 != nk ||
          static_cast<int64_t>(w.block_scales.size()) * kNvfp4BlockSize != nk) {
        return size_error("NVFP4 codes/scales");
      }
      FP4LAB_RETURN_IF_ERROR(
          upload(lin->weights_, w.codes.data(), w.codes.size(), "NVFP4 codes " + Shape(n, k / 2)));
      FP4LAB_RETURN_IF_ERROR(upload(lin->block_scales_, w.block_scales.data(), w.block_scales.size(),
                                    "NVFP4 block scales " + Shape(n, k / kNvfp4BlockSize)));
      lin->weight_global_ = w.weight_scale_2;
      lin->input_scale_ = w.input_scale;
      if (w.scheme == LinearScheme::kNvfp4W4A16) {
        lin->path_ = CudaLinearPath::kNvfp4WeightOnly;
      } else if (!native_nvfp4) {
        lin->path_ = CudaLinearPath::kNvfp4Emulated;
      } else if (const Status shape = CheckNativeNvfp4Shape(w.name, n, k); !shape.ok()) {
        lin->path_ = CudaLinearPath::kNvfp4Emulated;
        lin->native_refusal_ = shape.message();
      } else {
        FP4LAB_ASSIGN_OR_RETURN(std::vector<uint8_t> swizzled, SwizzleWeightScales(w));
        FP4LAB_RETURN_IF_ERROR(upload(lin->swizzled_scales_, swizzled.data(), swizzled.size(),
                                      "NVFP4 swizzled block scales"));
        lin->path_ = CudaLinearPath::kNvfp4Native;
      }
      break;
    case LinearScheme::kFp8:
      if (static_cast<int64_t>(w.fp8.size()) != nk) return size_error("FP8 weights");
      FP4LAB_RETURN_IF_ERROR(upload(lin->weights_, w.fp8.data(), w.fp8.size(), "FP8 weight " + Shape(n, k)));
      lin->weight_global_ = w.fp8_weight_scale;
      lin->input_scale_ = w.input_scale;
      lin->path_ = CudaLinearPath::kFp8Emulated;
      break;
  }
  if (!w.bias.empty()) {
    if (static_cast<int64_t>(w.bias.size()) != n) return size_error("bias values");
    FP4LAB_RETURN_IF_ERROR(upload(lin->bias_, w.bias.data(), w.bias.size() * 4, "bias [" + std::to_string(n) + "]"));
  }
  return lin;
}

Status CudaLinear::Forward(const float* x, int64_t rows, float* y, CublasLtGemm& gemm, Workspace& workspace,
                           std::string* native_fallback) const {
  if (rows == 0) return Status::Ok();
  FP4LAB_RETURN_IF_ERROR(context_->Activate());
  switch (path_) {
    case CudaLinearPath::kBf16:
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
      // The kernels add the bias themselves. Decode-sized batches take the GEMV.
      if (W4A16GemvSupports(rows, k_)) {
        CUDA_CHECK(LaunchW4A16Gemv(x, rows, weights_.as<uint8_t>(), block_scales_.as<uint8_t>(), n_, k_,
                                   weight_global_, bias_.as<float>(), y, context_->stream()));
        return Status::Ok();
      }
      CUDA_CHECK(LaunchNvfp4W4A16Gemm(x, rows, weights_.as<uint8_t>(), block_scales_.as<uint8_t>(), n_, k_,
                                      weight_global_, bias_.as<float>(), y, context_->stream()));
      return Status::Ok();
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
  FP4LAB_ASSIGN_OR_RETURN(auto slices, ws.Carve({rows * k_ * 2, n_ * k_ * 2}, name_ + " NVFP4 emulation"));
  CUDA_CHECK(LaunchQuantizeNvfp4Activations(x, rows, k_, input_scale_, slices[0], nullptr, nullptr,
                                            context_->stream()));
  CUDA_CHECK(LaunchDequantizeNvfp4(weights_.as<uint8_t>(), block_scales_.as<uint8_t>(), n_, k_, slices[1],
                                   context_->stream()));
  return gemm.Bf16(slices[0], slices[1], rows, n_, k_, input_scale_ * weight_global_, y);
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
