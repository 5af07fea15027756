// `fp4lab inspect` by role: the precision map and stored bytes per part of the model (from the tensor manifest, so
// every family reads alike) and the KV cache's format and bytes per token, checked against the config's shapes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::RunFp4lab;

nlohmann::json Inspect(const std::string& args) {
  const auto r = RunFp4lab("inspect --json " + args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.exit_code == 0 ? nlohmann::json::parse(r.output) : nlohmann::json();
}

const nlohmann::json& Role(const nlohmann::json& inspect, const std::string& role) {
  for (const auto& r : inspect["roles"]) {
    if (r["role"] == role) return r;
  }
  static const nlohmann::json kMissing;
  ADD_FAILURE() << "no role " << role;
  return kMissing;
}

// llama_tiny_nvfp4 (hidden 128, 2 layers, 4 heads / 2 KV heads of 32, FFN 352, vocab 256; lm_head excluded): its
// attention and MLP Linears are stored NVFP4, each [N, K] as N*K/2 code bytes + N*K/16 E4M3 scales + a 4-byte
// weight_scale_2 at the weight-only precision; embedding and lm_head stay bf16 (2 bytes per parameter). KV cache per
// token: 2 layers x (K + V) x 2 heads x 32 = 256 elements, 2 bytes each in bf16 and 1 in fp8.
TEST(InspectRoles, BytesPerRoleAndKvCachePerToken) {
  const nlohmann::json bf16_kv = Inspect("--model " + FixturePath("llama_tiny_nvfp4"));
  const int64_t attention_params = 2 * (128 * 128 + 64 * 128 + 64 * 128 + 128 * 128);
  const int64_t mlp_params = 2 * 3 * 352 * 128;
  const nlohmann::json& attention = Role(bf16_kv, "attention");
  EXPECT_EQ(attention["parameters"], attention_params);
  EXPECT_EQ(attention["bytes"], attention_params / 2 + attention_params / 16 + 8 * 4);
  EXPECT_EQ(attention["linears_by_scheme"]["nvfp4-w4a16"], 8);
  const nlohmann::json& mlp = Role(bf16_kv, "mlp");
  EXPECT_EQ(mlp["bytes"], mlp_params / 2 + mlp_params / 16 + 6 * 4);
  EXPECT_EQ(Role(bf16_kv, "lm_head")["bytes"], 2 * 256 * 128);
  EXPECT_EQ(Role(bf16_kv, "lm_head")["linears_by_scheme"]["bf16"], 1);
  EXPECT_EQ(Role(bf16_kv, "embedding")["bytes"], 2 * 256 * 128);
  int64_t total = 0, parameters = 0;
  for (const auto& r : bf16_kv["roles"]) {
    total += r["bytes"].get<int64_t>();
    parameters += r["parameters"].get<int64_t>();
  }
  EXPECT_EQ(bf16_kv["stored_weight_bytes"], total);
  EXPECT_EQ(bf16_kv["parameters"], parameters);
  EXPECT_EQ(bf16_kv["kv_cache"]["format"], "bf16");  // the checkpoint declares kv_cache_quant_algo null
  EXPECT_EQ(bf16_kv["kv_cache"]["bytes_per_token"], 2 * 256);

  const nlohmann::json fp8_kv = Inspect("--model " + FixturePath("llama_tiny_nvfp4") + " --kv-cache fp8");
  EXPECT_EQ(fp8_kv["kv_cache"]["format"], "fp8");
  EXPECT_EQ(fp8_kv["kv_cache"]["bytes_per_token"], 256);
  EXPECT_EQ(fp8_kv["stored_weight_bytes"], total);  // the cache format changes no weight
}

// qwen3moe_tiny_nvfp4 (2 layers x 8 experts x gate/up/down, each [64, 128] or [128, 64]: 8192 parameters; ModelOpt
// NVFP4 experts, everything else bf16): the experts role counts each expert's Linear at the weight-only precision,
// 8192/2 codes + 8192/16 scales + a 4-byte weight_scale_2 each. (Looking up the manifest's "experts.*" pattern in
// the layer map found nothing and reported every expert as bf16.)
TEST(InspectRoles, ExpertsAreCountedPerExpertAtTheirStoredPrecision) {
  const nlohmann::json inspect = Inspect("--model " + FixturePath("qwen3moe_tiny_nvfp4"));
  const nlohmann::json& experts = Role(inspect, "experts");
  const int64_t linears = 2 * 8 * 3, per_linear = 8192;
  EXPECT_EQ(experts["parameters"], linears * per_linear);
  EXPECT_EQ(experts["linears_by_scheme"], nlohmann::json({{"nvfp4-w4a16", linears}}));
  EXPECT_EQ(experts["bytes"], linears * (per_linear / 2 + per_linear / 16 + 4));
}

// --config: the KV cache a config implies, Qwen3-8B's 36 layers x (K + V) x 8 KV heads x 128 = 73728 elements per
// token, 2 bytes each at bf16 (auto: the preset declares no KV quantization) and 1 at fp8.
TEST(InspectRoles, ConfigPredictionIncludesTheKvCachePerToken) {
  EXPECT_EQ(Inspect("--config qwen3-8b")["kv_cache"]["bytes_per_token"], 2 * 73728);
  EXPECT_EQ(Inspect("--config qwen3-8b --kv-cache fp8")["kv_cache"]["bytes_per_token"], 73728);
}

// --config PRESET: the parameter count a user reads, equal to the published totals derived by hand in
// tests/engine/presets_test.cc: Qwen3-8B's 8,190,735,360 (published 8.2B) and Gemma 3 27B's text model's
// 27,009,346,304 (its technical report's 25.6B non-embedding + 1.4B embedding parameters; the published 27.4B adds
// the 0.4B vision encoder, which the gemma3_text preset does not have). The text output states the same number.
TEST(InspectRoles, ConfigPresetsGiveThePublishedParameterCounts) {
  EXPECT_EQ(Inspect("--config qwen3-8b")["parameters"], 8190735360);
  EXPECT_EQ(Inspect("--config gemma-3-27b")["parameters"], 27009346304);
  const auto text = RunFp4lab("inspect --config gemma-3-27b");
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("27009346304 parameters"), std::string::npos) << text.output;
}

}  // namespace
}  // namespace fp4lab
