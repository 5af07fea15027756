// Config-only parameter and byte counts (engine/memory_model.h) against figures produced elsewhere:
// transformers' parameter counts of the real configs (datasets/SOURCES.md, configs/), the tensor bytes of the
// independently written llama_tiny checkpoints, and hand arithmetic.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/arch/architecture.h"
#include "engine/file_util.h"
#include "engine/memory_model.h"
#include "engine/safetensors.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::SourcePath;

// SOURCES.md prints parameter counts in billions with three decimals, so each true value lies within half a unit
// of the last printed digit of the printed one.
constexpr double kPrintedBillionsHalfUnit = 0.0005e9;

int64_t TensorBytes(const std::string& checkpoint) {
  auto reader = SafetensorsReader::Open(checkpoint);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return -1;
  int64_t bytes = 0;
  for (const TensorView& t : (*reader)->tensors()) bytes += static_cast<int64_t>(t.bytes.size());
  return bytes;
}

ModelInventory Inventory(const std::string& config) {
  auto inv = InventoryFromConfigFile(config);
  EXPECT_TRUE(inv.ok()) << inv.status().ToString();
  return inv.ok() ? *inv : ModelInventory{};
}

std::map<std::string, int64_t> ParametersByPart(const ModelInventory& inv) {
  std::map<std::string, int64_t> out;
  for (const WeightBlock& b : inv.blocks) out[b.part] += b.Parameters();
  return out;
}

TEST(MemoryModelTest, Llama31EightBHasTheParameterCountTransformersReports) {
  const std::string path = SourcePath("datasets/configs/llama-3.1-8b.json");
  const ModelInventory inv = Inventory(path);
  EXPECT_NEAR(static_cast<double>(inv.Parameters()), 8.030e9, kPrintedBillionsHalfUnit);
  // The inventory lists exactly what the engine's own count (and loader) covers.
  auto json = ReadJsonFile(path);
  ASSERT_TRUE(json.ok());
  auto blueprint = ParseModelBlueprint(*json, path);
  ASSERT_TRUE(blueprint.ok()) << blueprint.status().ToString();
  EXPECT_EQ(inv.Parameters(), (*blueprint)->ParameterCount());
}

TEST(MemoryModelTest, DiffusionGemmaPartsMatchTransformersCounts) {
  const ModelInventory inv = Inventory(SourcePath("datasets/configs/diffusiongemma-26b-a4b.json"));
  const std::map<std::string, int64_t> parts = ParametersByPart(inv);
  const std::map<std::string, double> expected = {
      {"embedding", 0.738e9}, {"attention", 1.110e9}, {"mlp", 0.535e9},          {"experts", 22.838e9},
      {"router", 0.011e9},    {"self_conditioning", 0.018e9}, {"vision", 0.170e9}};
  for (const auto& [part, billions] : expected) {
    ASSERT_TRUE(parts.count(part)) << part;
    EXPECT_NEAR(static_cast<double>(parts.at(part)), billions, kPrintedBillionsHalfUnit) << part;
  }
  EXPECT_NEAR(static_cast<double>(inv.Parameters()), 25.421e9, kPrintedBillionsHalfUnit);
}

TEST(MemoryModelTest, DiffusionGemmaNvfp4FootprintIsWellAboveTheFourBitClaim) {
  const ModelInventory inv = Inventory(SourcePath("datasets/configs/diffusiongemma-26b-a4b.json"));
  const MemoryPrediction p = PredictWeightMemory(inv, LinearScheme::kNvfp4);
  // Independent estimate from the SOURCES.md part counts: the Linear parts (attention, dense MLP, experts,
  // self-conditioning: 24.501B) at 4.5 bits (4-bit codes + one E4M3 scale per 16), everything else (25.421B total
  // minus those) in bf16. Uncertainty: the 5 printed counts involved are each +-0.0005B, so
  // |d bytes| <= 2 * 0.0005e9 (total) + (2 - 9/16) * 4 * 0.0005e9 = 3.875 MB; the inventory also keeps the
  // attention q/k norms (17,920 parameters) bf16, +0.03 MB, and stores 8 B of fp32 globals per quantized Linear
  // (about 11,800 Linears, +0.1 MB). Tolerance: 4.1 MB.
  const double linear_params = (1.110 + 0.535 + 22.838 + 0.018) * 1e9;
  const double expected = linear_params * 9.0 / 16.0 + (25.421e9 - linear_params) * 2.0;
  EXPECT_NEAR(static_cast<double>(p.bytes), expected, 4.1e6);
  EXPECT_EQ(p.bytes, p.code_bytes + p.scale_bytes + p.bf16_bytes);
  // "26B parameters at 4 bits is about 13 GB": the real figure is more than 2.5 GB above it.
  EXPECT_GT(static_cast<double>(p.bytes), static_cast<double>(p.parameters) / 2.0 + 2.5e9);
  // What stays bf16: router and vision Linears; no Linear of this model has K % 16 != 0.
  bool router = false, vision = false;
  for (const KeptBf16& k : p.kept_bf16) {
    router |= k.name.find("router.proj") != std::string::npos;
    vision |= k.name.find("vision_tower") != std::string::npos;
    EXPECT_EQ(k.reason.find("multiple of 16"), std::string::npos) << k.name;
  }
  EXPECT_TRUE(router);
  EXPECT_TRUE(vision);
}

