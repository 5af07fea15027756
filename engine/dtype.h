// Storage dtypes as they appear in safetensors files.
//
// Conventions used everywhere in fp4lab: tensors are row-major; a Linear weight is W[N, K] (out_features N,
// in_features K, PyTorch nn.Linear layout) and computes y[M, N] = x[M, K] * W^T. NVFP4 weights are stored as U8
// [N, K/2] (two E2M1 codes per byte, lower K index in the low nibble) with F8_E4M3 block scales [N, K/16].
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace fp4lab {

enum class DType { kF32, kF16, kBF16, kF8E4M3, kU8, kI8, kI32, kI64 };

// Bytes per element.
inline size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: return 2;
    case DType::kF8E4M3: case DType::kU8: case DType::kI8: return 1;
    case DType::kI64: return 8;
  }
  return 0;
}

// The safetensors spelling: "F32", "F16", "BF16", "F8_E4M3", "U8", "I8", "I32", "I64".
inline std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF8E4M3: return "F8_E4M3";
    case DType::kU8: return "U8";
    case DType::kI8: return "I8";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
  }
  return "?";
}

inline std::optional<DType> ParseDType(std::string_view name) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kU8, DType::kI8, DType::kI32,
                  DType::kI64}) {
    if (DTypeName(t) == name) return t;
  }
  return std::nullopt;
}

}  // namespace fp4lab
