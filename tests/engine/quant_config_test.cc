// Quantization-config parsing and per-layer resolution (engine/quant_config.h), against the checked-in fixture
// configs and hand-written configs for the cases the fixtures do not cover.
#include "engine/quant_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace fp4lab {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

json ReadFixture(const std::string& relative) {
  const std::string path = std::string(FP4LAB_SOURCE_DIR) + "/tests/fixtures/" + relative;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return json::parse(buffer.str());
}

QuantConfig ParseOk(const json& config, const json* hf = nullptr) {
  auto parsed = ParseQuantConfig(config, "config.json", hf, "hf_quant_config.json");
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  return parsed.ok() ? *parsed : QuantConfig{};
}

LinearScheme SchemeOf(const QuantConfig& config, const std::string& prefix) {
  auto r = config.Resolve(prefix);
  EXPECT_TRUE(r.ok()) << prefix << ": " << r.status().ToString();
  return r.ok() ? r->scheme : LinearScheme::kBf16;
}

json ModelOptConfig(const std::string& algo, json exclude) {
  return {{"quantization_config", {{"quant_method", "modelopt"}, {"quant_algo", algo}, {"ignore", exclude}}}};
}

json CtConfig(json groups, json ignore) {
  return {{"quantization_config",
           {{"quant_method", "compressed-tensors"},
            {"format", "nvfp4-pack-quantized"},
            {"ignore", ignore},
            {"config_groups", groups}}}};
}

json Nvfp4Args() { return {{"num_bits", 4}, {"type", "float"}, {"group_size", 16}, {"strategy", "tensor_group"}}; }

// ----------------------------------------------------------------------------------------------------------------
// Fixtures

TEST(QuantConfigTest, ModelOptFixture) {
  const json config = ReadFixture("llama_tiny_nvfp4/config.json");
  const json hf = ReadFixture("llama_tiny_nvfp4/hf_quant_config.json");
  for (const json* hf_ptr : {&hf, static_cast<const json*>(nullptr)}) {  // either file alone suffices
    const QuantConfig q = ParseOk(config, hf_ptr);
    EXPECT_EQ(q.format, QuantConfig::Format::kModelOpt);
    EXPECT_EQ(q.algorithm, "NVFP4");
    EXPECT_EQ(q.kv_cache_quant_algo, "");
    EXPECT_EQ(SchemeOf(q, "model.layers.0.self_attn.q_proj"), LinearScheme::kNvfp4);
    EXPECT_EQ(SchemeOf(q, "model.layers.1.mlp.down_proj"), LinearScheme::kNvfp4);
    auto head = q.Resolve("lm_head");
    ASSERT_TRUE(head.ok());
    EXPECT_EQ(head->scheme, LinearScheme::kBf16);
    EXPECT_THAT(head->reason, HasSubstr("'lm_head'"));
  }
  json config_without = config;
  config_without.erase("quantization_config");
  const QuantConfig from_hf = ParseOk(config_without, &hf);
  EXPECT_EQ(from_hf.format, QuantConfig::Format::kModelOpt);
  EXPECT_EQ(SchemeOf(from_hf, "model.layers.0.mlp.up_proj"), LinearScheme::kNvfp4);
  EXPECT_EQ(SchemeOf(from_hf, "lm_head"), LinearScheme::kBf16);
}

TEST(QuantConfigTest, CompressedTensorsFixture) {
  const QuantConfig q = ParseOk(ReadFixture("llama_tiny_nvfp4_ct/config.json"));
  EXPECT_EQ(q.format, QuantConfig::Format::kCompressedTensors);
  EXPECT_EQ(q.algorithm, "nvfp4-pack-quantized");
  EXPECT_EQ(SchemeOf(q, "model.layers.0.self_attn.o_proj"), LinearScheme::kNvfp4);
  EXPECT_EQ(SchemeOf(q, "lm_head"), LinearScheme::kBf16);
}

TEST(QuantConfigTest, UnquantizedFixture) {
  const QuantConfig q = ParseOk(ReadFixture("llama_tiny/config.json"));
  EXPECT_EQ(q.format, QuantConfig::Format::kNone);
  EXPECT_EQ(SchemeOf(q, "model.layers.0.self_attn.q_proj"), LinearScheme::kBf16);
}

