// The config forms the gemma4 family reads (engine/arch/gemma4.cc) on the gemma4moe_tiny checkpoint: the global
// layers' shape as transformers >= 5.15 writes it (per_layer_config, checked against transformers' logits in
// family_reference_test.cc) and as earlier versions did (global_head_dim, num_global_key_value_heads) give the same
// model; a full gemma4 config nests the text model in text_config and names its tensors model.language_model.*;
// what the family cannot run is refused with the field named.
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/file_util.h"
#include "engine/safetensors.h"
#include "engine_test_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::ReadReference;

std::vector<int32_t> FirstSequence() {
  const auto ids = ReadReference<int32_t>(FixturePath("gemma4moe_tiny/reference.safetensors"), "input_ids");
  return {ids.begin(), ids.begin() + 40};
}

nlohmann::json FixtureConfig() {
  auto config = ReadJsonFile(FixturePath("gemma4moe_tiny/config.json"));
  EXPECT_TRUE(config.ok());
  return config.ok() ? *config : nlohmann::json();
}

// A checkpoint directory with `config` and the fixture's tensors, names starting with old_prefix renamed to start
// with new_prefix (none when old_prefix is empty).
std::string Checkpoint(const std::string& name, const nlohmann::json& config,
                       const std::string& old_prefix = "", const std::string& new_prefix = "") {
  const std::string dir = testing::TempDir("gemma4_config_" + name);
  EXPECT_TRUE(WriteFileAtomically(dir + "/config.json", [&](std::ostream& out) {
                out << config.dump();
                return Status::Ok();
              }).ok());
  if (old_prefix.empty()) {
    std::filesystem::copy_file(FixturePath("gemma4moe_tiny/model.safetensors"), dir + "/model.safetensors",
                               std::filesystem::copy_options::overwrite_existing);
    return dir;
  }
  auto reader = SafetensorsReader::Open(FixturePath("gemma4moe_tiny"));
  EXPECT_TRUE(reader.ok());
  std::vector<TensorToWrite> tensors;
  for (const TensorView& t : (*reader)->tensors()) {
    std::string renamed = t.name;
    if (renamed.starts_with(old_prefix)) renamed = new_prefix + renamed.substr(old_prefix.size());
    tensors.push_back({renamed, t.dtype, t.shape, {t.bytes.begin(), t.bytes.end()}});
  }
  EXPECT_TRUE(WriteSafetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}}).ok());
  return dir;
}

std::vector<float> LogitsOf(const std::string& dir) {
  auto engine = testing::OpenEngine(dir);
  if (engine == nullptr) return {};
  auto logits = engine->Logits(FirstSequence());
  EXPECT_TRUE(logits.ok()) << logits.status().ToString();
  return logits.ok() ? *logits : std::vector<float>();
}

TEST(Gemma4Config, FlatGlobalFieldsEqualPerLayerConfig) {
  const std::vector<float> expected = LogitsOf(FixturePath("gemma4moe_tiny"));
  ASSERT_FALSE(expected.empty());
  nlohmann::json flat = FixtureConfig();
  flat.erase("per_layer_config");
  flat["global_head_dim"] = 64;
  flat["num_global_key_value_heads"] = 1;
  EXPECT_EQ(LogitsOf(Checkpoint("flat", flat)), expected);
  // Without either form the global layer would have the sliding shape, which the checkpoint refutes.
  nlohmann::json neither = FixtureConfig();
  neither.erase("per_layer_config");
  EngineOptions options;
  options.model_dir = Checkpoint("neither", neither);
  auto engine = Engine::Open(options);
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("model.layers.2.self_attn.q_proj"), std::string::npos)
      << engine.status().ToString();
}

TEST(Gemma4Config, FullConfigNestsTheTextModel) {
  const std::vector<float> expected = LogitsOf(FixturePath("gemma4moe_tiny"));
  ASSERT_FALSE(expected.empty());
  nlohmann::json full = {{"model_type", "gemma4"}, {"text_config", FixtureConfig()}};
  EXPECT_EQ(LogitsOf(Checkpoint("nested", full, "model.", "model.language_model.")), expected);
}

TEST(Gemma4Config, UnsupportedFeaturesAreRefusedNamingTheField) {
  const std::vector<std::pair<std::string, nlohmann::json>> cases = {
      {"hidden_size_per_layer_input", 256},
      {"num_kv_shared_layers", 1},
      {"use_bidirectional_attention", "all"},
      {"hidden_activation", "silu"},
      {"tie_word_embeddings", false},
      {"per_layer_config", {{"3", {{"head_dim", 64}}}}},
      {"per_layer_config", {{"x", {{"head_dim", 64}}}}},
  };
  for (const auto& [field, value] : cases) {
    nlohmann::json config = FixtureConfig();
    config[field] = value;
    EngineOptions options;
    options.model_dir = Checkpoint("bad_" + field, config);
    auto engine = Engine::Open(options);
    ASSERT_FALSE(engine.ok()) << field;
    EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument) << field;
    EXPECT_NE(engine.status().message().find(field), std::string::npos) << engine.status().ToString();
    EXPECT_NE(engine.status().message().find("config.json"), std::string::npos) << engine.status().ToString();
  }
}

// Synthetic weights follow the manifest (experts, router scales, layer_scalar): the fixture's config runs with
// generated weights at every precision, to finite logits.
TEST(Gemma4Config, SyntheticWeightsRunAtEveryPrecision) {
  for (const char* precision : {"bf16", "nvfp4-w4a16", "nvfp4"}) {
    EngineOptions options;
    options.precision = precision;
    auto engine = Engine::OpenSynthetic({FixtureConfig(), 0, "config gemma4moe_tiny"}, options);
    ASSERT_TRUE(engine.ok()) << precision << ": " << engine.status().ToString();
    auto logits = (*engine)->Logits(FirstSequence());
    ASSERT_TRUE(logits.ok()) << precision << ": " << logits.status().ToString();
    EXPECT_EQ(logits->size(), 40u * 256);
    for (const float v : *logits) ASSERT_TRUE(std::isfinite(v)) << precision;
  }
}

}  // namespace
}  // namespace fp4lab
