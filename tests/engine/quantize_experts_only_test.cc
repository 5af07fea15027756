// `quantize --recipe experts-only` (NVIDIA's DiffusionGemma recipe) on gemma4moe_tiny against the independently
// produced gemma4moe_tiny_nvfp4 (datasets/SOURCES.md: its fused 3-D experts written per expert in ModelOpt's NVFP4
// layout, everything else bf16; input_scale = activation amax over the reference input_ids / 2688, one per layer
// for gate/up and one for down). Every expert's weight, weight_scale and weight_scale_2 and every other tensor must
// equal the fixture's byte for byte, the exclusion list and the declared FP8 KV cache must be the fixture's, and
// input_scale (from our own f32 forward pass) must agree to the engine's f32 parity tolerance.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <iostream>

#include "engine/file_util.h"
#include "engine/quantize_checkpoint.h"
#include "engine/safetensors.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::ReadReference;
using testing::TempDir;

// Calibration runs fp4lab's f32 CPU forward pass, the fixture's producer PyTorch's: the same activations up to f32
// summation order, so each amax (hence input_scale) agrees to the parity tolerance of the logits with transformers
// (1e-4 of the magnitude, tests/engine/family_reference_test.cc). An expert input is a max over every routed token,
// so a routing decision that flips between the two would change which rows count; none does on these inputs (the
// logits match at every position).
constexpr double kCalibrationRelativeTolerance = 1e-4;

QuantizeOptions ExpertsOnlyOptions(const std::string& out) {
  QuantizeOptions o;
  o.model_dir = FixturePath("gemma4moe_tiny");
  o.out_dir = out;
  o.scheme = LinearScheme::kNvfp4;
  o.recipe = QuantizeRecipe::kExpertsOnly;
  const auto ids = ReadReference<int32_t>(FixturePath("gemma4moe_tiny_nvfp4/reference.safetensors"), "input_ids");
  EXPECT_EQ(ids.size(), 80u);  // [2, 40]
  o.calibration_sequences = {{ids.begin(), ids.begin() + 40}, {ids.begin() + 40, ids.end()}};
  return o;
}

TEST(QuantizeExpertsOnly, ReproducesTheGemma4NvfpFixture) {
  const std::string out = TempDir("quantize_experts_only") + "/out";
  auto report = QuantizeCheckpoint(ExpertsOnlyOptions(out));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  auto ours = SafetensorsReader::Open(out);
  auto fixture = SafetensorsReader::Open(FixturePath("gemma4moe_tiny_nvfp4"));
  ASSERT_TRUE(ours.ok() && fixture.ok());
  ASSERT_EQ((*ours)->tensors().size(), (*fixture)->tensors().size());
  int expert_tensors = 0, input_scales = 0, exact_input_scales = 0;
  double largest_relative = 0;
  for (const TensorView& want : (*fixture)->tensors()) {
    const TensorView* got = (*ours)->Find(want.name);
    ASSERT_NE(got, nullptr) << want.name;
    EXPECT_EQ(got->dtype, want.dtype) << want.name;
    EXPECT_EQ(got->shape, want.shape) << want.name;
    expert_tensors += want.name.find(".experts.") != std::string::npos;
    if (!want.name.ends_with(".input_scale")) {
      EXPECT_TRUE(std::equal(got->bytes.begin(), got->bytes.end(), want.bytes.begin(), want.bytes.end()))
          << want.name;
      continue;
    }
    float ours_scale = 0, fixture_scale = 0;
    std::memcpy(&ours_scale, got->bytes.data(), 4);
    std::memcpy(&fixture_scale, want.bytes.data(), 4);
    EXPECT_NEAR(ours_scale, fixture_scale, kCalibrationRelativeTolerance * fixture_scale) << want.name;
    ++input_scales;
    largest_relative = std::max(largest_relative, std::fabs(double{ours_scale} - fixture_scale) / fixture_scale);
    exact_input_scales += std::bit_cast<uint32_t>(ours_scale) == std::bit_cast<uint32_t>(fixture_scale);
  }
  // 3 layers x 8 experts x {gate, up, down} x {weight, weight_scale, weight_scale_2, input_scale}.
  EXPECT_EQ(expert_tensors, 3 * 8 * 3 * 4);
  EXPECT_EQ(input_scales, 3 * 8 * 3);
  std::cout << "[experts-only] input_scale: " << exact_input_scales << " of " << input_scales
            << " bit-identical to the fixture, largest relative difference " << largest_relative << "\n";

  auto ours_hf = ReadJsonFile(out + "/hf_quant_config.json");
  auto fixture_hf = ReadJsonFile(FixturePath("gemma4moe_tiny_nvfp4/hf_quant_config.json"));
  ASSERT_TRUE(ours_hf.ok() && fixture_hf.ok());
  const nlohmann::json& q = (*ours_hf)["quantization"];
  EXPECT_EQ(q["exclude_modules"], (*fixture_hf)["quantization"]["exclude_modules"]);
  EXPECT_EQ(q["quant_algo"], "NVFP4");
  EXPECT_EQ(q["kv_cache_quant_algo"], "FP8");
  EXPECT_EQ(q["group_size"], 16);
  auto config = ReadJsonFile(out + "/config.json");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ((*config)["quantization_config"]["ignore"], (*fixture_hf)["quantization"]["exclude_modules"]);
  EXPECT_EQ((*config)["quantization_config"]["kv_cache_quant_algo"], "FP8");
  EXPECT_EQ(report->excluded, (*fixture_hf)["quantization"]["exclude_modules"].get<std::vector<std::string>>());
}