// ----------------------------------------------------------------------------------------------------------------
// ModelOpt exclusion rules

TEST(QuantConfigTest, ExcludeWildcards) {
  const QuantConfig q =
      ParseOk(ModelOptConfig("nvfp4", {"model.layers.1*", "*.mlp.gate_proj", "model.layers.[2-3].self_attn.?_proj"}));
  EXPECT_EQ(q.algorithm, "NVFP4");  // upper-cased
  // "name*" = the subtree rooted at name: the module itself and name.*, but not model.layers.10.
  EXPECT_EQ(SchemeOf(q, "model.layers.1"), LinearScheme::kBf16);
  EXPECT_EQ(SchemeOf(q, "model.layers.1.mlp.down_proj"), LinearScheme::kBf16);
  EXPECT_EQ(SchemeOf(q, "model.layers.10.mlp.down_proj"), LinearScheme::kNvfp4);
  // Plain fnmatch: '*' crosses dots; character classes and '?'.
  EXPECT_EQ(SchemeOf(q, "model.layers.7.mlp.gate_proj"), LinearScheme::kBf16);
  EXPECT_EQ(SchemeOf(q, "model.layers.7.mlp.up_proj"), LinearScheme::kNvfp4);
  EXPECT_EQ(SchemeOf(q, "model.layers.3.self_attn.k_proj"), LinearScheme::kBf16);
  EXPECT_EQ(SchemeOf(q, "model.layers.4.self_attn.k_proj"), LinearScheme::kNvfp4);
  EXPECT_EQ(SchemeOf(q, "model.layers.3.self_attn.o_proj"), LinearScheme::kBf16);  // '?' matches 'o' too
  auto r = q.Resolve("model.layers.1.self_attn.q_proj");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->reason, HasSubstr("'model.layers.1*'"));
}

TEST(QuantConfigTest, FusedNamesResolveThroughTheirShards) {
  const QuantConfig q =
      ParseOk(ModelOptConfig("NVFP4", {"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj",
                                       "model.layers.0.self_attn.v_proj", "model.layers.1.mlp.gate_proj"}));
  EXPECT_EQ(SchemeOf(q, "model.layers.0.self_attn.qkv_proj"), LinearScheme::kBf16);
  EXPECT_EQ(SchemeOf(q, "model.layers.1.self_attn.qkv_proj"), LinearScheme::kNvfp4);
  EXPECT_EQ(SchemeOf(q, "model.layers.0.mlp.gate_up_proj"), LinearScheme::kNvfp4);
  // layer 1: gate excluded but up quantized -> the fused GEMM has no single scheme.
  auto mixed = q.Resolve("model.layers.1.mlp.gate_up_proj");
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(mixed.status().message(), HasSubstr("model.layers.1.mlp.gate_proj"));
  EXPECT_THAT(mixed.status().message(), HasSubstr("model.layers.1.mlp.up_proj"));
}

TEST(QuantConfigTest, MixedPrecision) {
  const json layers = {{"model.layers.0.mlp.down_proj", {{"quant_algo", "NVFP4"}, {"group_size", 16}}},
                       {"model.layers.0.self_attn.q_proj", {{"quant_algo", "FP8"}}},
                       {"model.layers.0.self_attn.k_proj", {{"quant_algo", "W4A16_NVFP4"}, {"group_size", 16}}},
                       {"lm_head", {{"quant_algo", "NVFP4"}, {"group_size", 16}}}};
  json config = ModelOptConfig("MIXED_PRECISION", {"lm_head"});
  config["quantization_config"]["quantized_layers"] = layers;
  const QuantConfig q = ParseOk(config);
  EXPECT_EQ(SchemeOf(q, "model.layers.0.mlp.down_proj"), LinearScheme::kNvfp4);
  EXPECT_EQ(SchemeOf(q, "model.layers.0.self_attn.q_proj"), LinearScheme::kFp8);
  EXPECT_EQ(SchemeOf(q, "model.layers.0.self_attn.k_proj"), LinearScheme::kNvfp4W4A16);
  auto unlisted = q.Resolve("model.layers.0.self_attn.o_proj");
  ASSERT_TRUE(unlisted.ok());
  EXPECT_EQ(unlisted->scheme, LinearScheme::kBf16);
  EXPECT_THAT(unlisted->reason, HasSubstr("not listed"));
  EXPECT_EQ(SchemeOf(q, "lm_head"), LinearScheme::kBf16);  // exclusion wins over quantized_layers

  // Older exports: quantized_layers only in hf_quant_config.json.
  const json hf = {{"quantization", {{"quant_algo", "MIXED_PRECISION"}, {"quantized_layers", layers}}}};
  const QuantConfig q_old = ParseOk(ModelOptConfig("MIXED_PRECISION", json::array()), &hf);
  EXPECT_EQ(SchemeOf(q_old, "model.layers.0.self_attn.q_proj"), LinearScheme::kFp8);
  EXPECT_EQ(SchemeOf(q_old, "lm_head"), LinearScheme::kNvfp4);
}

