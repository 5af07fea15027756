// GenerateBlockDiffusion against a scripted denoiser and fixed draws: acceptance and renoise, self-conditioning and
// the temperature, the stop rule, block continuation, EOS, caller stops, the context limit and reproducibility. Every
// expected value is derived by hand from transformers' DiffusionGemma generate(); the arithmetic is in the comments.
#include "engine/diffusion/block_diffusion_sampler.h"

#include <bit>
#include <cmath>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "engine/diffusion/diffusion_draws.h"
#include "scripted_denoiser.h"

namespace fp4lab {
namespace {

using testing::FixedDraws;
using testing::ScriptedDenoiser;
using testing::SetEqualMass;

constexpr int64_t kVocab = 16;
constexpr int kCanvas = 4;

BlockDiffusionOptions Options(int steps, int max_new_tokens) {
  BlockDiffusionOptions options;
  options.config.max_denoising_steps = steps;
  options.config.max_new_tokens = max_new_tokens;
  return options;
}

// Every position certain of id (committed tokens + position) % kVocab: each canvas converges after two steps
// (stable from the second, entropy 0), and the ids show which context a canvas was denoised in.
void CertainOfContext(int, std::span<const int32_t> committed, std::span<const int32_t>, std::span<float> logits) {
  for (int p = 0; p < kCanvas; ++p) {
    SetEqualMass(logits, kVocab, p, {static_cast<int32_t>((committed.size() + p) % kVocab)});
  }
}

TEST(BlockDiffusion, AcceptsTheEntropyBoundPrefixAndRenoisesExactlyTheRest) {
  // Step 1 rows: position 0 certain of 5 (entropy 0), 1 split over {1, 2} (ln 2 = 0.693), 2 certain of 3 (0),
  // 3 split over {4, 5, 6, 7} (ln 4 = 1.386). Sorted: 0, 0, ln 2, ln 4; the sums ranked before each: 0, 0, 0, ln 2.
  const auto script = [](int, std::span<const int32_t>, std::span<const int32_t>, std::span<float> logits) {
    SetEqualMass(logits, kVocab, 0, {5});
    SetEqualMass(logits, kVocab, 1, {1, 2});
    SetEqualMass(logits, kVocab, 2, {3});
    SetEqualMass(logits, kVocab, 3, {4, 5, 6, 7});
  };
  const std::vector<int32_t> prompt = {9, 8};
  {
    // Bound 0.5: positions 0, 2, 1 accepted (0 <= 0.5), position 3 rejected (ln 2 > 0.5) and renoised.
    ScriptedDenoiser model(kVocab, kCanvas, 64, script);
    FixedDraws draws;
    draws.uniforms[{0, 1, 1}] = 0.75;  // position 1: target 0.75 * 2 = 1.5, first exceeded by id 2's cumulative 2
    BlockDiffusionOptions options = Options(2, kCanvas);
    options.config.entropy_bound = 0.5;
    auto generation = GenerateBlockDiffusion(model, prompt, options, draws);
    ASSERT_TRUE(generation.ok()) << generation.status().ToString();
    ASSERT_EQ(model.canvases.size(), 2u);
    // The initial canvas is the step-0 noise.
    EXPECT_EQ(model.canvases[0], (std::vector<int32_t>{FixedDraws::Noise(0, 0, 0), FixedDraws::Noise(0, 0, 1),
                                                       FixedDraws::Noise(0, 0, 2), FixedDraws::Noise(0, 0, 3)}));
    EXPECT_EQ(model.canvases[1], (std::vector<int32_t>{5, 2, 3, FixedDraws::Noise(0, 1, 3)}));
    // Emitted: the last step's argmax (lowest id of each equal-mass set), not the sampled canvas.
    EXPECT_EQ(generation->tokens, (std::vector<int32_t>{5, 1, 3, 4}));
  }
  {
    // Bound 0.7: ln 2 = 0.693 <= 0.7, so all four are accepted; position 3 draws u = 0.25: target 1.0 over four
    // weights of 1, first exceeded by id 5's cumulative 2.
    ScriptedDenoiser model(kVocab, kCanvas, 64, script);
    FixedDraws draws;
    draws.uniforms[{0, 1, 1}] = 0.75;
    BlockDiffusionOptions options = Options(2, kCanvas);
    options.config.entropy_bound = 0.7;
    auto generation = GenerateBlockDiffusion(model, prompt, options, draws);
    ASSERT_TRUE(generation.ok()) << generation.status().ToString();
    ASSERT_EQ(model.canvases.size(), 2u);
    EXPECT_EQ(model.canvases[1], (std::vector<int32_t>{5, 2, 3, 5}));
  }
}

// Rows of finite logits (every position alike), far from confident, so a canvas runs all its steps.
constexpr float kRow[4] = {1.01f, 0.5f, -0.25f, 0.0f};
void FiniteRows(int, std::span<const int32_t>, std::span<const int32_t>, std::span<float> logits) {
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = kRow[i % 4];
}

TEST(BlockDiffusion, SelfConditionsOnThePreviousStepsTemperatureScaledLogits) {
  ScriptedDenoiser model(4, 2, 64, FiniteRows);
  FixedDraws draws;
  BlockDiffusionOptions options = Options(3, 2);
  options.self_conditioning_in_bf16 = false;
  auto generation = GenerateBlockDiffusion(model, std::vector<int32_t>{1}, options, draws);
  ASSERT_TRUE(generation.ok()) << generation.status().ToString();
  ASSERT_EQ(model.conditionings.size(), 3u);
  EXPECT_TRUE(model.conditionings[0].empty());  // a block's first step has no self-conditioning
  // Step s self-conditions on step s-1's logits / T(s-1), T(s) = 0.4 + 0.4 * (3 - s + 1) / 3: T(1) = 0.8,
  // T(2) = 0.6667. The temperature is an f32 of at most three roundings and the division adds one: 4 * 2^-24
  // relative.
  const double temperatures[3] = {0.0, 0.8, 0.4 + 0.4 * 2.0 / 3.0};
  for (int step = 1; step <= 2; ++step) {
    const std::vector<float>& conditioning = model.conditionings[step];
    ASSERT_EQ(conditioning.size(), 8u);
    for (size_t i = 0; i < conditioning.size(); ++i) {
      const double expected = kRow[i % 4] / temperatures[step];
      EXPECT_NEAR(conditioning[i], expected, std::abs(expected) * 4 * 0x1.0p-24) << "step " << step << " i " << i;
    }
  }
}

TEST(BlockDiffusion, SelfConditioningIsRoundedToBf16AsTransformersCastsIt) {
  ScriptedDenoiser model(4, 2, 64, FiniteRows);
  FixedDraws draws;
  auto generation = GenerateBlockDiffusion(model, std::vector<int32_t>{1}, Options(2, 2), draws);
  ASSERT_TRUE(generation.ok()) << generation.status().ToString();
  ASSERT_EQ(model.conditionings.size(), 2u);
  // 1.01 / 0.8 = 1.2625 has more than bf16's 8 significant bits: the value passed is a bf16 (low 16 bits zero)
  // within half a bf16 ulp (2^-8 relative) of it, and not the f32 quotient.
  const float passed = model.conditionings[1][0];
  EXPECT_EQ(std::bit_cast<uint32_t>(passed) & 0xFFFFu, 0u);
  EXPECT_NEAR(passed, 1.2625, 1.2625 * 0x1.0p-8);
  EXPECT_NE(passed, 1.01f / 0.8f);
}

TEST(BlockDiffusion, StopsWhenStableAndConfidentOrAtMaxSteps) {
  const std::vector<int32_t> prompt = {1};
  const auto run = [&](ScriptedDenoiser::Script script, int stability) {
    ScriptedDenoiser model(kVocab, kCanvas, 64, std::move(script));
    FixedDraws draws;
    BlockDiffusionOptions options = Options(5, kCanvas);
    options.config.stability_threshold = stability;
    auto generation = GenerateBlockDiffusion(model, prompt, options, draws);
    EXPECT_TRUE(generation.ok()) << generation.status().ToString();
    return generation.ok() ? *generation : DiffusionGeneration();
  };
  // Certain rows (entropy 0): stable from step 2 with threshold 1, from step 1 with threshold 0.
  auto certain = run(CertainOfContext, 1);
  EXPECT_EQ(certain.stats.steps_per_canvas, (std::vector<int>{2}));
  EXPECT_EQ(certain.stats.converged_canvases, 1);
  EXPECT_EQ(certain.stats.decoder_forwards, 2);
  EXPECT_EQ(run(CertainOfContext, 0).stats.steps_per_canvas, (std::vector<int>{1}));
  // Stable but never confident (every row ln 2 = 0.693 > 0.005): all 5 steps, not converged.
  const auto split = [](int, std::span<const int32_t>, std::span<const int32_t>, std::span<float> logits) {
    for (int p = 0; p < kCanvas; ++p) SetEqualMass(logits, kVocab, p, {6, 7});
  };
  auto unsure = run(split, 1);
  EXPECT_EQ(unsure.stats.steps_per_canvas, (std::vector<int>{5}));
  EXPECT_EQ(unsure.stats.converged_canvases, 0);
  // Confident but never stable (certain of id = call number): 5 steps, and the emitted canvas is the last step's
  // argmax (call 4).
  const auto moving = [](int call, std::span<const int32_t>, std::span<const int32_t>, std::span<float> logits) {
    for (int p = 0; p < kCanvas; ++p) SetEqualMass(logits, kVocab, p, {static_cast<int32_t>(call)});
  };
  auto restless = run(moving, 1);
  EXPECT_EQ(restless.stats.steps_per_canvas, (std::vector<int>{5}));
  EXPECT_EQ(restless.tokens, (std::vector<int32_t>{4, 4, 4, 4}));
}

TEST(BlockDiffusion, EmitsTheArgmaxNotTheAcceptedSample) {
  // One position, logits {1, 0.9}: at T(1) = 0.8 the weights are 1 and e^-0.125 = 0.8825; u = 0.9 targets
  // 0.9 * 1.8825 = 1.694 > 1, so id 1 is drawn and accepted (a lone position always is), but id 0 is emitted.
  const auto script = [](int, std::span<const int32_t>, std::span<const int32_t>, std::span<float> logits) {
    logits[0] = 1.0f;
    logits[1] = 0.9f;
  };
  ScriptedDenoiser model(2, 1, 64, script);
  FixedDraws draws;
  draws.uniforms[{0, 1, 0}] = 0.9;
  auto generation = GenerateBlockDiffusion(model, std::vector<int32_t>{1}, Options(2, 1), draws);
  ASSERT_TRUE(generation.ok()) << generation.status().ToString();
  ASSERT_EQ(model.canvases.size(), 2u);
  EXPECT_EQ(model.canvases[1], (std::vector<int32_t>{1}));
  EXPECT_EQ(generation->tokens, (std::vector<int32_t>{0}));
}

TEST(BlockDiffusion, ContinuesBlockByBlockCommittingEachFinishedCanvas) {
  ScriptedDenoiser model(kVocab, kCanvas, 64, CertainOfContext);
  FixedDraws draws;
  // max_new_tokens 10 over canvases of 4: ceil(10 / 4) = 3 canvases, emitted whole (12 tokens, as transformers).
  auto generation = GenerateBlockDiffusion(model, std::vector<int32_t>{9, 8}, Options(48, 10), draws);
  ASSERT_TRUE(generation.ok()) << generation.status().ToString();
  // Canvas c is denoised after 2 + 4c committed tokens: ids 2..5, 6..9, 10..13.
  EXPECT_EQ(generation->tokens, (std::vector<int32_t>{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}));
  EXPECT_EQ(generation->finish, DiffusionFinish::kMaxNewTokens);
  EXPECT_EQ(model.resets, 1);
  // The prompt, then each canvas that another follows; the last one is never committed.
  EXPECT_EQ(model.commits, (std::vector<std::vector<int32_t>>{{9, 8}, {2, 3, 4, 5}, {6, 7, 8, 9}}));
  const DiffusionStats& stats = generation->stats;
  EXPECT_EQ(stats.encoder_commits, 3);
  EXPECT_EQ(stats.steps_per_canvas, (std::vector<int>{2, 2, 2}));
  EXPECT_EQ(stats.decoder_forwards, 6);
  EXPECT_EQ(stats.converged_canvases, 3);
  EXPECT_DOUBLE_EQ(stats.tokens_per_forward, 12.0 / 6.0);
  // Each canvas starts from its own noise with no self-conditioning; its second step is self-conditioned.
  ASSERT_EQ(model.canvases.size(), 6u);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(model.canvases[2 * c][0], FixedDraws::Noise(c, 0, 0)) << "canvas " << c;
    EXPECT_TRUE(model.conditionings[2 * c].empty()) << "canvas " << c;
    EXPECT_FALSE(model.conditionings[2 * c + 1].empty()) << "canvas " << c;
  }
}

TEST(BlockDiffusion, TokensPerForwardLeavesOutPadAsTransformersCountsIt) {
  ScriptedDenoiser model(kVocab, kCanvas, 64, CertainOfContext);
  FixedDraws draws;
  BlockDiffusionOptions options = Options(48, 12);
  options.config.pad_token_id = 7;  // generated once (tokens 2..13)
  auto generation = GenerateBlockDiffusion(model, std::vector<int32_t>{9, 8}, options, draws);
  ASSERT_TRUE(generation.ok()) << generation.status().ToString();
  EXPECT_DOUBLE_EQ(generation->stats.tokens_per_forward, 11.0 / 6.0);
}

TEST(BlockDiffusion, EndsAtTheFirstEosInsideACanvas) {
  // Canvas 1 is {6, 7, 8, 9}. With EOS ids {9, 7} its first EOS is the 7 at position 1, though 9 is listed first:
  // the tokens after it are dropped (transformers pads them) and the EOS is kept.
  ScriptedDenoiser model(kVocab, kCanvas, 64, CertainOfContext);
  FixedDraws draws;
  BlockDiffusionOptions options = Options(48, 64);
  options.config.eos_token_ids = {9, 7};
  auto generation = GenerateBlockDiffusion(model, std::vector<int32_t>{9, 8}, options, draws);
  ASSERT_TRUE(generation.ok()) << generation.status().ToString();
  EXPECT_EQ(generation->tokens, (std::vector<int32_t>{2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(generation->finish, DiffusionFinish::kEos);
  EXPECT_EQ(model.commits.size(), 2u);  // the prompt and canvas 0; the finished canvas is not committed
  // No pad id: transformers overwrites nothing and counts both canvases whole, 8 tokens over 4 forwards.
  EXPECT_DOUBLE_EQ(generation->stats.tokens_per_forward, 8.0 / 4.0);
  // With a pad id it counts the 6 tokens up to the EOS.
  ScriptedDenoiser padded_model(kVocab, kCanvas, 64, CertainOfContext);
  options.config.pad_token_id = 0;
  auto padded = GenerateBlockDiffusion(padded_model, std::vector<int32_t>{9, 8}, options, draws);
  ASSERT_TRUE(padded.ok()) << padded.status().ToString();
  EXPECT_DOUBLE_EQ(padded->stats.tokens_per_forward, 6.0 / 4.0);
}

TEST(BlockDiffusion, CallerStopIsCheckedAfterEachWholeCanvas) {
  ScriptedDenoiser model(kVocab, kCanvas, 64, CertainOfContext);
  FixedDraws draws;
  BlockDiffusionOptions options = Options(48, 64);
  std::vector<std::vector<int32_t>> seen;
  options.stop_after_canvas = [&](std::span<const int32_t> generated) {
    seen.emplace_back(generated.begin(), generated.end());
    return generated.size() >= 8;
  };
  auto generation = GenerateBlockDiffusion(model, std::vector<int32_t>{9, 8}, options, draws);
  ASSERT_TRUE(generation.ok()) << generation.status().ToString();
  EXPECT_EQ(seen, (std::vector<std::vector<int32_t>>{{2, 3, 4, 5}, {2, 3, 4, 5, 6, 7, 8, 9}}));
  EXPECT_EQ(generation->tokens.size(), 8u);
  EXPECT_EQ(generation->finish, DiffusionFinish::kStopCheck);
}

TEST(BlockDiffusion, StopsWhenAnotherCanvasWouldNotFitTheContext) {
  // Context 10 = prompt 2 + two canvases of 4: canvas 0 (after 2 tokens) and canvas 1 (after 6) fit, canvas 2
  // would need 10 + 4.
  ScriptedDenoiser model(kVocab, kCanvas, 10, CertainOfContext);
  FixedDraws draws;
  auto generation = GenerateBlockDiffusion(model, std::vector<int32_t>{9, 8}, Options(48, 12), draws);
  ASSERT_TRUE(generation.ok()) << generation.status().ToString();
  EXPECT_EQ(generation->tokens.size(), 8u);
  EXPECT_EQ(generation->finish, DiffusionFinish::kContextFull);
  // A prompt that leaves no room for one canvas, and an empty prompt, are refused.
  auto too_long = GenerateBlockDiffusion(model, std::vector<int32_t>(7, 1), Options(48, 4), draws);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.status().message().find("prompt of 7 tokens"), std::string::npos) << too_long.status().ToString();
  auto empty = GenerateBlockDiffusion(model, std::vector<int32_t>{}, Options(48, 4), draws);
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
}

TEST(BlockDiffusion, RefusesAnInvalidConfigAndReportsLogitsWithoutADistribution) {
  ScriptedDenoiser model(kVocab, kCanvas, 64, CertainOfContext);
  FixedDraws draws;
  BlockDiffusionOptions options = Options(48, 4);
  options.config.t_max = options.config.t_min;
  auto refused = GenerateBlockDiffusion(model, std::vector<int32_t>{1}, options, draws);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("'t_max'"), std::string::npos) << refused.status().ToString();
  const auto nan_at_2 = [](int, std::span<const int32_t>, std::span<const int32_t>, std::span<float> logits) {
    CertainOfContext(0, {}, {}, logits);
    logits[2 * kVocab + 1] = std::nanf("");
  };
  ScriptedDenoiser broken(kVocab, kCanvas, 64, nan_at_2);
  auto failed = GenerateBlockDiffusion(broken, std::vector<int32_t>{1}, Options(48, 4), draws);
  EXPECT_EQ(failed.status().code(), StatusCode::kInternal);
  EXPECT_NE(failed.status().message().find("position 2"), std::string::npos) << failed.status().ToString();
}

// Logits that depend on the canvas, spread over the vocabulary, so that every draw shapes the result.
void CanvasDependent(int, std::span<const int32_t>, std::span<const int32_t> canvas, std::span<float> logits) {
  const int64_t vocab = static_cast<int64_t>(logits.size() / canvas.size());
  for (size_t p = 0; p < canvas.size(); ++p) {
    for (int64_t id = 0; id < vocab; ++id) {
      logits[p * vocab + id] = 3.0f * std::sin(1.3f * id + 0.7f * static_cast<float>(canvas[p] % 97) + p);
    }
  }
}

TEST(BlockDiffusion, ReproducibleFromTheSeed) {
  const auto generate = [](uint64_t seed, std::vector<std::vector<int32_t>>* canvases) {
    ScriptedDenoiser model(32, 8, 128, CanvasDependent);
    CounterDraws draws(seed);
    auto generation = GenerateBlockDiffusion(model, std::vector<int32_t>{1, 2, 3}, Options(6, 16), draws);
    EXPECT_TRUE(generation.ok()) << generation.status().ToString();
    *canvases = model.canvases;
    return generation.ok() ? *generation : DiffusionGeneration();
  };
  std::vector<std::vector<int32_t>> first_canvases, again_canvases, other_canvases;
  const DiffusionGeneration first = generate(123, &first_canvases);
  const DiffusionGeneration again = generate(123, &again_canvases);
  EXPECT_EQ(first.tokens, again.tokens);
  EXPECT_EQ(first_canvases, again_canvases);
  EXPECT_EQ(first.stats.steps_per_canvas, again.stats.steps_per_canvas);
  EXPECT_EQ(first.tokens.size(), 16u);
  generate(124, &other_canvases);
  ASSERT_FALSE(other_canvases.empty());
  EXPECT_NE(first_canvases[0], other_canvases[0]);  // another seed, another initial noise
}

}  // namespace
}  // namespace fp4lab