// The default recipe on the same checkpoint quantizes attention and the dense MLP too (routers stay bf16), and
// writes the experts per expert as well.
TEST(QuantizeExpertsOnly, AllLinearsRecipeQuantizesMoreThanTheExperts) {
  const std::string out = TempDir("quantize_all_linears_moe") + "/out";
  QuantizeOptions o = ExpertsOnlyOptions(out);
  o.recipe = QuantizeRecipe::kAllLinears;
  o.scheme = LinearScheme::kNvfp4W4A16;
  o.calibration_sequences.clear();
  auto report = QuantizeCheckpoint(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->excluded, (std::vector<std::string>{"model.layers.0.router.proj", "model.layers.1.router.proj",
                                                        "model.layers.2.router.proj"}));
  auto ours = SafetensorsReader::Open(out);
  ASSERT_TRUE(ours.ok());
  EXPECT_NE((*ours)->Find("model.layers.0.self_attn.q_proj.weight_scale"), nullptr);
  EXPECT_NE((*ours)->Find("model.layers.2.experts.7.down_proj.weight_scale_2"), nullptr);
  EXPECT_EQ((*ours)->Find("model.layers.2.experts.down_proj"), nullptr);
}

TEST(QuantizeExpertsOnly, CheckpointWithoutExpertsIsRefused) {
  QuantizeOptions o;
  o.model_dir = FixturePath("gemma3_tiny");
  o.out_dir = TempDir("quantize_experts_only_dense") + "/out";
  o.scheme = LinearScheme::kNvfp4W4A16;
  o.recipe = QuantizeRecipe::kExpertsOnly;
  auto report = QuantizeCheckpoint(o);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(report.status().message().find("experts-only"), std::string::npos) << report.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(o.out_dir));
}

TEST(QuantizeExpertsOnly, RecipeNames) {
  EXPECT_EQ(*ParseQuantizeRecipe("experts-only"), QuantizeRecipe::kExpertsOnly);
  EXPECT_EQ(*ParseQuantizeRecipe("all-linears"), QuantizeRecipe::kAllLinears);
  auto bad = ParseQuantizeRecipe("experts");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("all-linears, experts-only"), std::string::npos);
}

}  // namespace
}  // namespace fp4lab
