// The per-position work of one denoising step, on one canvas position's row of logits: temperature, argmax,
// entropy and the sampled token, as transformers' DiffusionGemma generate() computes them for that position.
//
// It is one function over one row, with no state beyond its arguments, so that it can become a device kernel (one
// thread block per canvas position: a max reduction, a sum reduction and a prefix scan over the vocabulary) without
// changing the sampler around it.
#pragma once

#include <cstdint>
#include <span>

namespace fp4lab {

struct CanvasRowOutcome {
  int32_t sampled = 0;  // the token drawn from softmax(scaled row)
  int32_t argmax = 0;   // the largest scaled logit, lowest id on ties (torch.argmax)
  // Entropy of softmax(scaled row) in nats (torch.distributions.Categorical(logits=...).entropy()); NaN when the row
  // has a NaN, a +inf or nothing above -inf (no distribution: the sampler reports it as a model failure).
  double entropy = 0.0;
};

// Scales `row` (one position's logits, [vocab]) in place to row / temperature in f32, as transformers'
// LinearTemperatureScheduleLogitsProcessor does (these processed logits are what the next step self-conditions on),
// then returns the row's argmax, entropy and one sample. The sample follows torch.multinomial's rule for one draw:
// the first id whose cumulative probability exceeds `uniform` (ids of probability 0 are never drawn); `uniform` is a
// draw in [0, 1). Sums run in double. REQUIRES: temperature > 0, !row.empty().
CanvasRowOutcome ProcessCanvasRow(std::span<float> row, float temperature, double uniform);

}  // namespace fp4lab
