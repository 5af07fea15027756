// What the latency task needs from block-diffusion generation (engine/diffusion's sampler): a function that runs
// the sampler on a given BlockDenoiser and reports what it did. The runner sets TaskRun::diffusion_sampler to it;
// tests pass a fake. The latency task hands the sampler a timing wrapper of the model's denoiser, so every Commit
// and Denoise call the sampler makes is on the clock (tasks/diffusion_latency.h).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/diffusion/block_denoiser.h"
#include "engine/language_model.h"
#include "engine/status.h"

namespace fp4lab {

// One generation as the sampler reports it.
struct DenoisingStats {
  std::vector<int> steps_per_canvas;  // decoder forwards (Denoise calls) of each canvas, in order; size = canvases
  int64_t decoder_forwards = 0;       // Denoise calls in all (== the sum of steps_per_canvas)
  int64_t encoder_commits = 0;        // Commit calls in all (the prompt, then each committed canvas)
  int64_t tokens_generated = 0;       // tokens returned to the caller (accepted; EOS and what follows excluded)
};

// Runs block-diffusion generation on `denoiser` (Reset first, then Commit(prompt), ...) for at most max_new_tokens
// new tokens with the checkpoint's generation config and `seed`; returns what it did. Errors: the denoiser's.
using DiffusionSampler = std::function<Result<DenoisingStats>(BlockDenoiser& denoiser, std::span<const TokenId> prompt,
                                                              int max_new_tokens, uint64_t seed)>;

}  // namespace fp4lab
