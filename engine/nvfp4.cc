#include "engine/nvfp4.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/codecs.h"

namespace fp4lab {
namespace {

constexpr uint8_t kCtZeroScaleCode = 0x20;  // E4M3 0.125: compressed-tensors' replacement for a zero block scale

float ToF32(float value) { return value; }
float ToF32(uint16_t bf16) { return Bf16ToF32(bf16); }

std::string ShapeString(int64_t rows, int64_t cols) {
  // Appended piecewise: GCC 12 reports a false -Wrestrict on "[" + std::to_string(...) (GCC bug 105329).
  std::string out = "[";
  out += std::to_string(rows);
  out += ", ";
  out += std::to_string(cols);
  out += "]";
  return out;
}

std::string TensorPrefix(std::string_view name) { return "tensor '" + std::string(name) + "': "; }

// Shape checks shared by both weight quantizers.
Status CheckWeightShape(std::string_view name, size_t size, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0) {
    return Status::InvalidArgument(TensorPrefix(name) + "negative shape " + ShapeString(rows, cols));
  }
  if (cols % kNvfp4BlockSize != 0) {
    return Status::InvalidArgument(TensorPrefix(name) + "NVFP4 needs K (last dim) to be a multiple of 16, shape is " +
                                   ShapeString(rows, cols));
  }
  if (static_cast<int64_t>(size) != rows * cols) {
    return Status::InvalidArgument(TensorPrefix(name) + "holds " + std::to_string(size) + " values, shape " +
                                   ShapeString(rows, cols) + " needs " + std::to_string(rows * cols));
  }
  return Status::Ok();
}

template <typename T>
Status CheckFinite(std::string_view name, std::span<const T> w, int64_t cols) {
  for (size_t i = 0; i < w.size(); ++i) {
    const float value = ToF32(w[i]);
    if (!std::isfinite(value)) {
      const int64_t index = static_cast<int64_t>(i);
      return Status::InvalidArgument(TensorPrefix(name) + "element at flat index " + std::to_string(index) + " (row " +
                                     std::to_string(index / cols) + ", col " + std::to_string(index % cols) + ") is " +
                                     (std::isnan(value) ? "NaN" : "Inf") + "; NVFP4 cannot encode it");
    }
  }
  return Status::Ok();
}

Status CheckGlobalScale(std::string_view name, std::string_view field, float value) {
  if (!std::isfinite(value) || !(value > 0.0f)) {
    return Status::InvalidArgument(TensorPrefix(name) + std::string(field) + " must be finite and > 0, got " +
                                   std::to_string(value) + " (an all-zero tensor has amax 0 and no NVFP4 scale)");
  }
  return Status::Ok();
}

template <typename T>
Status CheckWeightInput(std::string_view name, std::span<const T> w, int64_t rows, int64_t cols,
                        std::string_view global_field, float global) {
  FP4LAB_RETURN_IF_ERROR(CheckWeightShape(name, w.size(), rows, cols));
  FP4LAB_RETURN_IF_ERROR(CheckFinite(name, w, cols));
  return CheckGlobalScale(name, global_field, global);
}

// max |x| over a block; NaN never compares greater, so it is skipped.
template <typename T>
float BlockAmax(const T* block) {
  float amax = 0.0f;
  for (int64_t i = 0; i < kNvfp4BlockSize; ++i) {
    const float magnitude = std::fabs(ToF32(block[i]));
    if (magnitude > amax) amax = magnitude;
  }
  return amax;
}

template <typename T>
float AmaxOfImpl(std::span<const T> values) {
  float amax = 0.0f;
  for (const T v : values) {
    const float magnitude = std::fabs(ToF32(v));
    if (magnitude > amax) amax = magnitude;
  }
  return amax;
}

void PackBlock(const uint8_t* codes, uint8_t* packed) {
  for (int64_t i = 0; i < kNvfp4BlockSize / 2; ++i) packed[i] = PackE2M1(codes[2 * i], codes[2 * i + 1]);
}

template <typename T>
Nvfp4Weight QuantizeModelOpt(std::span<const T> w, int64_t rows, int64_t cols, float weight_scale_2) {
  Nvfp4Weight out;
  out.rows = rows;
  out.cols = cols;
  out.weight_scale_2 = weight_scale_2;
  out.packed.resize(static_cast<size_t>(rows * cols / 2));
  out.scales.resize(static_cast<size_t>(rows * cols / kNvfp4BlockSize));
  const float denominator = 6.0f * weight_scale_2;
  const int64_t blocks = rows * cols / kNvfp4BlockSize;
  uint8_t codes[kNvfp4BlockSize];
  for (int64_t b = 0; b < blocks; ++b) {
    const T* block = w.data() + b * kNvfp4BlockSize;
    float s = BlockAmax(block) / denominator;
    if (s == 0.0f) s = 1.0f;
    s = std::max(s, kNvfp4MinBlockScale);
    const uint8_t s8 = F32ToE4M3(s);
    const float block_scale = E4M3ToF32(s8) * weight_scale_2;
    for (int64_t i = 0; i < kNvfp4BlockSize; ++i) codes[i] = F32ToE2M1(ToF32(block[i]) / block_scale);
    out.scales[b] = s8;
    PackBlock(codes, out.packed.data() + b * (kNvfp4BlockSize / 2));
  }
  return out;
}

template <typename T>
Nvfp4CtWeight QuantizeCompressedTensors(std::span<const T> w, int64_t rows, int64_t cols, float global) {
  Nvfp4CtWeight out;
  out.rows = rows;
  out.cols = cols;
  out.weight_global_scale = global;
  out.packed.resize(static_cast<size_t>(rows * cols / 2));
  out.scales.resize(static_cast<size_t>(rows * cols / kNvfp4BlockSize));
  const int64_t blocks = rows * cols / kNvfp4BlockSize;
  uint8_t codes[kNvfp4BlockSize];
  for (int64_t b = 0; b < blocks; ++b) {
    const T* block = w.data() + b * kNvfp4BlockSize;
    const float s = std::clamp(global * (BlockAmax(block) / 6.0f), -kE4M3MaxValue, kE4M3MaxValue);
    uint8_t s8 = F32ToE4M3(s);
    if ((s8 & 0x7Fu) == 0) s8 = kCtZeroScaleCode;
    const float effective_scale = E4M3ToF32(s8) / global;
    for (int64_t i = 0; i < kNvfp4BlockSize; ++i) {
      const float scaled = std::clamp(ToF32(block[i]) / effective_scale, -kE2M1MaxValue, kE2M1MaxValue);
      codes[i] = F32ToE2M1SignBit(scaled);
    }
    out.scales[b] = s8;
    PackBlock(codes, out.packed.data() + b * (kNvfp4BlockSize / 2));
  }
  return out;
}

Status CheckOutputSize(const Nvfp4View& w, size_t out_size) {
  FP4LAB_RETURN_IF_ERROR(ValidateNvfp4View(w));
  if (static_cast<int64_t>(out_size) != w.rows * w.cols) {
    return Status::InvalidArgument("NVFP4 dequantize: output holds " + std::to_string(out_size) + " values, shape " +
                                   ShapeString(w.rows, w.cols) + " needs " + std::to_string(w.rows * w.cols));
  }
  return Status::Ok();
}

// Calls emit(flat_index, code, scale_byte) for every element of a validated view.
template <typename Emit>
void ForEachCode(const Nvfp4View& w, Emit emit) {
  const int64_t count = w.rows * w.cols;
  for (int64_t i = 0; i < count; i += 2) {
    const uint8_t byte = w.packed[i / 2];
    const uint8_t scale = w.scales[i / kNvfp4BlockSize];
    emit(i, UnpackE2M1Lo(byte), scale);
    emit(i + 1, UnpackE2M1Hi(byte), scale);
  }
}

Status CheckActivationArgs(size_t k, float input_scale, size_t out_size, size_t expected_out, const char* what,
                           size_t scales_size, size_t expected_scales) {
  if (k % kNvfp4BlockSize != 0) {
    return Status::InvalidArgument("NVFP4 activation row: K = " + std::to_string(k) + " is not a multiple of 16");
  }
  if (out_size != expected_out || scales_size != expected_scales) {
    return Status::InvalidArgument("NVFP4 activation row of K = " + std::to_string(k) + ": " + what + " holds " +
                                   std::to_string(out_size) + " (needs " + std::to_string(expected_out) +
                                   "), scales hold " + std::to_string(scales_size) + " (need " +
                                   std::to_string(expected_scales) + ")");
  }
  if (!std::isfinite(input_scale) || !(input_scale > 0.0f)) {
    return Status::InvalidArgument("NVFP4 activation row: input_scale must be finite and > 0, got " +
                                   std::to_string(input_scale));
  }
  return Status::Ok();
}

// Quantizes one 16-element activation block into codes[16]; returns the E4M3 block scale byte.
uint8_t QuantizeActivationBlock(const float* x, float input_scale, uint8_t* codes) {
  const uint8_t sa = F32ToE4M3(BlockAmax(x) / (6.0f * input_scale));
  const float block_scale = E4M3ToF32(sa) * input_scale;
  for (int64_t i = 0; i < kNvfp4BlockSize; ++i) codes[i] = block_scale == 0.0f ? 0 : F32ToE2M1(x[i] / block_scale);
  return sa;
}

Status CheckSwizzleArgs(int64_t rows, int64_t cols, size_t linear_size, size_t swizzled_size) {
  if (rows < 0 || cols < 0) return Status::InvalidArgument("scale swizzle: negative shape " + ShapeString(rows, cols));
  if (static_cast<int64_t>(linear_size) != rows * cols ||
      static_cast<int64_t>(swizzled_size) != SwizzledScaleBytes(rows, cols)) {
    return Status::InvalidArgument("scale swizzle of " + ShapeString(rows, cols) + ": linear buffer holds " +
                                   std::to_string(linear_size) + " bytes (needs " + std::to_string(rows * cols) +
                                   "), swizzled buffer " + std::to_string(swizzled_size) + " (needs " +
                                   std::to_string(SwizzledScaleBytes(rows, cols)) + ")");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateNvfp4View(const Nvfp4View& view) {
  if (view.rows < 0 || view.cols < 0 || view.cols % kNvfp4BlockSize != 0) {
    return Status::InvalidArgument("NVFP4 shape " + ShapeString(view.rows, view.cols) +
                                   " needs non-negative dims and K (last dim) a multiple of 16");
  }
  const int64_t packed_bytes = view.rows * view.cols / 2;
  const int64_t scale_bytes = view.rows * view.cols / kNvfp4BlockSize;
  if (static_cast<int64_t>(view.packed.size()) != packed_bytes ||
      static_cast<int64_t>(view.scales.size()) != scale_bytes) {
    return Status::InvalidArgument("NVFP4 shape " + ShapeString(view.rows, view.cols) + " needs " +
                                   std::to_string(packed_bytes) + " packed bytes and " + std::to_string(scale_bytes) +
                                   " scale bytes, got " + std::to_string(view.packed.size()) + " and " +
                                   std::to_string(view.scales.size()));
  }
  return Status::Ok();
}

float AmaxOf(std::span<const float> values) { return AmaxOfImpl(values); }
float AmaxOfBf16(std::span<const uint16_t> values) { return AmaxOfImpl(values); }

float WeightScale2FromAmax(float amax) { return amax / kNvfp4ScaleRange; }
float CtGlobalScaleFromAmax(float amax) { return kNvfp4ScaleRange / amax; }

Result<Nvfp4Weight> QuantizeNvfp4Weight(std::string_view name, std::span<const float> w, int64_t rows, int64_t cols,
                                        float weight_scale_2) {
  FP4LAB_RETURN_IF_ERROR(CheckWeightInput(name, w, rows, cols, "weight_scale_2", weight_scale_2));
  return QuantizeModelOpt(w, rows, cols, weight_scale_2);
}

Result<Nvfp4Weight> QuantizeNvfp4WeightBf16(std::string_view name, std::span<const uint16_t> w, int64_t rows,
                                            int64_t cols, float weight_scale_2) {
  FP4LAB_RETURN_IF_ERROR(CheckWeightInput(name, w, rows, cols, "weight_scale_2", weight_scale_2));
  return QuantizeModelOpt(w, rows, cols, weight_scale_2);
}

Result<Nvfp4CtWeight> QuantizeNvfp4CtWeight(std::string_view name, std::span<const float> w, int64_t rows, int64_t cols,
                                            float weight_global_scale) {
  FP4LAB_RETURN_IF_ERROR(CheckWeightInput(name, w, rows, cols, "weight_global_scale", weight_global_scale));
  return QuantizeCompressedTensors(w, rows, cols, weight_global_scale);
}

Result<Nvfp4CtWeight> QuantizeNvfp4CtWeightBf16(std::string_view name, std::span<const uint16_t> w, int64_t rows,
                                                int64_t cols, float weight_global_scale) {
  FP4LAB_RETURN_IF_ERROR(CheckWeightInput(name, w, rows, cols, "weight_global_scale", weight_global_scale));
  return QuantizeCompressedTensors(w, rows, cols, weight_global_scale);
}

Status DequantizeNvfp4Weight(const Nvfp4View& w, float weight_scale_2, std::span<float> out) {
  FP4LAB_RETURN_IF_ERROR(CheckOutputSize(w, out.size()));
  ForEachCode(w, [&](int64_t i, uint8_t code, uint8_t scale) {
    out[i] = E2M1ToF32(code) * (E4M3ToF32(scale) * weight_scale_2);
  });
  return Status::Ok();
}

Status DequantizeNvfp4CtWeight(const Nvfp4View& w, float weight_global_scale, std::span<float> out) {
  FP4LAB_RETURN_IF_ERROR(CheckOutputSize(w, out.size()));
  ForEachCode(w, [&](int64_t i, uint8_t code, uint8_t scale) {
    out[i] = E2M1ToF32(code) * (E4M3ToF32(scale) / weight_global_scale);
  });
  return Status::Ok();
}

Status DequantizeNvfp4Unscaled(const Nvfp4View& w, std::span<uint16_t> out_bf16) {
  FP4LAB_RETURN_IF_ERROR(CheckOutputSize(w, out_bf16.size()));
  ForEachCode(
      w, [&](int64_t i, uint8_t code, uint8_t scale) { out_bf16[i] = F32ToBf16(E2M1ToF32(code) * E4M3ToF32(scale)); });
  return Status::Ok();
}

Status QuantizeNvfp4ActivationRow(std::span<const float> x, float input_scale, std::span<uint8_t> packed,
                                  std::span<uint8_t> scales) {
  FP4LAB_RETURN_IF_ERROR(CheckActivationArgs(x.size(), input_scale, packed.size(), x.size() / 2, "packed codes",
                                             scales.size(), x.size() / kNvfp4BlockSize));
  uint8_t codes[kNvfp4BlockSize];
  for (size_t b = 0; b < scales.size(); ++b) {
    scales[b] = QuantizeActivationBlock(x.data() + b * kNvfp4BlockSize, input_scale, codes);
    PackBlock(codes, packed.data() + b * (kNvfp4BlockSize / 2));
  }
  return Status::Ok();
}

Status FakeQuantizeNvfp4ActivationRow(std::span<const float> x, float input_scale, std::span<float> products) {
  const size_t blocks = x.size() / kNvfp4BlockSize;
  FP4LAB_RETURN_IF_ERROR(
      CheckActivationArgs(x.size(), input_scale, products.size(), x.size(), "products", blocks, blocks));
  uint8_t codes[kNvfp4BlockSize];
  for (size_t b = 0; b < blocks; ++b) {
    const float sa = E4M3ToF32(QuantizeActivationBlock(x.data() + b * kNvfp4BlockSize, input_scale, codes));
    for (int64_t i = 0; i < kNvfp4BlockSize; ++i) products[b * kNvfp4BlockSize + i] = E2M1ToF32(codes[i]) * sa;
  }
  return Status::Ok();
}

Status SwizzleScales(std::span<const uint8_t> linear, int64_t rows, int64_t cols, std::span<uint8_t> swizzled) {
  FP4LAB_RETURN_IF_ERROR(CheckSwizzleArgs(rows, cols, linear.size(), swizzled.size()));
  std::fill(swizzled.begin(), swizzled.end(), uint8_t{0});
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) swizzled[SwizzledScaleOffset(r, c, cols)] = linear[r * cols + c];
  }
  return Status::Ok();
}

Status UnswizzleScales(std::span<const uint8_t> swizzled, int64_t rows, int64_t cols, std::span<uint8_t> linear) {
  FP4LAB_RETURN_IF_ERROR(CheckSwizzleArgs(rows, cols, linear.size(), swizzled.size()));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) linear[r * cols + c] = swizzled[SwizzledScaleOffset(r, c, cols)];
  }
  return Status::Ok();
}

}  // namespace fp4lab
