// Block-diffusion generation with a BlockDenoiser (DiffusionGemma), as transformers' DiffusionGemmaGenerationMixin
// .generate implements it at batch 1. Where vLLM's DiffusionSampler differs, this follows transformers and says so.
//
// Outer loop, one canvas of canvas_length() tokens at a time, ceil(max_new_tokens / canvas_length) canvases at most:
//   the prompt is committed once (Reset, Commit); each later canvas starts by committing the previous one.
// Inner loop over denoising steps s = 1 .. N (N = max_denoising_steps; transformers counts cur_step = N - s + 1,
// the steps *remaining*):
// Steps 1 and 2 are one BlockDenoiser::DenoiseStep call (the logits stay with the model; outcomes come back):
//   1. Denoise the current canvas (uniform-random ids at s = 1), self-conditioned on step s-1's processed logits
//      (none at s = 1).
//   2. Per position (ProcessCanvasRow): logits / T(s) with T(s) = t_min + (t_max - t_min) (N - s + 1) / N, so T(1) =
//      t_max and T(N) = t_min + (t_max - t_min) / N; the argmax, the entropy, and one token drawn from the scaled
//      distribution (transformers: torch.multinomial; vLLM: Gumbel-max, the same distribution from other draws).
//   3. Accept the drawn tokens of the positions AcceptByEntropyBound picks; every other position gets a fresh
//      uniform id (renoise). That is the next step's canvas.
//   4. Stop when StableAndConfidentRule says so (argmax canvas stable, mean entropy below confidence_threshold).
// The canvas emitted is the last step's argmax canvas (not the accepted or renoised one). If it holds an EOS id, the
// generation ends there: the tokens after the first EOS are dropped (transformers overwrites them with pad) and the
// EOS is kept. transformers emits whole canvases otherwise, so the result may hold up to canvas_length() - 1 tokens
// more than max_new_tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/diffusion/block_denoiser.h"
#include "engine/diffusion/diffusion_draws.h"
#include "engine/diffusion/diffusion_generation_config.h"
#include "engine/status.h"

namespace fp4lab {

struct BlockDiffusionOptions {
  DiffusionGenerationConfig config;
  // transformers casts the processed logits to the embedding dtype before they self-condition the next step: bf16
  // for every released DiffusionGemma checkpoint (the NVFP4 recipe leaves embeddings in bf16). vLLM instead feeds
  // f32 probabilities. false passes the f32 processed logits unrounded.
  bool self_conditioning_in_bf16 = true;
  // Called after each canvas with every token generated so far (cut after an EOS); true ends the generation. This is
  // where a caller's stop strings go, as transformers' custom stopping criteria: the canvas is kept whole, and the
  // caller cuts its text at the stop string.
  std::function<bool(std::span<const int32_t> generated)> stop_after_canvas;
};

enum class DiffusionFinish {
  kMaxNewTokens,  // ceil(max_new_tokens / canvas_length) canvases were generated
  kEos,           // a canvas held one of config.eos_token_ids
  kStopCheck,     // stop_after_canvas returned true
  // One more canvas would not fit in max_context() after the committed context. transformers has no such check (it
  // would run past max_position_embeddings); vLLM instead shortens the last canvas to fit.
  kContextFull,
};

struct DiffusionStats {
  std::vector<int> steps_per_canvas;  // decoder passes each canvas took, in order (size = canvases)
  int converged_canvases = 0;         // canvases stopped by the stable-and-confident rule, not by max_denoising_steps
  int64_t decoder_forwards = 0;       // DenoiseStep calls (the sum of steps_per_canvas)
  int64_t encoder_commits = 0;        // Commit calls: the prompt, then each canvas a later one continued
  // transformers' tokens_per_forward: the generated tokens that are not pad_token_id (every position of every
  // canvas when the config has no pad id, as transformers then overwrites nothing) per decoder forward.
  double tokens_per_forward = 0.0;
};

struct DiffusionGeneration {
  std::vector<int32_t> tokens;  // generated ids, prompt excluded
  DiffusionFinish finish = DiffusionFinish::kMaxNewTokens;
  DiffusionStats stats;
};

// T(s) for denoising step s in [1, N], computed in f32 as transformers does (cur_step is an int32 tensor there).
float DenoisingTemperature(const DiffusionGenerationConfig& config, int step);

// Generates after `prompt` (at least one token; the model is Reset first). InvalidArgument for an invalid config,
// an empty prompt, or a prompt that leaves no room for one canvas in max_context(); the model's errors pass through;
// Internal when the model returns a row of logits without a distribution (NaN, +inf, or all -inf).
Result<DiffusionGeneration> GenerateBlockDiffusion(BlockDenoiser& model, std::span<const int32_t> prompt,
                                                   const BlockDiffusionOptions& options, DiffusionDraws& draws);

}  // namespace fp4lab
