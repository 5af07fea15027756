// Engine's block-diffusion side: the sampler settings read at open, the denoiser of a model opened without weights,
// and Generate on a diffusion model through the sampler (engine/diffusion/block_diffusion_sampler.h).
#include <algorithm>

#include "engine/diffusion/block_diffusion_sampler.h"
#include "engine/diffusion/diffusion_draws.h"
#include "engine/engine.h"

namespace fp4lab {

Status Engine::ReadDiffusionSettings(const std::string& model_dir) {
  if (!config_.block_diffusion) return Status::Ok();
  DiffusionGenerationConfig generation;  // a synthetic model has no generation_config.json: transformers' defaults
  if (!model_dir.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(generation, ReadDiffusionGenerationConfig(model_dir));
  }
  // Generation stops at every id LanguageModel::EosIds() names, as autoregressive generation does, besides those
  // generation_config.json lists (the tiny fixtures list none; the released checkpoint lists [1, 106, 50]).
  for (const TokenId id : EosIds()) {
    if (std::find(generation.eos_token_ids.begin(), generation.eos_token_ids.end(), id) ==
        generation.eos_token_ids.end()) {
      generation.eos_token_ids.push_back(id);
    }
  }
  diffusion_generation_ = std::move(generation);
  unloaded_denoiser_ = std::make_unique<UnloadedDenoiser>(config_, options_.model_dir);
  return Status::Ok();
}

BlockDenoiser* Engine::AsBlockDenoiser() {
  if (!config_.block_diffusion) return nullptr;
  return model_ ? model_->AsBlockDenoiser() : unloaded_denoiser_.get();
}

// The sampler's schedule replaces `sampling`'s temperature, top-k and top-p (DiffusionGemma samples at the
// generation config's temperatures); its seed seeds the sampler's draws. The sampler emits whole canvases: the
// tokens are cut at max_new_tokens and where on_token returns false, so Generate's contract holds as it does for a
// causal model (EOS ids end the generation and are not returned or passed to on_token).
Result<std::vector<TokenId>> Engine::GenerateByDiffusion(std::span<const TokenId> prompt, int max_new_tokens,
                                                         const SamplingOptions& sampling,
                                                         const std::function<bool(TokenId)>& on_token) {
  if (max_new_tokens <= 0) return std::vector<TokenId>{};
  BlockDiffusionOptions options{.config = *diffusion_generation_};
  options.config.max_new_tokens = max_new_tokens;
  std::vector<TokenId> accepted;  // tokens on_token has seen and accepted, at most max_new_tokens
  bool stopped = false;
  options.stop_after_canvas = [&](std::span<const int32_t> generated) {
    const auto& eos = options.config.eos_token_ids;
    for (size_t i = accepted.size(); i < generated.size() && !stopped; ++i) {
      if (std::find(eos.begin(), eos.end(), generated[i]) != eos.end() ||
          static_cast<int>(accepted.size()) >= max_new_tokens) {
        stopped = true;
        break;
      }
      accepted.push_back(generated[i]);
      if (on_token && !on_token(generated[i])) stopped = true;
    }
    return stopped;
  };
  CounterDraws draws(sampling.seed);
  FP4LAB_ASSIGN_OR_RETURN(const DiffusionGeneration generation,
                          GenerateBlockDiffusion(*AsBlockDenoiser(), prompt, options, draws));
  // A canvas holding an EOS ends the generation without a stop_after_canvas call: its tokens up to the EOS count.
  if (!stopped) options.stop_after_canvas(generation.tokens);
  tokens_.forward += static_cast<int64_t>(prompt.size()) +
                     generation.stats.decoder_forwards * AsBlockDenoiser()->canvas_length();
  tokens_.generated += static_cast<int64_t>(accepted.size());
  return accepted;
}

}  // namespace fp4lab
