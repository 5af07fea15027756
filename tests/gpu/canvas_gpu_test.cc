// The block-diffusion step ops of the CUDA backend (engine/cuda/canvas_kernels.h) against the CPU reference
// (Backend's host defaults: ProcessCanvasRow and SelfConditioningSoftmaxRow), and the diffusion_gemma model's own
// DenoiseStep on CUDA against the host step built on Denoise.
//
// Bounds (u = 2^-53; derived in engine/cuda/canvas_kernels.h): scaled logits and argmax bit for bit; the entropy
// within 2 (V + 4) u (1 + R + ln V), R = max - min of the row's finite scaled logits (|ln Z| <= ln V because
// 1 <= Z <= V); the drawn id equal, or both sides within 2 (V + 4) u Z of the CDF boundary between the two ids.
// Self-conditioning probabilities: both sides round the same double quotient, computed within 2 (V + 3) u
// relatively, to f32, so they are equal or f32 neighbours: |a - b| <= 2^-23 max(|a|, |b|), or 2^-149 below the
// normal range.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "engine/diffusion/block_denoiser.h"
#include "engine/diffusion/diffusion_draws.h"
#include "gpu_test_util.h"
#include "host_step_denoiser.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using gpu_testing::Bits;
using gpu_testing::Get;
using gpu_testing::Normal;
using gpu_testing::Put;
using testing::HostStepDenoiser;

constexpr double kUnit = 0x1p-53;

class CanvasGpuTest : public gpu_testing::CpuAndGpuTest {};

double EntropyBound(std::span<const float> scaled) {
  float low = std::numeric_limits<float>::infinity(), high = -low;
  for (const float x : scaled) {
    if (!std::isfinite(x)) continue;
    low = std::min(low, x);
    high = std::max(high, x);
  }
  const double v = static_cast<double>(scaled.size());
  const double range = high >= low ? static_cast<double>(high) - low : 0.0;
  return 2 * (v + 4) * kUnit * (1 + range + std::log(v));
}

// Whether ids `a` and `b` can both be the draw of `uniform` on `scaled` (the CPU's processed row): the CPU's
// cumulative weight through the lower id lies within 2 (V + 4) u Z of uniform * Z.
bool WithinRoundingOfABoundary(std::span<const float> scaled, double uniform, int32_t a, int32_t b) {
  const double top = *std::max_element(scaled.begin(), scaled.end());
  double z = 0.0, through = 0.0;
  for (size_t i = 0; i < scaled.size(); ++i) {
    z += std::exp(static_cast<double>(scaled[i]) - top);
    if (static_cast<int32_t>(i) == std::min(a, b)) through = z;
  }
  return std::fabs(through - uniform * z) <= 2 * (static_cast<double>(scaled.size()) + 4) * kUnit * z;
}

// Compares one row's outcomes within the bounds above; `what` names the row.
void ExpectOutcomesAgree(const CanvasRowOutcome& cpu, const CanvasRowOutcome& gpu, std::span<const float> scaled,
                         double uniform, const std::string& what) {
  EXPECT_EQ(cpu.argmax, gpu.argmax) << what;
  if (std::isnan(cpu.entropy)) {
    EXPECT_TRUE(std::isnan(gpu.entropy)) << what;
    EXPECT_EQ(gpu.sampled, gpu.argmax) << what;
    return;
  }
  EXPECT_LE(std::fabs(cpu.entropy - gpu.entropy), EntropyBound(scaled))
      << what << ": " << cpu.entropy << " vs " << gpu.entropy;
  if (cpu.sampled != gpu.sampled) {
    EXPECT_TRUE(WithinRoundingOfABoundary(scaled, uniform, cpu.sampled, gpu.sampled))
        << what << ": drew " << cpu.sampled << " on the CPU and " << gpu.sampled << " on the GPU";
  }
}

// Rows that take every branch: random, one id far above the rest (every other weight underflows to 0), a tie for
// the maximum among -inf entries, all -inf, a NaN, and the uniforms 0 and 1 - 2^-53 (the CDF's two ends).
TEST_F(CanvasGpuTest, ProcessCanvasRowsMatchesTheReferenceWithinDerivedBounds) {
  constexpr float kTemperature = 0.7f;  // not a power of two: the division rounds
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (const int64_t vocab : {int64_t{5}, int64_t{3001}, int64_t{262144}}) {
    constexpr int64_t kRows = 8;
    std::vector<float> logits = Normal(static_cast<size_t>(kRows * vocab), 31, 3.0f);
    auto at = [&](int64_t row, int64_t id) -> float& { return logits[static_cast<size_t>(row * vocab + id % vocab)]; };
    at(1, vocab / 2) = 1000.0f;
    for (int64_t i = 0; i < vocab; i += 3) at(2, i) = -kInf;
    at(2, 1) = at(2, vocab - 1) = 20.0f;
    for (int64_t i = 0; i < vocab; ++i) at(3, i) = -kInf;
    at(4, vocab / 3) = std::numeric_limits<float>::quiet_NaN();
    std::vector<double> uniforms = {0.3, 0.5, 0.9, 0.1, 0.2, 0.0, 1.0 - kUnit, 0.77};
    std::vector<CanvasRowOutcome> outcomes[2] = {std::vector<CanvasRowOutcome>(kRows),
                                                 std::vector<CanvasRowOutcome>(kRows)};
    std::vector<float> scaled[2];
    Backend* backends[2] = {cpu_.get(), gpu_.get()};
    for (int b = 0; b < 2; ++b) {
      auto x = Put(*backends[b], kRows, vocab, logits);
      const Status s = backends[b]->ProcessCanvasRows(*x, kTemperature, uniforms, outcomes[b]);
      ASSERT_TRUE(s.ok()) << backends[b]->Name() << ": " << s.ToString();
      scaled[b] = Get(*backends[b], *x);
    }
    for (size_t i = 0; i < scaled[0].size(); ++i) {  // a NaN stays NaN (its payload is the device's own)
      if (std::isnan(scaled[0][i]) && std::isnan(scaled[1][i])) continue;
      ASSERT_EQ(Bits(scaled[0][i]), Bits(scaled[1][i])) << "vocab " << vocab << " element " << i;
    }
    for (int64_t r = 0; r < kRows; ++r) {
      const auto row = std::span<const float>(scaled[0]).subspan(static_cast<size_t>(r * vocab), vocab);
      ExpectOutcomesAgree(outcomes[0][r], outcomes[1][r], row, uniforms[r],
                          "vocab " + std::to_string(vocab) + " row " + std::to_string(r));
    }
    EXPECT_EQ(outcomes[1][1].sampled, vocab / 2);  // the only id of nonzero weight
    EXPECT_EQ(outcomes[1][1].entropy, 0.0);
    EXPECT_EQ(outcomes[1][2].argmax, 1);  // the first of the two maxima
    EXPECT_TRUE(std::isnan(outcomes[1][3].entropy));
    EXPECT_EQ(outcomes[1][3].argmax, 0);
    EXPECT_TRUE(std::isnan(outcomes[1][4].entropy));
  }
}

