#include "engine/fp8.h"

#include <cmath>
#include <string>

#include "engine/codecs.h"

namespace fp4lab {
namespace {

float ToF32(float value) { return value; }
float ToF32(uint16_t bf16) { return Bf16ToF32(bf16); }

Status CheckScale(std::string_view what, float scale) {
  if (!std::isfinite(scale) || !(scale > 0.0f)) {
    return Status::InvalidArgument(std::string(what) + " must be finite and > 0, got " + std::to_string(scale));
  }
  return Status::Ok();
}

Status CheckSizes(std::string_view what, size_t in, size_t out) {
  if (in != out) {
    return Status::InvalidArgument(std::string(what) + ": input holds " + std::to_string(in) +
                                   " values but output holds " + std::to_string(out));
  }
  return Status::Ok();
}

template <typename T>
Result<std::vector<uint8_t>> QuantizeWeight(std::string_view name, std::span<const T> w, float weight_scale) {
  const std::string prefix = "tensor '" + std::string(name) + "': ";
  FP4LAB_RETURN_IF_ERROR(CheckScale(prefix + "FP8 weight_scale", weight_scale));
  std::vector<uint8_t> q(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const float value = ToF32(w[i]);
    if (!std::isfinite(value)) {
      return Status::InvalidArgument(prefix + "element at flat index " + std::to_string(i) + " is " +
                                     (std::isnan(value) ? "NaN" : "Inf") + "; FP8 cannot encode it");
    }
    q[i] = F32ToE4M3(value / weight_scale);
  }
  return q;
}

}  // namespace

float Fp8ScaleFromAmax(float amax) { return amax / kE4M3MaxValue; }

Result<std::vector<uint8_t>> QuantizeFp8Weight(std::string_view name, std::span<const float> w, float weight_scale) {
  return QuantizeWeight(name, w, weight_scale);
}

Result<std::vector<uint8_t>> QuantizeFp8WeightBf16(std::string_view name, std::span<const uint16_t> w,
                                                   float weight_scale) {
  return QuantizeWeight(name, w, weight_scale);
}

Status DequantizeFp8(std::span<const uint8_t> q, float scale, std::span<float> out) {
  FP4LAB_RETURN_IF_ERROR(CheckSizes("FP8 dequantize", q.size(), out.size()));
  for (size_t i = 0; i < q.size(); ++i) out[i] = E4M3ToF32(q[i]) * scale;
  return Status::Ok();
}

Status QuantizeFp8Activation(std::span<const float> x, float input_scale, std::span<uint8_t> x8) {
  FP4LAB_RETURN_IF_ERROR(CheckSizes("FP8 activation quantize", x.size(), x8.size()));
  FP4LAB_RETURN_IF_ERROR(CheckScale("FP8 input_scale", input_scale));
  for (size_t i = 0; i < x.size(); ++i) x8[i] = F32ToE4M3(x[i] / input_scale);
  return Status::Ok();
}

Status FakeQuantizeFp8Activation(std::span<const float> x, float input_scale, std::span<float> out) {
  FP4LAB_RETURN_IF_ERROR(CheckSizes("FP8 activation fake-quantize", x.size(), out.size()));
  FP4LAB_RETURN_IF_ERROR(CheckScale("FP8 input_scale", input_scale));
  for (size_t i = 0; i < x.size(); ++i) out[i] = E4M3ToF32(F32ToE4M3(x[i] / input_scale));
  return Status::Ok();
}

}  // namespace fp4lab
