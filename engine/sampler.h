// Sampling from one row of logits: greedy, temperature, top-k, top-p, driven by a seeded generator so that
// generation is a pure function of (logits, options, generator state).
#pragma once

#include <cstdint>
#include <random>
#include <span>

#include "engine/language_model.h"

namespace fp4lab {

// Greedy (temperature 0): argmax, lowest id on ties. Otherwise softmax(logits / T) restricted to the top_k most
// likely ids (if top_k > 0) and then to the smallest prefix whose probability reaches top_p, renormalized, and
// one draw from `rng`. REQUIRES !logits.empty().
int32_t SampleToken(std::span<const float> logits, const SamplingOptions& options, std::mt19937_64& rng);

}  // namespace fp4lab