TEST(QuantConfigTest, ModelOptKvCacheAndWeightOnly) {
  json config = ModelOptConfig("W4A16_NVFP4", json::array());
  config["quantization_config"]["kv_cache_scheme"] = {{"num_bits", 8}, {"type", "float"}, {"dynamic", false}};
  const QuantConfig q = ParseOk(config);
  EXPECT_EQ(q.kv_cache_quant_algo, "FP8");
  EXPECT_EQ(SchemeOf(q, "model.layers.0.mlp.down_proj"), LinearScheme::kNvfp4W4A16);
  const json hf = {{"quantization", {{"quant_algo", "FP8"}, {"kv_cache_quant_algo", "fp8"}}}};
  const QuantConfig fp8 = ParseOk(json::object(), &hf);
  EXPECT_EQ(fp8.kv_cache_quant_algo, "FP8");
  EXPECT_EQ(SchemeOf(fp8, "model.layers.0.mlp.down_proj"), LinearScheme::kFp8);
}

// ----------------------------------------------------------------------------------------------------------------
// compressed-tensors matching

TEST(QuantConfigTest, CompressedTensorsIgnoreUsesExactNamesAndStartAnchoredRegex) {
  const json groups = {
      {"group_0", {{"weights", Nvfp4Args()}, {"input_activations", Nvfp4Args()}, {"targets", {"Linear"}}}}};
  const QuantConfig q =
      ParseOk(CtConfig(groups, {"lm_head", "re:.*mlp\\.down_proj$", "re:model\\.layers\\.1\\.", "re:self_attn"}));
  EXPECT_EQ(SchemeOf(q, "lm_head"), LinearScheme::kBf16);
  EXPECT_EQ(SchemeOf(q, "model.lm_head"), LinearScheme::kNvfp4);  // exact names are exact
  EXPECT_EQ(SchemeOf(q, "model.layers.0.mlp.down_proj"), LinearScheme::kBf16);
  EXPECT_EQ(SchemeOf(q, "model.layers.0.mlp.up_proj"), LinearScheme::kNvfp4);
  // re.match semantics: anchored at the start, not at the end (a full match would reject this) ...
  EXPECT_EQ(SchemeOf(q, "model.layers.1.self_attn.q_proj"), LinearScheme::kBf16);
  // ... and not a search: "self_attn" does not occur at position 0.
  EXPECT_EQ(SchemeOf(q, "model.layers.0.self_attn.q_proj"), LinearScheme::kNvfp4);
  auto r = q.Resolve("model.layers.0.mlp.down_proj");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->reason, HasSubstr("re:.*mlp\\.down_proj$"));
}

TEST(QuantConfigTest, CompressedTensorsGroupsMostSpecificTargetWins) {
  const json groups = {
      {"group_0", {{"weights", Nvfp4Args()}, {"input_activations", Nvfp4Args()}, {"targets", {"Linear"}}}},
      {"group_1", {{"weights", Nvfp4Args()}, {"targets", {"re:.*down_proj"}}}},  // no activations: W4A16
      {"group_2", {{"weights", Nvfp4Args()}, {"targets", {"model.layers.0.mlp.down_proj"}}}},
  };
  json config = CtConfig(groups, json::array());
  config["quantization_config"]["config_groups"]["group_2"]["input_activations"] = Nvfp4Args();
  const QuantConfig q = ParseOk(config);
  EXPECT_EQ(SchemeOf(q, "model.layers.0.mlp.down_proj"), LinearScheme::kNvfp4);       // exact name (group_2)
  EXPECT_EQ(SchemeOf(q, "model.layers.1.mlp.down_proj"), LinearScheme::kNvfp4W4A16);  // regex (group_1)
  EXPECT_EQ(SchemeOf(q, "model.layers.1.mlp.up_proj"), LinearScheme::kNvfp4);         // class (group_0)
}

