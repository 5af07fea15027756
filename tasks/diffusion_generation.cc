#include "tasks/diffusion_generation.h"

#include <utility>

#include "engine/diffusion/diffusion_draws.h"

namespace fp4lab {

DiffusionSampler MakeDiffusionSampler(DiffusionGenerationConfig config) {
  return [config = std::move(config)](BlockDenoiser& denoiser, std::span<const TokenId> prompt, int max_new_tokens,
                                      uint64_t seed) -> Result<DiffusionGeneration> {
    BlockDiffusionOptions options;
    options.config = config;
    options.config.max_new_tokens = max_new_tokens;
    CounterDraws draws(seed);
    return GenerateBlockDiffusion(denoiser, prompt, options, draws);
  };
}

}  // namespace fp4lab
