// Built-in model presets: the published Llama shapes (checked against the config files in datasets/configs and the
// published parameter counts) and the small CPU preset.
#include "engine/presets.h"

#include <cmath>

#include <gtest/gtest.h>

#include "engine/arch/architecture.h"
#include "engine/arch/decoder_config.h"
#include "engine/file_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::SourcePath;

// A preset or config file as the engine reads it: the shared decoder fields and the family's parameter count.
struct Parsed : DecoderConfig {
  int64_t parameters = 0;
};

Parsed Parse(const nlohmann::json& json, const std::string& where) {
  Parsed parsed;
  auto blueprint = ParseModelBlueprint(json, where);
  EXPECT_TRUE(blueprint.ok()) << blueprint.status().ToString();
  auto config = ParseDecoderConfig(ConfigReader(json, where), json.value("model_type", ""), "silu");
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  if (!blueprint.ok() || !config.ok()) return parsed;
  static_cast<DecoderConfig&>(parsed) = *config;
  parsed.parameters = (*blueprint)->ParameterCount();
  return parsed;
}

Parsed PresetConfig(const std::string& name) {
  auto preset = FindPreset(name);
  EXPECT_TRUE(preset.ok()) << preset.status().ToString();
  return Parse((*preset)->config, name);
}

Parsed FileConfig(const std::string& relative) {
  auto json = ReadJsonFile(SourcePath(relative));
  EXPECT_TRUE(json.ok()) << json.status().ToString();
  return Parse(*json, relative);
}

// Everything that shapes the computation (token ids aside).
void ExpectSameArchitecture(const Parsed& a, const Parsed& b) {
  EXPECT_EQ(a.model.model_type, b.model.model_type);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.model.vocab_size, b.model.vocab_size);
  EXPECT_EQ(a.model.max_position_embeddings, b.model.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(RopeInverseFrequencies(a.rope, a.head_dim), RopeInverseFrequencies(b.rope, b.head_dim));
  EXPECT_EQ(a.parameters, b.parameters);
}

TEST(PresetsTest, ListsTheLlamaPresetsAndTiny) {
  std::vector<std::string> names;
  for (const ModelPreset& p : ModelPresets()) {
    names.push_back(p.name);
    EXPECT_FALSE(p.description.empty());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"llama-3.1-8b", "llama-3.2-1b", "qwen3-8b", "gemma-3-27b",
                                             "qwen3-30b-a3b", "gemma-4-26b-a4b", "diffusiongemma-26b-a4b",
                                             "tiny"}));
}

