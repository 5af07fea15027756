// What the latency task needs from block-diffusion generation: a function that runs the sampler
// (engine/diffusion/block_diffusion_sampler.h) on a given BlockDenoiser. The runner sets TaskRun::diffusion_sampler
// to MakeDiffusionSampler(the checkpoint's generation config); tests pass a fake. The latency task hands the sampler
// a timing wrapper of the model's denoiser, so every Commit and Denoise call it makes is on the clock
// (tasks/diffusion_latency.h), and reads the steps, forwards and commits from the DiffusionStats it returns.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "engine/diffusion/block_denoiser.h"
#include "engine/diffusion/block_diffusion_sampler.h"
#include "engine/diffusion/diffusion_generation_config.h"
#include "engine/language_model.h"
#include "engine/status.h"

namespace fp4lab {

// Generates after `prompt` on `denoiser` (which it Resets first) for at most max_new_tokens (rounded up to whole
// canvases, as the sampler does), its random draws seeded with `seed`. Errors: the sampler's and the denoiser's.
using DiffusionSampler = std::function<Result<DiffusionGeneration>(
    BlockDenoiser& denoiser, std::span<const TokenId> prompt, int max_new_tokens, uint64_t seed)>;

// GenerateBlockDiffusion with `config` (max_new_tokens replaced by the call's) and CounterDraws(seed).
DiffusionSampler MakeDiffusionSampler(DiffusionGenerationConfig config);

}  // namespace fp4lab
