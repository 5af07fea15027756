#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace fp4lab {

int32_t SampleToken(std::span<const float> logits, const SamplingOptions& options, std::mt19937_64& rng) {
  if (options.temperature <= 0.0f) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  // Most likely first; ties by id so the order is deterministic.
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  size_t keep = ids.size();
  if (options.top_k > 0) keep = std::min(keep, static_cast<size_t>(options.top_k));
  std::vector<double> probs(keep);
  const double max_logit = logits[ids[0]];
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp((logits[ids[i]] - max_logit) / options.temperature);
    total += probs[i];
  }
  if (options.top_p < 1.0f) {
    double cumulative = 0.0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      cumulative += probs[i] / total;
      if (cumulative >= options.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    total = std::accumulate(probs.begin(), probs.begin() + keep, 0.0);
  }
  // One uniform draw in [0, total) mapped through the cumulative distribution.
  const double u = std::uniform_real_distribution<double>(0.0, total)(rng);
  double cumulative = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    cumulative += probs[i];
    if (u < cumulative) return ids[i];
  }
  return ids[keep - 1];
}

}  // namespace fp4lab
