// NVFP4 checkpoints (ModelOpt and compressed-tensors forms of the same quantized llama_tiny) on the CPU reference
// against logits computed independently from the dequantized weights (tests/fixtures/llama_tiny_nvfp4*/
// reference.safetensors): logits_w4a16_f32 (f32 activations) and logits_w4a4_f32 (plus per-16 NVFP4
// fake-quantization of every quantized Linear's input).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::ReadReference;

struct Case {
  const char* fixture;
  const char* precision;
  const char* reference;
};

class Nvfp4Reference : public ::testing::TestWithParam<Case> {};

// Both sides use the same dequantized weights and f32 arithmetic; they differ in summation order and in where the
// global scale is applied (once per output here, per weight in the reference: one extra f32 rounding, 2^-24
// relative). As for the bf16 checkpoint, that bounds the difference by ~1e-4 of the logit magnitude.
constexpr double kRelativeTolerance = 1e-4;
// W4A4 only: the activation quantizer is a step function. When an activation lands exactly on (or within f32 noise
// of) an E2M1 rounding boundary, two correct quantizers with different fp32 operation orders can pick different
// codes (NVFP4.md section 3: "can flip rare ties"). Such a flip moves that position's logits by O(0.1) and nothing
// else. Observed: 1 of 80 positions (sequence 1, position 31) for both checkpoint forms. The bound below allows
// at most one such position per fixture; a systematic quantizer error would break every position.
constexpr int kMaxTieFlipPositions = 1;

TEST_P(Nvfp4Reference, LogitsMatch) {
  const Case& c = GetParam();
  EngineOptions options;
  options.model_dir = FixturePath(c.fixture);
  options.precision = c.precision;
  options.kv_cache = "bf16";  // these references keep the K/V in f32 (gemma4moe_tiny_nvfp4 declares an FP8 cache)
  auto engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const std::string ref = FixturePath(std::string(c.fixture) + "/reference.safetensors");
  const auto ids = ReadReference<int32_t>(ref, "input_ids");
  const auto expected = ReadReference<float>(ref, c.reference);
  ASSERT_EQ(ids.size(), 80u);
  constexpr int kLen = 40, kVocab = 256;
  int mismatched_positions = 0;
  for (int seq = 0; seq < 2; ++seq) {
    std::vector<int32_t> tokens(ids.begin() + seq * kLen, ids.begin() + (seq + 1) * kLen);
    auto logits = (*engine)->Logits(tokens);
    ASSERT_TRUE(logits.ok()) << logits.status().ToString();
    for (int pos = 0; pos < kLen; ++pos) {
      double diff = 0, scale = 0;
      for (int v = 0; v < kVocab; ++v) {
        const double want = expected[(seq * kLen + pos) * kVocab + v];
        diff = std::max(diff, std::fabs((*logits)[pos * kVocab + v] - want));
        scale = std::max(scale, std::fabs(want));
      }
      if (diff > kRelativeTolerance * scale) {
        ++mismatched_positions;
        std::printf("%s %s: sequence %d position %d differs by %g (logit scale %g)\n", c.fixture, c.precision, seq,
                    pos, diff, scale);
      }
    }
  }
  const bool w4a4 = std::string(c.precision) == "nvfp4";
  EXPECT_LE(mismatched_positions, w4a4 ? kMaxTieFlipPositions : 0);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, Nvfp4Reference,
    ::testing::Values(Case{"llama_tiny_nvfp4", "nvfp4-w4a16", "logits_w4a16_f32"},
                      Case{"llama_tiny_nvfp4", "nvfp4", "logits_w4a4_f32"},
                      Case{"llama_tiny_nvfp4_ct", "nvfp4-w4a16", "logits_w4a16_f32"},
                      Case{"llama_tiny_nvfp4_ct", "nvfp4", "logits_w4a4_f32"},
                      Case{"gemma4moe_tiny_nvfp4", "nvfp4-w4a16", "logits_w4a16_f32"},
                      Case{"gemma4moe_tiny_nvfp4", "nvfp4", "logits_w4a4_f32"}),
    [](const auto& info) {
      std::string name = std::string(info.param.fixture) + "_" + info.param.precision;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(Nvfp4Reference, BfloatRunOfQuantizedCheckpointAsksForTheBase) {
  EngineOptions options;
  options.model_dir = FixturePath("llama_tiny_nvfp4");
  options.precision = "bf16";
  auto engine = Engine::Open(options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(engine.status().message().find("--reference"), std::string::npos) << engine.status().message();
}

}  // namespace
}  // namespace fp4lab
