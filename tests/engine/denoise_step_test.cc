// BlockDenoiser::DenoiseStep: the diffusion_gemma model's own step (logits kept on its backend, processed by
// Backend::ProcessCanvasRows, self-conditioning by Backend::SelfConditioningSoftmax) against the default step built
// on Denoise + ProcessCanvasRow on the host, on the tiny DiffusionGemma fixture and the CPU backend, where the two
// must agree bit for bit: step by step, and through whole generations.
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "engine/diffusion/block_denoiser.h"
#include "engine/diffusion/block_diffusion_sampler.h"
#include "engine/diffusion/diffusion_draws.h"
#include "engine_test_util.h"
#include "host_step_denoiser.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::HostStepDenoiser;

// Bitwise equality of doubles (NaN included), so that "identical" means identical.
bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// `steps` steps of DenoiseStep after committing a prompt: the first unconditioned, each later one self-conditioned
// on the one before, its canvas the previous step's sampled ids; uniforms and temperatures as the sampler draws
// them. Returns every step's outcomes.
std::vector<std::vector<CanvasRowOutcome>> RunSteps(BlockDenoiser& denoiser, int steps, bool in_bf16) {
  const std::vector<int32_t> prompt = {2, 10, 11, 12, 13};
  const int length = denoiser.canvas_length();
  denoiser.Reset();
  EXPECT_TRUE(denoiser.Commit(prompt).ok());
  CounterDraws draws(11);
  DiffusionGenerationConfig config;
  config.max_denoising_steps = steps;
  std::vector<int32_t> canvas(static_cast<size_t>(length));
  for (int p = 0; p < length; ++p) canvas[p] = draws.NoiseToken(0, 0, p, denoiser.vocab_size());
  std::vector<std::vector<CanvasRowOutcome>> all;
  for (int step = 1; step <= steps; ++step) {
    std::vector<double> uniforms(static_cast<size_t>(length));
    for (int p = 0; p < length; ++p) uniforms[p] = draws.SampleUniform(0, step, p);
    std::vector<CanvasRowOutcome> outcomes(static_cast<size_t>(length));
    const DenoiseStepSettings settings{.temperature = DenoisingTemperature(config, step),
                                       .uniforms = uniforms,
                                       .self_condition = step > 1,
                                       .self_conditioning_in_bf16 = in_bf16};
    const Status status = denoiser.DenoiseStep(canvas, settings, outcomes);
    EXPECT_TRUE(status.ok()) << "step " << step << ": " << status.ToString();
    for (int p = 0; p < length; ++p) canvas[p] = outcomes[p].sampled;
    all.push_back(std::move(outcomes));
  }
  return all;
}

TEST(DenoiseStep, ModelStepEqualsTheHostDefaultStepByStep) {
  auto engine = testing::OpenEngine(FixturePath("diffusiongemma_tiny"));
  ASSERT_NE(engine, nullptr);
  BlockDenoiser& model = *engine->AsBlockDenoiser();
  HostStepDenoiser host(model);
  for (const bool in_bf16 : {true, false}) {
    const auto own = RunSteps(model, 4, in_bf16);
    const auto reference = RunSteps(host, 4, in_bf16);
    ASSERT_EQ(own.size(), reference.size());
    for (size_t s = 0; s < own.size(); ++s) {
      for (size_t p = 0; p < own[s].size(); ++p) {
        SCOPED_TRACE(::testing::Message() << "bf16 " << in_bf16 << " step " << s + 1 << " position " << p);
        EXPECT_EQ(own[s][p].sampled, reference[s][p].sampled);
        EXPECT_EQ(own[s][p].argmax, reference[s][p].argmax);
        EXPECT_TRUE(SameBits(own[s][p].entropy, reference[s][p].entropy))
            << own[s][p].entropy << " vs " << reference[s][p].entropy;
      }
    }
  }
  // Self-conditioning changes the outcome (else the comparison above would not cover it): step 2 conditioned on
  // step 1 against step 2 without it, same canvas and draws, differ somewhere.
  const auto conditioned = RunSteps(model, 2, true);
  model.Reset();
  const std::vector<int32_t> prompt = {2, 10, 11, 12, 13};
  ASSERT_TRUE(model.Commit(prompt).ok());
  std::vector<int32_t> canvas;
  for (const CanvasRowOutcome& o : conditioned[0]) canvas.push_back(o.sampled);
  CounterDraws draws(11);
  std::vector<double> uniforms;
  for (size_t p = 0; p < canvas.size(); ++p) uniforms.push_back(draws.SampleUniform(0, 2, static_cast<int>(p)));
  DiffusionGenerationConfig config;
  config.max_denoising_steps = 2;
  std::vector<CanvasRowOutcome> unconditioned(canvas.size());
  ASSERT_TRUE(model.DenoiseStep(canvas, {.temperature = DenoisingTemperature(config, 2), .uniforms = uniforms},
                                unconditioned)
                  .ok());
  bool differs = false;
  for (size_t p = 0; p < canvas.size(); ++p) differs |= !SameBits(unconditioned[p].entropy, conditioned[1][p].entropy);
  EXPECT_TRUE(differs);
}

