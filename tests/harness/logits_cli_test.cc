// `fp4lab logits` and `fp4lab generate --prompt-ids`: the commands a user checks fp4lab against another
// implementation with, on checkpoints without a tokenizer (the parity fixtures), against transformers' references.
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "engine/safetensors.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::ReadReference;
using testing::RunFp4lab;

// "1,2,3" from ids.
std::string IdList(const std::vector<int32_t>& ids, size_t begin, size_t end) {
  std::string text;
  for (size_t i = begin; i < end; ++i) {
    if (i > begin) text += ',';
    text += std::to_string(ids[i]);
  }
  return text;
}

// max |logits - expected| within the engine's parity bound, 1e-4 of the reference's logit scale
// (tests/engine/family_reference_test.cc).
void ExpectWithinParityBound(const std::vector<float>& logits, const std::vector<float>& expected) {
  ASSERT_EQ(logits.size(), expected.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    diff = std::max(diff, std::fabs(double{logits[i]} - expected[i]));
    scale = std::max(scale, std::fabs(double{expected[i]}));
  }
  EXPECT_LE(diff, 1e-4 * scale);
}

struct LogitsCase {
  const char* fixture;
  const char* precision;
  const char* reference;  // key in the fixture's reference.safetensors
};

class LogitsCliReference : public ::testing::TestWithParam<LogitsCase> {};

