// Built-in model presets: the published Llama shapes (checked against the config files in datasets/configs and the
// published parameter counts) and the small CPU preset.
#include "engine/presets.h"

#include <gtest/gtest.h>

#include "engine/arch/architecture.h"
#include "engine/file_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::SourcePath;

ModelConfig Parse(const nlohmann::json& json, const std::string& where) {
  auto arch = FindArchitecture(json.at("model_type").get<std::string>(), where);
  EXPECT_TRUE(arch.ok()) << arch.status().ToString();
  auto config = (*arch)->parse_config(json, where);
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return config.ok() ? *config : ModelConfig{};
}

ModelConfig PresetConfig(const std::string& name) {
  auto preset = FindPreset(name);
  EXPECT_TRUE(preset.ok()) << preset.status().ToString();
  return Parse((*preset)->config, name);
}

ModelConfig FileConfig(const std::string& relative) {
  auto json = ReadJsonFile(SourcePath(relative));
  EXPECT_TRUE(json.ok()) << json.status().ToString();
  return Parse(*json, relative);
}

// Everything that shapes the computation (token ids aside).
void ExpectSameArchitecture(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(RopeInverseFrequencies(a.rope, a.head_dim), RopeInverseFrequencies(b.rope, b.head_dim));
}

TEST(PresetsTest, ListsTheLlamaPresetsAndTiny) {
  std::vector<std::string> names;
  for (const ModelPreset& p : ModelPresets()) {
    names.push_back(p.name);
    EXPECT_FALSE(p.description.empty());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"llama-3.1-8b", "llama-3.2-1b", "tiny"}));
}

TEST(PresetsTest, UnknownNameListsTheValidOnes) {
  auto preset = FindPreset("llama-3.1-70b");
  ASSERT_FALSE(preset.ok());
  EXPECT_EQ(preset.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(preset.status().message(), "unknown preset 'llama-3.1-70b' (valid: llama-3.1-8b, llama-3.2-1b, tiny)");
}

// datasets/configs/llama-3.1-8b.json was written by transformers from the published values (rope_parameters form);
// the preset uses the published config.json's rope_theta/rope_scaling form. Both must describe the same model.
// 8,030,261,248 parameters is the published count of Llama 3.1 8B (datasets/SOURCES.md: 8.030B).
TEST(PresetsTest, Llama31_8BMatchesThePublishedConfig) {
  const ModelConfig preset = PresetConfig("llama-3.1-8b");
  ExpectSameArchitecture(preset, FileConfig("datasets/configs/llama-3.1-8b.json"));
  EXPECT_EQ(preset.rope.type, "llama3");
  EXPECT_EQ(preset.rope.factor, 8.0f);
  EXPECT_EQ(preset.rope.theta, 500000.0f);
  EXPECT_EQ(preset.ParameterCount(), 8030261248);
}

// Llama 3.2 1B: 16 layers, hidden 2048, 32/8 heads of 64, FFN 8192, vocab 128256, tied, llama3 RoPE factor 32.
// 1,235,814,400 parameters (published as 1.24B): 16 * (2048*2048*2 + 2*2048*512 + 3*2048*8192 + 2*2048)
// + 128256*2048 + 2048, summed by hand.
TEST(PresetsTest, Llama32_1BMatchesThePublishedConfig) {
  const ModelConfig preset = PresetConfig("llama-3.2-1b");
  ExpectSameArchitecture(preset, FileConfig("datasets/configs/llama-3.2-1b.json"));
  EXPECT_EQ(preset.num_layers, 16);
  EXPECT_EQ(preset.hidden_size, 2048);
  EXPECT_EQ(preset.head_dim, 64);
  EXPECT_TRUE(preset.tie_word_embeddings);
  EXPECT_EQ(preset.rope.factor, 32.0f);
  EXPECT_EQ(preset.bos_token_id, 128000);
  EXPECT_EQ(preset.ParameterCount(), 1235814400);
}

TEST(PresetsTest, TinyQuantizesEveryLinearAndFitsTheCpu) {
  const ModelConfig tiny = PresetConfig("tiny");
  EXPECT_EQ(tiny.hidden_size % 16, 0);
  EXPECT_EQ(tiny.intermediate_size % 16, 0);
  EXPECT_EQ((tiny.num_heads * tiny.head_dim) % 16, 0);
  EXPECT_LT(tiny.ParameterCount(), 2'000'000);
}

}  // namespace
}  // namespace fp4lab