TEST(DenoiseStep, GenerationsThroughTheModelStepEqualThoseThroughTheHostStep) {
  auto engine = testing::OpenEngine(FixturePath("diffusiongemma_tiny"));
  ASSERT_NE(engine, nullptr);
  BlockDenoiser& model = *engine->AsBlockDenoiser();
  HostStepDenoiser host(model);
  BlockDiffusionOptions options;
  options.config.max_new_tokens = 20;  // two canvases of 16: the second starts a new block (no self-conditioning)
  options.config.max_denoising_steps = 6;
  const std::vector<int32_t> prompt = {2, 10, 11, 12};
  CounterDraws own_draws(3), host_draws(3);
  auto own = GenerateBlockDiffusion(model, prompt, options, own_draws);
  auto reference = GenerateBlockDiffusion(host, prompt, options, host_draws);
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  EXPECT_EQ(own->tokens, reference->tokens);
  EXPECT_EQ(own->stats.steps_per_canvas, reference->stats.steps_per_canvas);
  EXPECT_EQ(own->stats.encoder_commits, reference->stats.encoder_commits);
  EXPECT_EQ(own->stats.steps_per_canvas.size(), 2u);
}

TEST(DenoiseStep, SelfConditioningNeedsAPreviousStepAndSizesAreChecked) {
  auto engine = testing::OpenEngine(FixturePath("diffusiongemma_tiny"));
  ASSERT_NE(engine, nullptr);
  BlockDenoiser& model = *engine->AsBlockDenoiser();
  HostStepDenoiser host(model);
  const size_t length = static_cast<size_t>(model.canvas_length());
  const std::vector<int32_t> canvas(length, 5);
  const std::vector<double> uniforms(length, 0.5);
  std::vector<CanvasRowOutcome> outcomes(length);
  model.Reset();
  ASSERT_TRUE(model.Commit(std::vector<int32_t>{2, 10}).ok());
  for (BlockDenoiser* denoiser : {static_cast<BlockDenoiser*>(&model), static_cast<BlockDenoiser*>(&host)}) {
    EXPECT_EQ(denoiser->DenoiseStep(canvas, {.uniforms = uniforms, .self_condition = true}, outcomes).code(),
              StatusCode::kFailedPrecondition);
    EXPECT_EQ(denoiser->DenoiseStep(canvas, {.temperature = 0.0f, .uniforms = uniforms}, outcomes).code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(
        denoiser->DenoiseStep(canvas, {.uniforms = std::span(uniforms).first(length - 1)}, outcomes).code(),
        StatusCode::kInvalidArgument);
  }
  // The model's kept logits go with a Denoise call (which overwrites them with raw logits).
  ASSERT_TRUE(model.DenoiseStep(canvas, {.uniforms = uniforms}, outcomes).ok());
  std::vector<float> logits(length * static_cast<size_t>(model.vocab_size()));
  ASSERT_TRUE(model.Denoise(canvas, {}, logits).ok());
  EXPECT_EQ(model.DenoiseStep(canvas, {.uniforms = uniforms, .self_condition = true}, outcomes).code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace fp4lab
