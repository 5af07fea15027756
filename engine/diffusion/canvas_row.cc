#include "engine/diffusion/canvas_row.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fp4lab {

CanvasRowOutcome ProcessCanvasRow(std::span<float> row, float temperature, double uniform) {
  CanvasRowOutcome outcome;
  // Pass 1: scale, and find the largest scaled logit (first one wins ties; NaN makes the row unusable).
  bool has_nan = false;
  float max_logit = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < row.size(); ++i) {
    row[i] = row[i] / temperature;
    if (std::isnan(row[i])) has_nan = true;
    if (row[i] > max_logit) {
      max_logit = row[i];
      outcome.argmax = static_cast<int32_t>(i);
    }
  }
  if (has_nan || !std::isfinite(max_logit)) {
    outcome.sampled = outcome.argmax;
    outcome.entropy = std::numeric_limits<double>::quiet_NaN();
    return outcome;
  }
  // Pass 2: with w_i = exp(x_i - max), Z = sum w_i and H = ln Z - sum(w_i (x_i - max)) / Z.
  // Terms with w_i == 0 (x_i = -inf, or far below the max) contribute nothing, and are skipped so -inf * 0 never
  // appears.
  double total = 0.0;
  double weighted = 0.0;
  for (const float logit : row) {
    const double shifted = static_cast<double>(logit) - max_logit;
    const double weight = std::exp(shifted);
    if (weight == 0.0) continue;
    total += weight;
    weighted += weight * shifted;
  }
  outcome.entropy = std::max(0.0, std::log(total) - weighted / total);
  // Pass 3: inverse CDF at uniform * Z. Should rounding leave the target above the final cumulative sum, the last id
  // of nonzero weight is drawn.
  const double target = uniform * total;
  double cumulative = 0.0;
  for (size_t i = 0; i < row.size(); ++i) {
    const double weight = std::exp(static_cast<double>(row[i]) - max_logit);
    if (weight == 0.0) continue;
    cumulative += weight;
    outcome.sampled = static_cast<int32_t>(i);
    if (cumulative > target) break;
  }
  return outcome;
}

}  // namespace fp4lab
