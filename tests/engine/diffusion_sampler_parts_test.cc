// The pieces of the block-diffusion sampler, each against values derived by hand from transformers' rules:
// entropy-bound acceptance, the per-position row work, the stable-and-confident stop, the temperature schedule and
// the seeded draws.
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "engine/diffusion/block_diffusion_sampler.h"
#include "engine/diffusion/canvas_row.h"
#include "engine/diffusion/diffusion_draws.h"
#include "engine/diffusion/entropy_bound.h"
#include "engine/diffusion/stable_and_confident.h"

namespace fp4lab {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(EntropyBound, AcceptsTheLongestPrefixWhoseSumWithoutItsMaxStaysWithinTheBound) {
  // Sorted: 0.125 (pos 2), 0.25 (pos 0), 0.5 (pos 3), 1.0 (pos 1). The sum of the entropies ranked before each:
  // 0, 0.125, 0.375, 0.875. Bound 0.5 accepts the first three (0.375 <= 0.5) and rejects pos 1 (0.875 > 0.5).
  // (All values are dyadic, so every sum is exact.)
  const std::vector<double> entropies = {0.25, 1.0, 0.125, 0.5};
  EXPECT_EQ(AcceptByEntropyBound(entropies, 0.5), (std::vector<uint8_t>{1, 0, 1, 1}));
  // The bound is inclusive: 0.375 <= 0.375 still accepts pos 3.
  EXPECT_EQ(AcceptByEntropyBound(entropies, 0.375), (std::vector<uint8_t>{1, 0, 1, 1}));
  // Just below it only the two lowest remain (0.125 <= 0.37).
  EXPECT_EQ(AcceptByEntropyBound(entropies, 0.37), (std::vector<uint8_t>{1, 0, 1, 0}));
  // A bound above 0.875 accepts all four.
  EXPECT_EQ(AcceptByEntropyBound(entropies, 0.9), (std::vector<uint8_t>{1, 1, 1, 1}));
}

TEST(EntropyBound, TheLowestEntropyIsAlwaysAccepted) {
  // Nothing is ranked before the lowest, and 0 <= any bound > 0: every step accepts at least one token, however
  // uncertain (the rule's max term is what guarantees progress).
  EXPECT_EQ(AcceptByEntropyBound(std::vector<double>{5.0, 3.0, 4.0}, 1e-9), (std::vector<uint8_t>{0, 1, 0}));
  // Zero-entropy positions cost nothing: all of them pass, plus the next one.
  EXPECT_EQ(AcceptByEntropyBound(std::vector<double>{0.0, 2.0, 0.0, 0.0, 3.0}, 1e-9),
            (std::vector<uint8_t>{1, 1, 1, 1, 0}));
}

TEST(EntropyBound, TiesAreOrderedByPosition) {
  // Three positions of entropy 0.5, bound 0.5: ranks 1 and 2 see 0 and 0.5 before them, rank 3 sees 1.0. The first
  // two positions are the accepted ones.
  EXPECT_EQ(AcceptByEntropyBound(std::vector<double>{0.5, 0.5, 0.5}, 0.5), (std::vector<uint8_t>{1, 1, 0}));
}

TEST(CanvasRow, UniformRowHasEntropyLnNAndSamplesByInverseCdf) {
  std::vector<float> row = {0.0f, 0.0f, 0.0f, 0.0f};
  // Weights 1, 1, 1, 1; u = 0.6 targets 0.6 * 4 = 2.4; the cumulative weights 1, 2, 3 first exceed it at id 2.
  const CanvasRowOutcome outcome = ProcessCanvasRow(row, 1.0f, 0.6);
  EXPECT_NEAR(outcome.entropy, std::log(4.0), 1e-15);
  EXPECT_EQ(outcome.argmax, 0);  // all tied: the lowest id, as torch.argmax
  EXPECT_EQ(outcome.sampled, 2);
  EXPECT_EQ(ProcessCanvasRow(row, 1.0f, 0.0).sampled, 0);
  EXPECT_EQ(ProcessCanvasRow(row, 1.0f, 0.9999).sampled, 3);
}

TEST(CanvasRow, ScalesInPlaceByTheTemperatureAndMeasuresTheScaledDistribution) {
  // Logits {2, 0} at T = 2 become {1, 0}: p = 1 / (1 + e^-1), q = 1 - p, entropy -p ln p - q ln q.
  std::vector<float> row = {2.0f, 0.0f};
  const CanvasRowOutcome outcome = ProcessCanvasRow(row, 2.0f, 0.0);
  EXPECT_EQ(row, (std::vector<float>{1.0f, 0.0f}));
  const double p = 1.0 / (1.0 + std::exp(-1.0));
  const double q = 1.0 - p;
  EXPECT_NEAR(outcome.entropy, -p * std::log(p) - q * std::log(q), 1e-15);
  EXPECT_EQ(outcome.argmax, 0);
  // u just below p draws id 0, just above draws id 1.
  row = {2.0f, 0.0f};
  EXPECT_EQ(ProcessCanvasRow(row, 2.0f, p - 1e-9).sampled, 0);
  row = {2.0f, 0.0f};
  EXPECT_EQ(ProcessCanvasRow(row, 2.0f, p + 1e-9).sampled, 1);
}

TEST(CanvasRow, ImpossibleIdsAreNeverDrawnAndCostNoEntropy) {
  std::vector<float> row = {-kInf, 3.0f, -kInf, 3.0f};
  // Two ids of weight 1: entropy ln 2; u = 0.5 targets 1.0, which the cumulative 1 (id 1) does not exceed, so id 3.
  const CanvasRowOutcome outcome = ProcessCanvasRow(row, 0.5f, 0.5);
  EXPECT_NEAR(outcome.entropy, std::log(2.0), 1e-15);
  EXPECT_EQ(outcome.argmax, 1);
  EXPECT_EQ(outcome.sampled, 3);
  row = {-kInf, 3.0f, -kInf, 3.0f};
  EXPECT_EQ(ProcessCanvasRow(row, 0.5f, 0.0).sampled, 1);
  // A one-hot row is certain: entropy 0.
  row = {-kInf, -kInf, 1.0f};
  EXPECT_EQ(ProcessCanvasRow(row, 0.8f, 0.7).entropy, 0.0);
}

TEST(CanvasRow, RowsWithoutADistributionReportNaN) {
  std::vector<float> nan_row = {0.0f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_TRUE(std::isnan(ProcessCanvasRow(nan_row, 1.0f, 0.5).entropy));
  std::vector<float> empty_mass = {-kInf, -kInf};
  EXPECT_TRUE(std::isnan(ProcessCanvasRow(empty_mass, 1.0f, 0.5).entropy));
  std::vector<float> infinite = {kInf, 0.0f};
  EXPECT_TRUE(std::isnan(ProcessCanvasRow(infinite, 1.0f, 0.5).entropy));
}

TEST(StableAndConfident, ThresholdOneNeedsTheSameArgmaxCanvasTwiceInARow) {
  StableAndConfidentRule rule(1, 0.005);
  const std::vector<int32_t> a = {1, 2, 3};
  const std::vector<int32_t> b = {1, 2, 4};
  EXPECT_FALSE(rule.Update(a, 0.0));    // first step: nothing to compare with (transformers' history holds -1)
  EXPECT_FALSE(rule.Update(b, 0.0));    // changed
  EXPECT_FALSE(rule.Update(b, 0.005));  // stable, but the mean entropy is not *below* the threshold
  EXPECT_TRUE(rule.Update(b, 0.004));   // stable and confident
  rule.Reset();                         // a new canvas forgets the history
  EXPECT_FALSE(rule.Update(b, 0.0));
}

TEST(StableAndConfident, ThresholdZeroStopsOnConfidenceAlone) {
  StableAndConfidentRule rule(0, 0.5);
  EXPECT_TRUE(rule.Update(std::vector<int32_t>{7}, 0.1));
  EXPECT_FALSE(rule.Update(std::vector<int32_t>{8}, 0.6));
}

TEST(StableAndConfident, ThresholdTwoNeedsThreeEqualCanvases) {
  StableAndConfidentRule rule(2, 1.0);
  const std::vector<int32_t> a = {5};
  const std::vector<int32_t> b = {6};
  EXPECT_FALSE(rule.Update(a, 0.0));
  EXPECT_FALSE(rule.Update(b, 0.0));
  EXPECT_FALSE(rule.Update(b, 0.0));  // equals the last one, not the one before
  EXPECT_TRUE(rule.Update(b, 0.0));
}

TEST(DenoisingTemperature, RunsFromTMaxAtTheFirstStepToTMinPlusOneStepAtTheLast) {
  DiffusionGenerationConfig config;  // t_min 0.4, t_max 0.8, 48 steps
  // Step 1 has 48 steps remaining: 0.4f + 0.4f * (48/48) = 2 * 0.4f, which is exactly 0.8f.
  EXPECT_EQ(DenoisingTemperature(config, 1), 0.8f);
  // Step 48 has one step remaining: 0.4 + 0.4 / 48. Computed in f32 (three roundings of at most 2^-24 relative
  // each), so within 4 * 2^-24 relative of the exact value.
  const double last = 0.4 + 0.4 / 48.0;
  EXPECT_NEAR(DenoisingTemperature(config, 48), last, last * 4 * 0x1.0p-24);
  EXPECT_GT(DenoisingTemperature(config, 48), 0.4f);  // t_min itself is never reached
  // Linear in between: step 25 has 24 remaining, half way.
  EXPECT_NEAR(DenoisingTemperature(config, 25), 0.6, 0.6 * 4 * 0x1.0p-24);
}

TEST(CounterDraws, AFunctionOfSeedAndPlaceNotOfCallOrder) {
  CounterDraws first(42);
  CounterDraws second(42);
  // Drawn in opposite orders, the same places give the same values.
  std::vector<int32_t> forward, backward(16);
  for (int p = 0; p < 16; ++p) forward.push_back(first.NoiseToken(1, 3, p, 1000));
  for (int p = 15; p >= 0; --p) backward[p] = second.NoiseToken(1, 3, p, 1000);
  EXPECT_EQ(forward, backward);
  EXPECT_EQ(first.SampleUniform(0, 1, 5), second.SampleUniform(0, 1, 5));
  // Another seed, canvas, step or kind of draw gives other values.
  CounterDraws other(43);
  int differing = 0;
  for (int p = 0; p < 16; ++p) differing += other.NoiseToken(1, 3, p, 1000) != forward[p];
  EXPECT_GE(differing, 14);  // 16 draws out of 1000 ids: two collisions is already unlikely (~0.1%, fixed seed)
  EXPECT_NE(first.NoiseToken(0, 3, 0, 1000), first.NoiseToken(1, 3, 0, 1000));
  EXPECT_NE(first.NoiseToken(1, 2, 0, 1000), first.NoiseToken(1, 3, 0, 1000));
}

TEST(CounterDraws, DrawsCoverTheirRangeUniformly) {
  CounterDraws draws(7);
  // 4000 ids over a vocabulary of 4: each count is Binomial(4000, 1/4), sd = sqrt(4000 * 3/16) = 27.4; a uniform
  // generator lands within 6 sd (+-164) of 1000 with probability 1 - 2e-9, and the seed is fixed.
  std::vector<int> counts(4, 0);
  double sum = 0.0;
  for (int p = 0; p < 4000; ++p) {
    const int32_t id = draws.NoiseToken(0, 0, p, 4);
    ASSERT_GE(id, 0);
    ASSERT_LT(id, 4);
    ++counts[id];
    const double u = draws.SampleUniform(0, 1, p);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  for (const int count : counts) EXPECT_NEAR(count, 1000, 164);
  // The mean of 4000 uniforms has sd sqrt(1/12 / 4000) = 0.0046; 6 sd = 0.027.
  EXPECT_NEAR(sum / 4000, 0.5, 0.027);
}

}  // namespace
}  // namespace fp4lab
