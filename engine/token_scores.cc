#include "engine/token_scores.h"

#include <algorithm>
#include <cmath>

namespace fp4lab {

double LogSumExp(std::span<const float> logits) {
  double max = logits[0];
  for (float x : logits) max = std::max(max, static_cast<double>(x));
  double sum = 0.0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - max);
  return max + std::log(sum);
}

int32_t ArgMax(std::span<const float> logits) {
  size_t best = 0;
  for (size_t v = 1; v < logits.size(); ++v) {
    if (logits[v] > logits[best]) best = v;
  }
  return static_cast<int32_t>(best);
}

}  // namespace fp4lab
