// The self-conditioning input of a DiffusionGemma denoising step, on one canvas position's row: the previous step's
// processed (temperature-scaled) logits, rounded to bf16 when transformers' cast applies, then their softmax. The
// decoder multiplies these probabilities by the embedding (engine/arch/diffusion_gemma.cc).
//
// One function over one row with no state, the reference of Backend::SelfConditioningSoftmax (engine/backend.h).
#pragma once

#include <span>

namespace fp4lab {

// probs = softmax(x) with x = row rounded to bf16 (round to nearest even, as `.to(torch.bfloat16)`) when
// `round_to_bf16`, else row as is: p_i = exp(x_i - max x) / sum_j exp(x_j - max x), exp and the sum in double, each
// p_i rounded to f32 (PyTorch's f32 softmax, up to the summation order). `probs` may alias `row`.
// REQUIRES row.size() == probs.size() > 0 and a finite maximum (the sampler checks each row before it is used).
void SelfConditioningSoftmaxRow(std::span<const float> row, bool round_to_bf16, std::span<float> probs);

}  // namespace fp4lab