// The written logits of both reference sequences equal transformers' f32 logits (with the fixture's dequantized
// weights for an NVFP4 checkpoint) within the engine's parity bound (1e-4 of the logit scale,
// tests/engine/family_reference_test.cc and nvfp4_reference_test.cc), and the file holds the ids it was given.
TEST_P(LogitsCliReference, WritesTheLogitsOfEverySequence) {
  const LogitsCase& c = GetParam();
  const std::string ref = FixturePath(std::string(c.fixture) + "/reference.safetensors");
  const auto ids = ReadReference<int32_t>(ref, "input_ids");  // [2, 40]
  const auto expected = ReadReference<float>(ref, c.reference);
  std::string dir_name = "logits_cli_";
  dir_name += c.fixture;
  const std::string out = testing::TempDir(dir_name) + "/logits.safetensors";
  auto r = RunFp4lab("logits --model " + FixturePath(c.fixture) + " --precision " + c.precision +
                     " --kv-cache bf16 --ids \"" +
                     IdList(ids, 0, 40) + ";" + IdList(ids, 40, 80) + "\" --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto logits = ReadReference<float>(out, "logits");
  EXPECT_EQ(ReadReference<int32_t>(out, "input_ids"), ids);
  ExpectWithinParityBound(logits, expected);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LogitsCliReference,
                         ::testing::Values(LogitsCase{"gemma3_tiny", "bf16", "logits_f32"},
                                           LogitsCase{"gemma4moe_tiny", "bf16", "logits_f32"},
                                           LogitsCase{"gemma4moe_tiny_nvfp4", "nvfp4-w4a16", "logits_w4a16_f32"}),
                         [](const auto& info) {
                           std::string name = info.param.fixture;
                           name.append(1, '_').append(info.param.precision);
                           for (char& ch : name) ch = ch == '-' ? '_' : ch;
                           return name;
                         });

// A ModelOpt NVFP4 Qwen3-MoE export (per-expert NVFP4 experts, bf16 attention and router) at --precision nvfp4 (W4A4
// emulated) against transformers' logits with the dequantized weights and the same activation quantizer: within the
// same 1e-4 bound (tests/engine/qwen3_moe_test.cc derives it).
TEST(LogitsCli, MixtureOfExpertsNvfp4CheckpointAtW4A4) {
  const std::string ref = FixturePath("qwen3moe_tiny_nvfp4/reference.safetensors");
  const auto ids = ReadReference<int32_t>(ref, "input_ids");  // [2, 40]
  const auto expected = ReadReference<float>(ref, "logits_w4a4_f32");
  const std::string out = testing::TempDir("logits_cli_moe") + "/logits.safetensors";
  auto r = RunFp4lab("logits --model " + FixturePath("qwen3moe_tiny_nvfp4") + " --precision nvfp4 --ids \"" +
                     IdList(ids, 0, 40) + ";" + IdList(ids, 40, 80) + "\" --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto logits = ReadReference<float>(out, "logits");
  ExpectWithinParityBound(logits, expected);
}

TEST(LogitsCli, BadIdsAndUnequalLengthsExitTwoWithoutAFile) {
  const std::string out = testing::TempDir("logits_cli_bad") + "/logits.safetensors";
  for (const std::string ids : {"1,x,3", "1,2;3", "", "1,,2"}) {
    auto r = RunFp4lab("logits --model " + FixturePath("qwen3_tiny") + " --ids \"" + ids + "\" --out " + out);
    EXPECT_EQ(r.exit_code, 2) << ids << ": " << r.output;
    EXPECT_NE(r.output.find("--ids"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out)) << ids;
  }
  auto r = RunFp4lab("logits --model " + FixturePath("qwen3_tiny") + " --ids 1,2,999 --out " + out);
  EXPECT_EQ(r.exit_code, 2) << r.output;  // 999 is outside the vocabulary of 256
  EXPECT_NE(r.output.find("999"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(GenerateCli, PromptIdsGiveTheReferenceGreedyTokens) {
  const std::string ref = FixturePath("qwen3_tiny/reference.safetensors");
  const auto prompt = ReadReference<int32_t>(ref, "greedy_prompt");
  const auto expected = ReadReference<int32_t>(ref, "greedy_tokens");
  auto r = RunFp4lab("generate --model " + FixturePath("qwen3_tiny") + " --prompt-ids " +
                     IdList(prompt, 0, prompt.size()) + " --max-tokens " + std::to_string(expected.size()) +
                     " --temperature 0 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto json = nlohmann::json::parse(r.output);
  EXPECT_EQ(json["ids"].get<std::vector<int32_t>>(), expected);
  EXPECT_EQ(json["prompt_ids"].get<std::vector<int32_t>>(), prompt);
  EXPECT_FALSE(json.contains("text"));  // the fixture has no tokenizer
}

}  // namespace
}  // namespace fp4lab

namespace fp4lab {
namespace {

// A block-diffusion model: --canvas-ids runs the decoder on the canvas after committing --ids, and
// --self-conditioning-steps 1 gives transformers' self-conditioned step-2 logits (within the engine's bound,
// tests/engine/diffusion_gemma_test.cc derives it).
TEST(LogitsCli, DiffusionCanvasAfterOneSelfConditioningStep) {
  const std::string ref = FixturePath("diffusiongemma_tiny/reference.safetensors");
  const auto prompt = ReadReference<int32_t>(ref, "prompt_ids");
  const auto canvas = ReadReference<int32_t>(ref, "canvas_ids");
  const auto expected = ReadReference<float>(ref, "logits_step2_selfcond_f32");
  const std::string out = testing::TempDir("logits_cli_diffusion") + "/logits.safetensors";
  auto r = RunFp4lab("logits --model " + FixturePath("diffusiongemma_tiny") + " --ids " +
                     IdList(prompt, 0, prompt.size()) + " --canvas-ids " + IdList(canvas, 0, canvas.size()) +
                     " --self-conditioning-steps 1 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(ReadReference<int32_t>(out, "input_ids"), prompt);
  EXPECT_EQ(ReadReference<int32_t>(out, "canvas_ids"), canvas);
  const auto logits = ReadReference<float>(out, "logits");
  ExpectWithinParityBound(logits, expected);
}

// Each misuse exits 2 naming the flag and why, writing nothing.
TEST(LogitsCli, CanvasFlagsRefusedWithWhy) {
  const std::string out = testing::TempDir("logits_cli_canvas_refused") + "/logits.safetensors";
  const std::string canvas16 = " --canvas-ids 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16";
  struct Misuse {
    std::string args, expected;
  };
  const std::vector<Misuse> misuses = {
      {"--model " + FixturePath("gemma4moe_tiny") + " --ids 2,3" + canvas16, "not a block-diffusion model"},
      {"--model " + FixturePath("diffusiongemma_tiny") + " --ids 2,3 --canvas-ids 1,2,3", "canvas_length = 16"},
      {"--model " + FixturePath("diffusiongemma_tiny") + " --ids 2,3" + canvas16 + " --self-conditioning-steps -1",
       "--self-conditioning-steps"},
      {"--model " + FixturePath("diffusiongemma_tiny") + " --ids 2,3 --self-conditioning-steps 1",
       "needs --canvas-ids"},
      {"--model " + FixturePath("diffusiongemma_tiny") + " --ids 2,3", "no causal next-token distribution"},
  };
  for (const Misuse& m : misuses) {
    auto r = RunFp4lab("logits " + m.args + " --out " + out);
    EXPECT_EQ(r.exit_code, 2) << m.args << "\n" << r.output;
    EXPECT_NE(r.output.find(m.expected), std::string::npos) << m.args << "\n" << r.output;
    EXPECT_FALSE(std::filesystem::exists(out)) << m.args;
  }
}

}  // namespace
}  // namespace fp4lab
