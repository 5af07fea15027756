#include "engine/diffusion/self_conditioning_probs.h"

#include <algorithm>
#include <cmath>

#include "engine/codecs.h"

namespace fp4lab {

void SelfConditioningSoftmaxRow(std::span<const float> row, bool round_to_bf16, std::span<float> probs) {
  auto value = [&](size_t i) { return round_to_bf16 ? Bf16ToF32(F32ToBf16(row[i])) : row[i]; };
  float top = value(0);
  for (size_t i = 1; i < row.size(); ++i) top = std::max(top, value(i));
  double sum = 0.0;
  for (size_t i = 0; i < row.size(); ++i) sum += std::exp(static_cast<double>(value(i)) - top);
  // Each x_i is read before p_i is written, so probs may alias row.
  for (size_t i = 0; i < row.size(); ++i) {
    probs[i] = static_cast<float>(std::exp(static_cast<double>(value(i)) - top) / sum);
  }
}

}  // namespace fp4lab