TEST_F(CanvasGpuTest, SelfConditioningSoftmaxIsTheReferenceOrItsF32Neighbour) {
  for (const int64_t vocab : {int64_t{5}, int64_t{3001}, int64_t{262144}}) {
    constexpr int64_t kRows = 4;
    const std::vector<float> logits = Normal(static_cast<size_t>(kRows * vocab), 32, 4.0f);
    for (const bool round_to_bf16 : {false, true}) {
      for (const bool in_place : {false, true}) {
        std::vector<float> probs[2];
        Backend* backends[2] = {cpu_.get(), gpu_.get()};
        for (int b = 0; b < 2; ++b) {
          auto x = Put(*backends[b], kRows, vocab, logits);
          auto p = Put(*backends[b], kRows, vocab, std::vector<float>(logits.size(), NAN));
          DeviceTensor& out = in_place ? *x : *p;
          const Status s = backends[b]->SelfConditioningSoftmax(*x, round_to_bf16, out);
          ASSERT_TRUE(s.ok()) << backends[b]->Name() << ": " << s.ToString();
          probs[b] = Get(*backends[b], out);
        }
        for (size_t i = 0; i < logits.size(); ++i) {
          const double a = probs[0][i], b = probs[1][i];
          const double bound = std::max(0x1p-23 * std::max(std::fabs(a), std::fabs(b)), 0x1p-149);
          ASSERT_LE(std::fabs(a - b), bound) << "vocab " << vocab << " bf16 " << round_to_bf16 << " in place "
                                             << in_place << " element " << i << ": " << a << " vs " << b;
        }
      }
    }
  }
}

// The model's first step on CUDA (the canvas kernel on device logits) against the host step over the same device
// logits (Denoise runs the same decoder pass): the same outcomes within the bounds above.
TEST_F(CanvasGpuTest, DiffusionGemmaStepOnCudaAgreesWithTheHostStep) {
  auto engine = testing::OpenEngine(testing::FixturePath("diffusiongemma_tiny"), "bf16", "cuda");
  ASSERT_NE(engine, nullptr);
  BlockDenoiser& model = *engine->AsBlockDenoiser();
  HostStepDenoiser host(model);
  const size_t length = static_cast<size_t>(model.canvas_length());
  const size_t vocab = static_cast<size_t>(model.vocab_size());
  CounterDraws draws(5);
  std::vector<int32_t> canvas(length);
  std::vector<double> uniforms(length);
  for (size_t p = 0; p < length; ++p) {
    canvas[p] = draws.NoiseToken(0, 0, static_cast<int>(p), model.vocab_size());
    uniforms[p] = draws.SampleUniform(0, 1, static_cast<int>(p));
  }
  std::vector<CanvasRowOutcome> outcomes[2] = {std::vector<CanvasRowOutcome>(length),
                                               std::vector<CanvasRowOutcome>(length)};
  BlockDenoiser* steppers[2] = {&host, &model};
  for (int s = 0; s < 2; ++s) {
    model.Reset();
    ASSERT_TRUE(model.Commit(std::vector<int32_t>{2, 10, 11, 12}).ok());
    const Status status = steppers[s]->DenoiseStep(canvas, {.temperature = 0.8f, .uniforms = uniforms}, outcomes[s]);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
  // The host side's scaled logits, to bound against: the decoder's logits once more, scaled as ProcessCanvasRow does.
  std::vector<float> logits(length * vocab);
  ASSERT_TRUE(model.Denoise(canvas, {}, logits).ok());
  for (size_t p = 0; p < length; ++p) {
    std::span<float> row = std::span<float>(logits).subspan(p * vocab, vocab);
    for (float& x : row) x = x / 0.8f;
    ExpectOutcomesAgree(outcomes[0][p], outcomes[1][p], row, uniforms[p], "position " + std::to_string(p));
  }
}

}  // namespace
}  // namespace fp4lab
