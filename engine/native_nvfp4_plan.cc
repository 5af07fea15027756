#include "engine/native_nvfp4_plan.h"

#include <cmath>

#include "engine/nvfp4.h"

namespace fp4lab {

Result<Nvfp4PathRequest> ParseNvfp4PathRequest(std::string_view text, std::string_view source) {
  if (text.empty() || text == "auto") return Nvfp4PathRequest::kAuto;
  if (text == "native") return Nvfp4PathRequest::kNative;
  if (text == "emulated") return Nvfp4PathRequest::kEmulated;
  return Status::InvalidArgument(std::string(source) + ": unknown NVFP4 path '" + std::string(text) +
                                 "' (expected auto, native or emulated)");
}

bool HasFp4TensorCores(int cc_major) { return cc_major == 10 || cc_major == 12; }

Nvfp4PathDecision DecideNvfp4Path(Nvfp4PathRequest request, int cc_major, int cc_minor, const Status& probe) {
  const std::string sm = "sm_" + std::to_string(cc_major) + std::to_string(cc_minor);
  if (request == Nvfp4PathRequest::kEmulated) {
    return {false, "emulated on request (FP4LAB_NVFP4_PATH=emulated)"};
  }
  if (probe.ok()) {
    return {true, "cuBLASLt block-scaled FP4 GEMM (CUDA_R_4F_E2M1, VEC16_UE4M3) is available on " + sm};
  }
  std::string reason = "native NVFP4 unsupported on " + sm;
  reason += HasFp4TensorCores(cc_major) ? "" : " (no FP4 tensor cores before compute capability 10.0)";
  reason += ": " + probe.message() + "; running the bit-faithful W4A4 emulation";
  if (request == Nvfp4PathRequest::kNative) reason = "FP4LAB_NVFP4_PATH=native was requested, but " + reason;
  return {false, reason};
}

Status CheckNativeNvfp4Shape(std::string_view name, int64_t out_features, int64_t in_features) {
  if (in_features % 32 != 0 || out_features % 16 != 0) {
    return Status::Unimplemented(std::string(name) + ": native NVFP4 GEMM needs K % 32 == 0 and N % 16 == 0, " +
                                 "layer is [" + std::to_string(out_features) + ", " + std::to_string(in_features) +
                                 "]");
  }
  return Status::Ok();
}

float NativeNvfp4Alpha(float input_scale, float weight_scale_2) { return input_scale * weight_scale_2; }

Result<NativeNvfp4GemmPlan> PlanNativeNvfp4Gemm(std::string_view name, int64_t rows, int64_t out_features,
                                                int64_t in_features, float input_scale, float weight_scale_2) {
  FP4LAB_RETURN_IF_ERROR(CheckNativeNvfp4Shape(name, out_features, in_features));
  if (rows < 1) {
    return Status::InvalidArgument(std::string(name) + ": native NVFP4 GEMM of " + std::to_string(rows) + " rows");
  }
  for (float s : {input_scale, weight_scale_2}) {
    if (!std::isfinite(s) || !(s > 0.0f)) {
      return Status::InvalidArgument(std::string(name) + ": input_scale and weight_scale_2 must be finite and > 0, " +
                                     "got " + std::to_string(input_scale) + " and " + std::to_string(weight_scale_2));
    }
  }
  NativeNvfp4GemmPlan plan;
  plan.m = out_features;
  plan.n = rows;
  plan.k = in_features;
  plan.lda = in_features;
  plan.ldb = in_features;
  plan.ldd = out_features;
  plan.a_scale_bytes = SwizzledScaleBytes(out_features, in_features / kNvfp4BlockSize);
  plan.b_scale_bytes = SwizzledScaleBytes(rows, in_features / kNvfp4BlockSize);
  plan.a_bytes = out_features * in_features / 2;
  plan.b_bytes = rows * in_features / 2;
  plan.alpha = NativeNvfp4Alpha(input_scale, weight_scale_2);
  return plan;
}

Result<std::vector<uint8_t>> SwizzleWeightScales(const LinearWeights& w) {
  if (w.scheme != LinearScheme::kNvfp4 && w.scheme != LinearScheme::kNvfp4W4A16) {
    return Status::InvalidArgument(w.name + ": SwizzleWeightScales needs an NVFP4 layer, got " +
                                   LinearSchemeName(w.scheme));
  }
  FP4LAB_RETURN_IF_ERROR(
      ValidateNvfp4View({w.out_features, w.in_features, w.codes, w.block_scales}).WithContext(w.name));
  const int64_t cols = w.in_features / kNvfp4BlockSize;
  std::vector<uint8_t> swizzled(static_cast<size_t>(SwizzledScaleBytes(w.out_features, cols)));
  FP4LAB_RETURN_IF_ERROR(SwizzleScales(w.block_scales, w.out_features, cols, swizzled).WithContext(w.name));
  return swizzled;
}

}  // namespace fp4lab