TEST(PresetsTest, UnknownNameListsTheValidOnes) {
  auto preset = FindPreset("llama-3.1-70b");
  ASSERT_FALSE(preset.ok());
  EXPECT_EQ(preset.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(preset.status().message(),
            "unknown preset 'llama-3.1-70b' (valid: llama-3.1-8b, llama-3.2-1b, qwen3-8b, gemma-3-27b, qwen3-30b-a3b, "
            "gemma-4-26b-a4b, diffusiongemma-26b-a4b, tiny)");
}

// datasets/configs/llama-3.1-8b.json was written by transformers from the published values (rope_parameters form);
// the preset uses the published config.json's rope_theta/rope_scaling form. Both must describe the same model.
// 8,030,261,248 parameters is the published count of Llama 3.1 8B (datasets/SOURCES.md: 8.030B).
TEST(PresetsTest, Llama31_8BMatchesThePublishedConfig) {
  const Parsed preset = PresetConfig("llama-3.1-8b");
  ExpectSameArchitecture(preset, FileConfig("datasets/configs/llama-3.1-8b.json"));
  EXPECT_EQ(preset.rope.type, "llama3");
  EXPECT_EQ(preset.rope.factor, 8.0f);
  EXPECT_EQ(preset.rope.theta, 500000.0f);
  EXPECT_EQ(preset.parameters, 8030261248);
}

// Llama 3.2 1B: 16 layers, hidden 2048, 32/8 heads of 64, FFN 8192, vocab 128256, tied, llama3 RoPE factor 32.
// 1,235,814,400 parameters (published as 1.24B): 16 * (2048*2048*2 + 2*2048*512 + 3*2048*8192 + 2*2048)
// + 128256*2048 + 2048, summed by hand.
TEST(PresetsTest, Llama32_1BMatchesThePublishedConfig) {
  const Parsed preset = PresetConfig("llama-3.2-1b");
  ExpectSameArchitecture(preset, FileConfig("datasets/configs/llama-3.2-1b.json"));
  EXPECT_EQ(preset.num_layers, 16);
  EXPECT_EQ(preset.hidden_size, 2048);
  EXPECT_EQ(preset.head_dim, 64);
  EXPECT_TRUE(preset.tie_word_embeddings);
  EXPECT_EQ(preset.rope.factor, 32.0f);
  EXPECT_EQ(preset.model.bos_token_id, 128000);
  EXPECT_EQ(preset.parameters, 1235814400);
}

// Qwen3 8B: published as 8.2B parameters, 6.95B without embeddings. By hand: per layer q/o 2 * 4096 * 4096, k/v
// 2 * 1024 * 4096, MLP 3 * 4096 * 12288, norms 2 * 4096 + QK-norms 2 * 128 = 192,946,432; 36 layers
// 6,946,071,552 (the 6.95B) + untied embedding and lm_head 2 * 151936 * 4096 + final norm 4096 = 8,190,735,360.
TEST(PresetsTest, Qwen3_8BHasThePublishedParameterCount) {
  const Parsed preset = PresetConfig("qwen3-8b");
  EXPECT_EQ(preset.model.model_type, "qwen3");
  EXPECT_EQ(preset.parameters, 8190735360);
  EXPECT_EQ(preset.parameters - 2 * int64_t{151936} * 4096 - 4096, 6946071552);
}

// Gemma 3 27B's text model: per layer q/o 2 * 4096 * 5376, k/v 2 * 2048 * 5376, MLP 3 * 5376 * 21504, four norms
// 4 * 5376 + QK-norms 2 * 128 = 412,898,560; 62 layers 25,599,710,720 + tied embedding 262208 * 5376 + final norm
// 5376 = 27,009,346,304 (the published 27.4B adds the vision tower, not part of the text model).
TEST(PresetsTest, Gemma3_27BHasTheTextModelsParameterCount) {
  const Parsed preset = PresetConfig("gemma-3-27b");
  EXPECT_EQ(preset.model.model_type, "gemma3_text");
  EXPECT_EQ(preset.parameters, 27009346304);
  int sliding = 0;
  for (const std::string& type : preset.layer_types) sliding += type == "sliding_attention";
  EXPECT_EQ(sliding, 52);  // 62 layers, every sixth global
}

// Qwen3-30B-A3B: per layer q/o 2 * 4096 * 2048, k/v 2 * 512 * 2048, router 128 * 2048, 128 experts of 3 * 768 * 2048,
// norms 2 * 2048 + QK-norms 2 * 128 = 623,120,640; 48 layers 29,909,790,720 + embedding and lm_head 2 * 151936 * 2048
// + final norm 2048 = 30,532,122,624 (Qwen: "30.5B"). Active per token, with 8 of the 128 experts: 3,353,032,704
// ("3.3B activated").
TEST(PresetsTest, Qwen3_30B_A3BHasThePublishedTotalAndActiveParameterCounts) {
  const Parsed preset = PresetConfig("qwen3-30b-a3b");
  EXPECT_EQ(preset.model.model_type, "qwen3_moe");
  EXPECT_EQ(preset.parameters, 30532122624);
  auto blueprint = ParseModelBlueprint(FindPreset("qwen3-30b-a3b").value()->config, "qwen3-30b-a3b");
  ASSERT_TRUE(blueprint.ok());
  int64_t active = 0, experts_entries = 0;
  for (const ManifestTensor& t : (*blueprint)->manifest().tensors) {
    active += t.experts > 0 ? t.Elements() * 8 : t.Parameters();
    experts_entries += t.experts > 0;
  }
  EXPECT_EQ(active, 3353032704);
  EXPECT_EQ(experts_entries, 48 * 3);  // gate, up, down per layer, each standing for 128 experts
}

// Gemma 4 26B-A4B's text model. By hand: a sliding layer's attention q/o 2 * 4096 * 2816, k/v 2 * 2048 * 2816,
// q/k norms 2 * 256 = 34,603,520; a global layer's q/o 2 * 8192 * 2816, k 1024 * 2816 (no v_proj: K = V), q/k norms
// 2 * 512 = 49,021,952; every layer the dense MLP 3 * 2112 * 2816, seven norms 7 * 2816, layer_scalar 1, router
// 128 * 2816 + its scale 2816 + per_expert_scale 128, experts 128 * 3 * 704 * 2816 = 779,491,457; with 25 sliding and
// 5 global layers and the tied embedding 262144 * 2816 + final norm 2816: 25,233,141,790. Active per token: all but
// 120 of the 128 experts, 25,233,141,790 - 22,837,985,280 * 120 / 128 = 3,822,530,590. Published: 25.4B total, which
// counts the vision tower (0.170B by transformers on the meta device, datasets/SOURCES.md configs/), and 3.8B active.
TEST(PresetsTest, Gemma4_26B_A4BHasThePublishedParameterCounts) {
  auto preset = FindPreset("gemma-4-26b-a4b");
  ASSERT_TRUE(preset.ok());
  auto blueprint = ParseModelBlueprint((*preset)->config, "gemma-4-26b-a4b");
  ASSERT_TRUE(blueprint.ok()) << blueprint.status().ToString();
  const TensorManifest& manifest = (*blueprint)->manifest();
  int64_t experts = 0;
  for (const ManifestTensor& t : manifest.tensors) experts += t.part == "experts" ? t.Parameters() : 0;
  const int64_t total = (*blueprint)->ParameterCount();
  EXPECT_EQ(total, 25233141790);
  EXPECT_EQ(experts, int64_t{30} * 128 * 3 * 704 * 2816);
  const int64_t active = total - experts / 128 * 120;
  EXPECT_EQ(active, 3822530590);
  constexpr double kVisionTower = 0.170e9;
  EXPECT_EQ(std::round((total + kVisionTower) / 1e8), 254);  // 25.4B
  EXPECT_EQ(std::round(active / 1e8), 38);                    // 3.8B
  // Global layers (every sixth) have no v_proj and a KV cache of 2 heads of 512; sliding ones 8 of 256.
  EXPECT_EQ(manifest.Find("model.layers.5.self_attn.v_proj"), nullptr);
  EXPECT_NE(manifest.Find("model.layers.4.self_attn.v_proj"), nullptr);
  const std::vector<int64_t> widths = (*blueprint)->KvWidths();
  ASSERT_EQ(widths.size(), 30u);
  for (int l = 0; l < 30; ++l) EXPECT_EQ(widths[l], l % 6 == 5 ? 1024 : 2048) << "layer " << l;
}

TEST(PresetsTest, TinyQuantizesEveryLinearAndFitsTheCpu) {
  const Parsed tiny = PresetConfig("tiny");
  EXPECT_EQ(tiny.hidden_size % 16, 0);
  EXPECT_EQ(tiny.intermediate_size % 16, 0);
  EXPECT_EQ((tiny.num_heads * tiny.head_dim) % 16, 0);
  EXPECT_LT(tiny.parameters, 2'000'000);
}

// DiffusionGemma 26B-A4B: the Gemma 4 26B-A4B text model above (25,233,141,790) plus the encoder's own layer_scalar
// per layer (30; transformers ties every other encoder weight to the decoder's) and the self-conditioning block:
// pre_norm 2816 + gate/up/down 3 * 2112 * 2816 = 17,844,992; total 25,250,986,812. transformers on the meta device
// counts 25.421B with the vision tower's 0.170B (datasets/SOURCES.md configs/), which fp4lab skips: 25.251B. The
// preset parses to the same count as datasets/configs/diffusiongemma-26b-a4b.json, and declares the FP8 KV cache.
TEST(PresetsTest, DiffusionGemma_26B_A4BHasTheTextParameterCount) {
  auto preset = FindPreset("diffusiongemma-26b-a4b");
  ASSERT_TRUE(preset.ok());
  auto blueprint = ParseModelBlueprint((*preset)->config, "diffusiongemma-26b-a4b");
  ASSERT_TRUE(blueprint.ok()) << blueprint.status().ToString();
  EXPECT_EQ((*blueprint)->ParameterCount(), 25250986812);
  EXPECT_EQ(std::round(((*blueprint)->ParameterCount() + 0.170e9) / 1e9 * 1000), 25421);
  EXPECT_TRUE((*blueprint)->config().block_diffusion);
  auto file = ReadJsonFile(SourcePath("datasets/configs/diffusiongemma-26b-a4b.json"));
  ASSERT_TRUE(file.ok());
  auto from_file = ParseModelBlueprint(*file, "diffusiongemma-26b-a4b.json");
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  EXPECT_EQ((*from_file)->ParameterCount(), (*blueprint)->ParameterCount());
  EXPECT_EQ((*from_file)->KvWidths(), (*blueprint)->KvWidths());
  EXPECT_EQ((*preset)->config["quantization_config"]["kv_cache_quant_algo"], "FP8");
}

}  // namespace
}  // namespace fp4lab