TEST(MemoryModelTest, LlamaTinyPredictionEqualsTheFixtureCheckpointBytes) {
  const ModelInventory inv = Inventory(FixturePath("llama_tiny/config.json"));
  EXPECT_EQ(PredictWeightMemory(inv, LinearScheme::kBf16).bytes, TensorBytes(FixturePath("llama_tiny")));
  // Both NVFP4 fixtures were written by an independent quantizer (every Linear but lm_head quantized).
  const int64_t nvfp4 = PredictWeightMemory(inv, LinearScheme::kNvfp4).bytes;
  EXPECT_EQ(nvfp4, TensorBytes(FixturePath("llama_tiny_nvfp4/model.safetensors")));
  EXPECT_EQ(nvfp4, TensorBytes(FixturePath("llama_tiny_nvfp4_ct/model.safetensors")));
}

TEST(MemoryModelTest, LlamaTinySchemesByHand) {
  const ModelInventory inv = Inventory(FixturePath("llama_tiny/config.json"));
  // llama_tiny: D=128, 4 heads x 32, 2 kv heads, F=352, 2 layers, vocab 256, untied lm_head.
  const int64_t linear = 2 * (128 * 128 + 2 * 64 * 128 + 128 * 128 + 3 * 352 * 128);  // 14 quantizable Linears
  const int64_t other = 256 * 128 /*embedding*/ + 256 * 128 /*lm_head*/ + 2 * 2 * 128 + 128 /*norms*/;
  ASSERT_EQ(inv.Parameters(), linear + other);
  const MemoryPrediction fp8 = PredictWeightMemory(inv, LinearScheme::kFp8);
  EXPECT_EQ(fp8.bytes, linear + 14 * 8 + 2 * other);
  const MemoryPrediction w4a16 = PredictWeightMemory(inv, LinearScheme::kNvfp4W4A16);
  EXPECT_EQ(w4a16.bytes, linear / 2 + linear / 16 + 14 * 4 + 2 * other);
  EXPECT_EQ(w4a16.quantized_parameters, linear);
  ASSERT_EQ(w4a16.kept_bf16.size(), 1u);
  EXPECT_EQ(w4a16.kept_bf16[0].name, "lm_head");
  EXPECT_NEAR(w4a16.BitsPerParameter(), 8.0 * w4a16.bytes / inv.Parameters(), 1e-12);
}

TEST(MemoryModelTest, Nvfp4KeepsLayersWithKNotMultipleOf16InBf16) {
  // stories260K: D=64, F=172, 5 layers: down_proj has K=172.
  const ModelInventory inv = Inventory(SourcePath("datasets/models/stories260K/config.json"));
  const MemoryPrediction p = PredictWeightMemory(inv, LinearScheme::kNvfp4);
  ASSERT_EQ(p.kept_bf16.size(), 1u);  // tied embeddings: no lm_head
  EXPECT_NE(p.kept_bf16[0].name.find("down_proj"), std::string::npos);
  EXPECT_NE(p.kept_bf16[0].reason.find("K=172"), std::string::npos) << p.kept_bf16[0].reason;
  EXPECT_EQ(p.kept_bf16[0].parameters, 5 * 64 * 172);
  // FP8 has no block constraint: the same layer is quantized there.
  EXPECT_TRUE(PredictWeightMemory(inv, LinearScheme::kFp8).kept_bf16.empty());
}

TEST(MemoryModelTest, MissingFieldIsNamedWithTheFile) {
  nlohmann::json config = {{"model_type", "diffusion_gemma"}, {"text_config", {{"hidden_size", 64}}}};
  auto inv = DiffusionGemmaInventory(config, "cfg.json");
  ASSERT_FALSE(inv.ok());
  EXPECT_EQ(inv.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(inv.status().message().find("cfg.json"), std::string::npos) << inv.status().message();
  EXPECT_NE(inv.status().message().find("text_config.num_hidden_layers"), std::string::npos)
      << inv.status().message();
}

TEST(MemoryModelTest, UnknownModelTypeIsRejected) {
  const std::string dir = testing::TempDir("memory_model_unknown");
  const std::string path = dir + "/config.json";
  ASSERT_TRUE(WriteFileAtomically(path, [](std::ostream& out) {
                out << R"({"model_type": "mamba"})";
                return Status::Ok();
              }).ok());
  auto inv = InventoryFromConfigFile(path);
  ASSERT_FALSE(inv.ok());
  EXPECT_EQ(inv.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(inv.status().message().find("mamba"), std::string::npos) << inv.status().message();
  EXPECT_NE(inv.status().message().find("diffusion_gemma"), std::string::npos) << inv.status().message();
}

}  // namespace
}  // namespace fp4lab
