// The one formula by which fp4lab turns logits into token log-probabilities, shared by every backend's
// ScoreTokens and by the host-side default of LanguageModel::ScoreTokens, so identical logits give bit-identical
// scores wherever they are computed on the CPU.
#pragma once

#include <cstdint>
#include <span>

namespace fp4lab {

// log(sum_v exp(x_v)) in double, stable: max + log(sum exp(x_v - max)), the sum left to right.
// REQUIRES !logits.empty().
double LogSumExp(std::span<const float> logits);

// Index of the largest logit, lowest id on ties (torch.argmax and greedy sampling agree). REQUIRES non-empty.
int32_t ArgMax(std::span<const float> logits);

// ln p(target) = x_target - LogSumExp(x), in double. REQUIRES 0 <= target < logits.size().
inline double TokenLogProb(std::span<const float> logits, int32_t target) {
  return static_cast<double>(logits[static_cast<size_t>(target)]) - LogSumExp(logits);
}

}  // namespace fp4lab
