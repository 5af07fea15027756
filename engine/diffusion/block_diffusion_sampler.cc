#include "engine/diffusion/block_diffusion_sampler.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "engine/diffusion/canvas_row.h"
#include "engine/diffusion/entropy_bound.h"
#include "engine/diffusion/stable_and_confident.h"

namespace fp4lab {

namespace {

struct DenoisedCanvas {
  std::vector<int32_t> argmax;  // the last step's argmax canvas: what the canvas emits
  int steps = 0;                // decoder passes taken
  bool converged = false;       // stopped by the stable-and-confident rule
};

// The denoising loop of canvas `canvas_index` (the file comment of block_diffusion_sampler.h states it); each step
// is one BlockDenoiser::DenoiseStep, which keeps the processed logits for the next step's self-conditioning.
Result<DenoisedCanvas> DenoiseCanvas(BlockDenoiser& model, int canvas_index, const BlockDiffusionOptions& options,
                                     DiffusionDraws& draws) {
  const DiffusionGenerationConfig& config = options.config;
  const int length = model.canvas_length();
  const int64_t vocab = model.vocab_size();
  std::vector<int32_t> canvas(static_cast<size_t>(length));
  for (int p = 0; p < length; ++p) canvas[p] = draws.NoiseToken(canvas_index, 0, p, vocab);
  std::vector<int32_t> sampled(canvas.size());
  std::vector<double> entropies(canvas.size());
  std::vector<double> uniforms(canvas.size());
  std::vector<CanvasRowOutcome> outcomes(canvas.size());
  DenoisedCanvas result;
  result.argmax.resize(canvas.size());
  StableAndConfidentRule stop_rule(config.stability_threshold, config.confidence_threshold);
  bool self_conditioned = false;  // a block's first step has no previous logits
  for (int step = 1; step <= config.max_denoising_steps; ++step) {
    for (int p = 0; p < length; ++p) uniforms[p] = draws.SampleUniform(canvas_index, step, p);
    const DenoiseStepSettings settings{.temperature = DenoisingTemperature(config, step),
                                       .uniforms = uniforms,
                                       .self_condition = self_conditioned,
                                       .self_conditioning_in_bf16 = options.self_conditioning_in_bf16};
    FP4LAB_RETURN_IF_ERROR(model.DenoiseStep(canvas, settings, outcomes));
    result.steps = step;
    double entropy_sum = 0.0;
    for (int p = 0; p < length; ++p) {
      const CanvasRowOutcome& outcome = outcomes[p];
      if (std::isnan(outcome.entropy)) {
        return Status::Internal("block diffusion: canvas " + std::to_string(canvas_index) + ", step " +
                                std::to_string(step) + ", position " + std::to_string(p) +
                                ": the decoder's logits hold NaN or +inf, or no finite value");
      }
      sampled[p] = outcome.sampled;
      result.argmax[p] = outcome.argmax;
      entropies[p] = outcome.entropy;
      entropy_sum += outcome.entropy;
    }
    const std::vector<uint8_t> accepted = AcceptByEntropyBound(entropies, config.entropy_bound);
    for (int p = 0; p < length; ++p) canvas[p] = accepted[p] ? sampled[p] : draws.NoiseToken(canvas_index, step, p, vocab);
    if (stop_rule.Update(result.argmax, entropy_sum / length)) {
      result.converged = true;
      break;
    }
    self_conditioned = true;  // this step's processed (temperature-scaled) logits condition the next one
  }
  return result;
}

}  // namespace

float DenoisingTemperature(const DiffusionGenerationConfig& config, int step) {
  const int remaining = config.max_denoising_steps - step + 1;  // transformers' cur_step
  const float fraction = static_cast<float>(remaining) / static_cast<float>(config.max_denoising_steps);
  return static_cast<float>(config.t_min) + static_cast<float>(config.t_max - config.t_min) * fraction;
}

Result<DiffusionGeneration> GenerateBlockDiffusion(BlockDenoiser& model, std::span<const int32_t> prompt,
                                                   const BlockDiffusionOptions& options, DiffusionDraws& draws) {
  const DiffusionGenerationConfig& config = options.config;
  FP4LAB_RETURN_IF_ERROR(ValidateDiffusionGenerationConfig(config, "block-diffusion generation config"));
  if (prompt.empty()) return Status::InvalidArgument("block diffusion: empty prompt (add BOS at least)");
  const int length = model.canvas_length();
  if (static_cast<int64_t>(prompt.size()) + length > model.max_context()) {
    return Status::InvalidArgument("block diffusion: a prompt of " + std::to_string(prompt.size()) +
                                   " tokens leaves no room for a canvas of " + std::to_string(length) +
                                   " in the context of " + std::to_string(model.max_context()));
  }
  model.Reset();
  FP4LAB_RETURN_IF_ERROR(model.Commit(prompt));
  DiffusionGeneration generation;
  DiffusionStats& stats = generation.stats;
  stats.encoder_commits = 1;
  const int max_canvases = (config.max_new_tokens + length - 1) / length;
  std::vector<int32_t> previous;  // the last canvas, committed when another follows
  for (int c = 0; c < max_canvases; ++c) {
    if (c > 0) {
      if (model.committed_tokens() + 2 * int64_t{length} > model.max_context()) {
        generation.finish = DiffusionFinish::kContextFull;
        break;
      }
      FP4LAB_RETURN_IF_ERROR(model.Commit(previous));
      ++stats.encoder_commits;
    }
    FP4LAB_ASSIGN_OR_RETURN(DenoisedCanvas canvas, DenoiseCanvas(model, c, options, draws));
    stats.steps_per_canvas.push_back(canvas.steps);
    stats.decoder_forwards += canvas.steps;
    if (canvas.converged) ++stats.converged_canvases;
    const auto eos = std::find_first_of(canvas.argmax.begin(), canvas.argmax.end(), config.eos_token_ids.begin(),
                                        config.eos_token_ids.end());
    if (eos != canvas.argmax.end()) {
      generation.tokens.insert(generation.tokens.end(), canvas.argmax.begin(), eos + 1);
      generation.finish = DiffusionFinish::kEos;
      break;
    }
    generation.tokens.insert(generation.tokens.end(), canvas.argmax.begin(), canvas.argmax.end());
    if (options.stop_after_canvas && options.stop_after_canvas(generation.tokens)) {
      generation.finish = DiffusionFinish::kStopCheck;
      break;
    }
    previous = std::move(canvas.argmax);
  }
  const int64_t valid_tokens =
      config.pad_token_id
          ? std::count_if(generation.tokens.begin(), generation.tokens.end(),
                          [&](int32_t id) { return id != *config.pad_token_id; })
          : static_cast<int64_t>(stats.steps_per_canvas.size()) * length;
  stats.tokens_per_forward = static_cast<double>(valid_tokens) / static_cast<double>(stats.decoder_forwards);
  return generation;
}

}  // namespace fp4lab
