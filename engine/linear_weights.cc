#include "engine/linear_weights.h"

namespace fp4lab {

const char* LinearSchemeName(LinearScheme s) {
  switch (s) {
    case LinearScheme::kBf16: return "bf16";
    case LinearScheme::kNvfp4: return "nvfp4";
    case LinearScheme::kNvfp4W4A16: return "nvfp4-w4a16";
    case LinearScheme::kFp8: return "fp8";
  }
  return "?";
}

int64_t LinearWeights::StoredBytes() const {
  int64_t bytes = static_cast<int64_t>(bf16.size()) * 2 + static_cast<int64_t>(codes.size() + block_scales.size()) +
                  static_cast<int64_t>(fp8.size()) + static_cast<int64_t>(bias.size()) * 2;
  if (scheme == LinearScheme::kNvfp4 || scheme == LinearScheme::kNvfp4W4A16) bytes += 4;  // weight_scale_2
  if (scheme == LinearScheme::kNvfp4 || scheme == LinearScheme::kFp8) bytes += 4;         // input_scale
  if (scheme == LinearScheme::kFp8) bytes += 4;                                          // weight_scale
  return bytes;
}

}  // namespace fp4lab