TEST(QuantConfigTest, CompressedTensorsMixedPrecisionWithFp8Group) {
  const json fp8 = {{"num_bits", 8}, {"type", "float"}, {"strategy", "tensor"}, {"dynamic", false}};
  const json groups = {
      {"group_0", {{"format", "nvfp4-pack-quantized"}, {"weights", Nvfp4Args()}, {"targets", {"re:.*mlp.*"}}}},
      {"group_1",
       {{"format", "float-quantized"},
        {"weights", fp8},
        {"input_activations", fp8},
        {"targets", {"re:.*self_attn.*"}}}},
  };
  json config = CtConfig(groups, {"lm_head"});
  config["quantization_config"]["format"] = "mixed-precision";
  const QuantConfig q = ParseOk(config);
  EXPECT_EQ(SchemeOf(q, "model.layers.0.mlp.gate_proj"), LinearScheme::kNvfp4W4A16);
  EXPECT_EQ(SchemeOf(q, "model.layers.0.self_attn.qkv_proj"), LinearScheme::kFp8);
  EXPECT_EQ(SchemeOf(q, "model.embed_tokens"), LinearScheme::kBf16);  // no group targets it
}

// ----------------------------------------------------------------------------------------------------------------
// Errors

Status ParseError(const json& config, const json* hf = nullptr) {
  auto parsed = ParseQuantConfig(config, "ckpt/config.json", hf, "ckpt/hf_quant_config.json");
  EXPECT_FALSE(parsed.ok());
  if (parsed.ok()) return Status::Ok();
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  return parsed.status();
}

TEST(QuantConfigTest, UnknownQuantAlgoNamesFileFieldAndAcceptedValues) {
  const Status s = ParseError(ModelOptConfig("NVFP4_AWQ", json::array()));
  EXPECT_THAT(s.message(), HasSubstr("ckpt/config.json"));
  EXPECT_THAT(s.message(), HasSubstr("quantization_config.quant_algo"));
  EXPECT_THAT(s.message(), HasSubstr("NVFP4_AWQ"));
  EXPECT_THAT(s.message(), HasSubstr("NVFP4, W4A16_NVFP4, FP8, MIXED_PRECISION"));

  const json hf = {{"quantization", {{"quant_algo", "INT4_AWQ"}}}};
  EXPECT_THAT(ParseError(json::object(), &hf).message(), HasSubstr("ckpt/hf_quant_config.json"));

  json layer_config = ModelOptConfig("MIXED_PRECISION", json::array());
  layer_config["quantization_config"]["quantized_layers"] = {
      {"model.layers.0.mlp.down_proj", {{"quant_algo", "W8A8_SQ_PER_CHANNEL"}}}};
  EXPECT_THAT(ParseError(layer_config).message(), HasSubstr("quantized_layers[\"model.layers.0.mlp.down_proj\"]"));
}

TEST(QuantConfigTest, OtherModelOptErrors) {
  // Files disagree.
  const json hf = {{"quantization", {{"quant_algo", "FP8"}}}};
  EXPECT_THAT(ParseError(ModelOptConfig("NVFP4", json::array()), &hf).message(), HasSubstr("contradicts"));
  // MIXED_PRECISION without quantized_layers.
  EXPECT_THAT(ParseError(ModelOptConfig("MIXED_PRECISION", json::array())).message(), HasSubstr("quantized_layers"));
  // NVFP4 group size other than 16.
  json group32 = ModelOptConfig("NVFP4", json::array());
  group32["quantization_config"]["group_size"] = 32;
  EXPECT_THAT(ParseError(group32).message(), HasSubstr("group_size"));
  // Wrong json types are reported, not thrown.
  EXPECT_THAT(ParseError(ModelOptConfig("NVFP4", "lm_head")).message(), HasSubstr("quantization_config.ignore"));
  json algo_number = ModelOptConfig("NVFP4", json::array());
  algo_number["quantization_config"]["quant_algo"] = 4;
  EXPECT_THAT(ParseError(algo_number).message(), HasSubstr("expected a string"));
  // Unknown quant_method.
  EXPECT_THAT(ParseError({{"quantization_config", {{"quant_method", "gptq"}}}}).message(),
              HasSubstr("accepted: modelopt, compressed-tensors"));
  // hf_quant_config.json without its "quantization" object.
  const json bad_hf = {{"producer", {{"name", "modelopt"}}}};
  EXPECT_THAT(ParseError(json::object(), &bad_hf).message(), HasSubstr("hf_quant_config.json: quantization"));
}

TEST(QuantConfigTest, CompressedTensorsErrors) {
  const json groups = {{"group_0", {{"weights", Nvfp4Args()}, {"targets", {"Linear"}}}}};
  json bad_format = CtConfig(groups, json::array());
  bad_format["quantization_config"]["format"] = "int-quantized";
  const Status s = ParseError(bad_format);
  EXPECT_THAT(s.message(), HasSubstr("quantization_config.format"));
  EXPECT_THAT(s.message(), HasSubstr("nvfp4-pack-quantized, mixed-precision"));

  EXPECT_THAT(ParseError(CtConfig(groups, {"re:model.(layers"})).message(), HasSubstr("invalid regex"));

  const json int4 = {
      {"group_0", {{"weights", {{"num_bits", 4}, {"type", "int"}, {"group_size", 128}}}, {"targets", {"Linear"}}}}};
  EXPECT_THAT(ParseError(CtConfig(int4, json::array())).message(), HasSubstr("unsupported quantization scheme"));

  const json hf = {{"quantization", {{"quant_algo", "NVFP4"}}}};
  EXPECT_THAT(ParseError(CtConfig(groups, json::array()), &hf).message(), HasSubstr("contradicts"));
}

// ----------------------------------------------------------------------------------------------------------------
// Writers

TEST(QuantConfigTest, ModelOptWriterMatchesFixtureFieldByField) {
  auto written = ModelOptQuantConfigJson(LinearScheme::kNvfp4, {"lm_head"}, "reference");
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  const json hf = ReadFixture("llama_tiny_nvfp4/hf_quant_config.json");
  const json qc = ReadFixture("llama_tiny_nvfp4/config.json")["quantization_config"];
  EXPECT_EQ(written->hf_quant_config, hf) << json::diff(hf, written->hf_quant_config).dump(1);
  EXPECT_EQ(written->quantization_config, qc) << json::diff(qc, written->quantization_config).dump(1);
}

TEST(QuantConfigTest, CompressedTensorsWriterMatchesFixtureFieldByField) {
  auto written = CompressedTensorsQuantConfigJson(LinearScheme::kNvfp4, {"lm_head"});
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  const json qc = ReadFixture("llama_tiny_nvfp4_ct/config.json")["quantization_config"];
  EXPECT_EQ(*written, qc) << json::diff(qc, *written).dump(1);
}

TEST(QuantConfigTest, WrittenConfigsParseBackToTheirScheme) {
  for (LinearScheme scheme : {LinearScheme::kNvfp4, LinearScheme::kNvfp4W4A16, LinearScheme::kFp8}) {
    auto mo = ModelOptQuantConfigJson(scheme, {"lm_head"}, "test");
    ASSERT_TRUE(mo.ok());
    const QuantConfig q = ParseOk({{"quantization_config", mo->quantization_config}}, &mo->hf_quant_config);
    EXPECT_EQ(SchemeOf(q, "model.layers.0.mlp.down_proj"), scheme) << LinearSchemeName(scheme);
    EXPECT_EQ(SchemeOf(q, "lm_head"), LinearScheme::kBf16);
    if (scheme == LinearScheme::kFp8) continue;
    auto ct = CompressedTensorsQuantConfigJson(scheme, {"lm_head"});
    ASSERT_TRUE(ct.ok());
    const QuantConfig qc = ParseOk({{"quantization_config", *ct}});
    EXPECT_EQ(SchemeOf(qc, "model.layers.0.mlp.down_proj"), scheme) << LinearSchemeName(scheme);
  }
  EXPECT_FALSE(ModelOptQuantConfigJson(LinearScheme::kBf16, {}, "test").ok());
  EXPECT_FALSE(CompressedTensorsQuantConfigJson(LinearScheme::kFp8, {}).ok());
}

}  // namespace
}  // namespace fp4lab
