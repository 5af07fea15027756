// SyntheticWeights (deterministic random tensors in checkpoint form) and the engine's synthetic entry points:
// names/dtypes/shapes against the real fixtures, reproducibility, value statistics against N(0, 1/K), and the
// loaded model's weight bytes against the analytic prediction.
#include "engine/synthetic_weights.h"

#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "engine/arch/architecture.h"
#include "engine/codecs.h"
#include "engine/engine.h"
#include "engine/file_util.h"
#include "engine/fp8.h"
#include "engine/host_memory.h"
#include "engine/memory_model.h"
#include "engine/nvfp4.h"
#include "engine/presets.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::TempDir;

ModelConfig ParseConfig(const nlohmann::json& json) {
  auto arch = FindArchitecture(json.at("model_type").get<std::string>(), "test config");
  EXPECT_TRUE(arch.ok()) << arch.status().ToString();
  auto config = (*arch)->parse_config(json, "test config");
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return *config;
}

ModelConfig FixtureConfig(const std::string& fixture) {
  auto json = ReadJsonFile(FixturePath(fixture + "/config.json"));
  EXPECT_TRUE(json.ok()) << json.status().ToString();
  return ParseConfig(*json);
}

std::unique_ptr<SyntheticWeights> MakeSource(const ModelConfig& config, LinearScheme scheme, uint64_t seed = 0) {
  auto source = SyntheticWeights::Create(config, {scheme, seed, "test"});
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  return source.ok() ? std::move(source).value() : nullptr;
}

// A larger llama config for statistics: 1M-element Linears.
ModelConfig StatsConfig() {
  return ParseConfig({{"model_type", "llama"}, {"hidden_size", 1024}, {"intermediate_size", 1024},
                      {"num_hidden_layers", 1}, {"num_attention_heads", 8}, {"num_key_value_heads", 8},
                      {"vocab_size", 1024}, {"max_position_embeddings", 64}});
}

std::vector<float> Bf16Values(const TensorView& t) {
  std::vector<uint16_t> bits(static_cast<size_t>(t.NumElements()));
  std::memcpy(bits.data(), t.bytes.data(), t.bytes.size());
  std::vector<float> out(bits.size());
  DecodeBf16Row(bits, out);
  return out;
}

float ScalarOf(const TensorView& t) {
  float v = 0.0f;
  std::memcpy(&v, t.bytes.data(), 4);
  return v;
}

double MeanSquare(const std::vector<float>& v) {
  double s = 0.0;
  for (float x : v) s += static_cast<double>(x) * x;
  return s / static_cast<double>(v.size());
}

void ExpectSameLayout(const std::string& fixture, LinearScheme scheme) {
  auto reader = SafetensorsReader::Open(FixturePath(fixture));
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto source = MakeSource(FixtureConfig(fixture), scheme);
  ASSERT_NE(source, nullptr);
  std::set<std::string> fixture_names;
  int64_t fixture_bytes = 0;
  for (const TensorView& t : (*reader)->tensors()) {
    fixture_names.insert(t.name);
    fixture_bytes += static_cast<int64_t>(t.bytes.size());
    const TensorView* s = source->Find(t.name);
    ASSERT_NE(s, nullptr) << t.name;
    EXPECT_EQ(s->dtype, t.dtype) << t.name;
    EXPECT_EQ(s->shape, t.shape) << t.name;
    EXPECT_EQ(s->bytes.size(), t.bytes.size()) << t.name;
  }
  EXPECT_EQ(std::set<std::string>(source->names().begin(), source->names().end()), fixture_names);
  EXPECT_EQ(source->TotalBytes(), fixture_bytes);
  EXPECT_EQ(source->HeldBytes(), fixture_bytes);  // every tensor was asked for once
}

TEST(SyntheticWeightsTest, Bf16LayoutMatchesTheTransformersFixture) { ExpectSameLayout("llama_tiny", LinearScheme::kBf16); }

TEST(SyntheticWeightsTest, Nvfp4LayoutMatchesTheModelOptFixture) {
  ExpectSameLayout("llama_tiny_nvfp4", LinearScheme::kNvfp4);
  // The quantization description too (producer aside: the fixture names its reference quantizer).
  auto fixture = ReadJsonFile(FixturePath("llama_tiny_nvfp4/config.json"));
  ASSERT_TRUE(fixture.ok());
  auto source = MakeSource(FixtureConfig("llama_tiny_nvfp4"), LinearScheme::kNvfp4);
  nlohmann::json expected = (*fixture)["quantization_config"];
  nlohmann::json actual = source->quantization_config_json();
  expected.erase("producer");
  actual.erase("producer");
  EXPECT_EQ(actual, expected);
  EXPECT_EQ(source->quant_config().algorithm, "NVFP4");
}

TEST(SyntheticWeightsTest, W4A16AndFp8ServeTheirModelOptTensors) {
  const ModelConfig config = FixtureConfig("llama_tiny");
  auto w4a16 = MakeSource(config, LinearScheme::kNvfp4W4A16);
  const std::string p = "model.layers.1.mlp.down_proj";
  ASSERT_NE(w4a16->Find(p + ".weight_scale_2"), nullptr);
  EXPECT_EQ(w4a16->Find(p + ".input_scale"), nullptr);  // weight-only: no activation scale
  EXPECT_EQ(w4a16->quant_config().algorithm, "W4A16_NVFP4");

  auto fp8 = MakeSource(config, LinearScheme::kFp8);
  const TensorView* w = fp8->Find(p + ".weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, DType::kF8E4M3);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{config.hidden_size, config.intermediate_size}));
  ASSERT_NE(fp8->Find(p + ".weight_scale"), nullptr);
  EXPECT_FLOAT_EQ(ScalarOf(*fp8->Find(p + ".input_scale")), kSyntheticActivationAmax / 448.0f);
  EXPECT_EQ(fp8->quant_config().algorithm, "FP8");
  EXPECT_EQ(fp8->Find("lm_head.weight")->dtype, DType::kBF16);  // excluded, as ModelOpt exports it
}

TEST(SyntheticWeightsTest, EveryTensorIsReproducibleInIsolationAndSeeded) {
  const ModelConfig config = FixtureConfig("llama_tiny");
  auto a = MakeSource(config, LinearScheme::kNvfp4);
  auto b = MakeSource(config, LinearScheme::kNvfp4);
  auto other_seed = MakeSource(config, LinearScheme::kNvfp4, 7);
  // `a` generates in checkpoint order, `b` only the last tensor and then the first: same bytes regardless.
  for (const std::string& name : a->names()) ASSERT_NE(a->Find(name), nullptr);
  for (const std::string& name : {a->names().back(), a->names().front(), std::string("model.layers.0.mlp.up_proj.weight")}) {
    const TensorView* x = a->Find(name);
    const TensorView* y = b->Find(name);
    ASSERT_NE(y, nullptr);
    EXPECT_TRUE(std::equal(x->bytes.begin(), x->bytes.end(), y->bytes.begin(), y->bytes.end())) << name;
  }
  EXPECT_EQ(a->Find("model.layers.0.mlp.up_proj.weight"), a->Find("model.layers.0.mlp.up_proj.weight"));
  const TensorView* x = a->Find("model.layers.0.mlp.up_proj.weight");
  const TensorView* z = other_seed->Find("model.layers.0.mlp.up_proj.weight");
  EXPECT_FALSE(std::equal(x->bytes.begin(), x->bytes.end(), z->bytes.begin(), z->bytes.end()));
  // Two tensors of the same shape in one source differ (the name enters the stream key).
  const TensorView* up = a->Find("model.layers.0.mlp.up_proj.weight");
  const TensorView* gate = a->Find("model.layers.0.mlp.gate_proj.weight");
  EXPECT_FALSE(std::equal(up->bytes.begin(), up->bytes.end(), gate->bytes.begin(), gate->bytes.end()));
  EXPECT_EQ(a->Find("model.layers.9.mlp.up_proj.weight"), nullptr);
  EXPECT_TRUE(a->generation_status().ok());
}

// bf16 values ~ N(0, 1/K). n = 1M draws: the sample mean has standard error sigma / 1000, so |mean| < 5 sigma / 1000
// fails only for a biased generator. The sample variance has relative standard error sqrt(2 / n) = 0.14 %;
// bf16 rounding (relative error <= 2^-9 per value) moves it by at most 0.4 %; truncating the normal at the table's
// +-4.33 sigma removes under 0.03 % of the variance. 1.2 % bounds their sum with 5 standard errors.
TEST(SyntheticWeightsTest, Bf16WeightsAreNormalWithVarianceOneOverFanIn) {
  const ModelConfig config = StatsConfig();
  auto source = MakeSource(config, LinearScheme::kBf16);
  const std::vector<float> w = Bf16Values(*source->Find("model.layers.0.mlp.down_proj.weight"));
  ASSERT_EQ(w.size(), 1024u * 1024u);
  const double sigma2 = 1.0 / config.intermediate_size;
  double mean = 0.0;
  for (float x : w) mean += x;
  mean /= static_cast<double>(w.size());
  EXPECT_LT(std::fabs(mean), 5.0 * std::sqrt(sigma2) / 1000.0);
  const double variance = MeanSquare(w) - mean * mean;
  EXPECT_NEAR(variance / sigma2, 1.0, 0.012);
  // A normal has 68.3 % of its mass within one sigma; binomial standard error sqrt(p(1-p)/n) = 0.05 %.
  int64_t within = 0;
  for (float x : w) within += std::fabs(x) < std::sqrt(sigma2);
  EXPECT_NEAR(static_cast<double>(within) / static_cast<double>(w.size()), 0.6827, 0.005);
  // Norm weights are exactly 1.
  for (float x : Bf16Values(*source->Find("model.norm.weight"))) ASSERT_EQ(x, 1.0f);
}

// NVFP4: the dequantized weight e2m1 * e4m3 * weight_scale_2 has RMS 1/sqrt(K) by construction (weight_scale_2 uses
// the exact mean square of the code and rounded-scale distributions). Over 1M elements in 65536 blocks the mean
// square's relative standard error is about sqrt(CV(block mean)^2 / 65536) with a per-block CV below 0.6 (16
// codes of CV 1.35 each, times a scale of CV < 0.3): under 0.25 %, so 2 % is 8 standard errors.
TEST(SyntheticWeightsTest, Nvfp4WeightsDequantizeToRmsOneOverSqrtFanIn) {
  const ModelConfig config = StatsConfig();
  auto source = MakeSource(config, LinearScheme::kNvfp4);
  const std::string p = "model.layers.0.mlp.gate_proj";
  const TensorView* codes = source->Find(p + ".weight");
  const TensorView* scales = source->Find(p + ".weight_scale");
  const int64_t n = config.intermediate_size, k = config.hidden_size;
  std::vector<float> w(static_cast<size_t>(n * k));
  ASSERT_TRUE(DequantizeNvfp4Weight({n, k, codes->bytes, scales->bytes}, ScalarOf(*source->Find(p + ".weight_scale_2")),
                                    w)
                  .ok());
  EXPECT_NEAR(MeanSquare(w) * k, 1.0, 0.02);
  // Every E2M1 code value appears (uniform codes: 1/16 each, 65536 draws per code on average).
  std::vector<int64_t> counts(16, 0);
  for (uint8_t byte : codes->bytes) {
    ++counts[byte & 0xF];
    ++counts[byte >> 4];
  }
  for (int64_t c : counts) EXPECT_NEAR(static_cast<double>(c) / (n * k), 1.0 / 16, 0.002);
  // Block scales are finite E4M3 values inside 256 * 2^[-1/2, 1/2) after rounding (3 mantissa bits: +-1/16).
  for (uint8_t s : scales->bytes) {
    const float v = E4M3ToF32(s);
    ASSERT_GE(v, 256.0f / std::sqrt(2.0f) * (1 - 1.0f / 16));
    ASSERT_LE(v, 256.0f * std::sqrt(2.0f) * (1 + 1.0f / 16));
  }
  EXPECT_FLOAT_EQ(ScalarOf(*source->Find(p + ".input_scale")), kSyntheticActivationAmax / kNvfp4ScaleRange);
}

// FP8: w ~ N(0, 1/K) stored as E4M3 * weight_scale. E4M3 rounding (relative error <= 1/16, roughly uniform) adds
// about (1/16)^2 / 3 = 0.13 % to the mean square; sampling over 1M values adds 0.14 % standard error. 1.5 % bound.
TEST(SyntheticWeightsTest, Fp8WeightsDequantizeToVarianceOneOverFanIn) {
  const ModelConfig config = StatsConfig();
  auto source = MakeSource(config, LinearScheme::kFp8);
  const std::string p = "model.layers.0.self_attn.o_proj";
  const TensorView* q = source->Find(p + ".weight");
  std::vector<float> w(static_cast<size_t>(q->NumElements()));
  ASSERT_TRUE(DequantizeFp8(q->bytes, ScalarOf(*source->Find(p + ".weight_scale")), w).ok());
  EXPECT_NEAR(MeanSquare(w) * config.hidden_size, 1.0, 0.015);
  for (uint8_t code : q->bytes) ASSERT_NE(code & 0x7F, 0x7F) << "NaN code";
}

// The loaded model holds exactly the stored bytes the config-only prediction names, except the RMSNorm vectors,
// which the backend keeps as activation-precision tensors outside Model::WeightDeviceBytes (2 bytes each in the
// prediction): measured + 2 * (2 * layers * D + D) == predicted, for every precision.
TEST(SyntheticEngineTest, PresetLoadsInEveryPrecisionWithPredictedWeightBytes) {
  for (const char* precision : {"bf16", "nvfp4", "nvfp4-w4a16", "fp8"}) {
    SCOPED_TRACE(precision);
    EngineOptions options;
    options.precision = precision;
    auto engine = Engine::OpenPreset("tiny", options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    const ModelConfig& c = (*engine)->config();
    const LinearScheme scheme = (*engine)->precision();
    for (const LayerPrecision& layer : (*engine)->layer_map()) {
      EXPECT_EQ(layer.scheme, layer.layer == "lm_head" ? LinearScheme::kBf16 : scheme) << layer.layer;
    }
    const MemoryPrediction predicted = PredictWeightMemory(LlamaInventory(c), scheme);
    const int64_t norm_bytes = 2 * (2 * int64_t{c.num_layers} * c.hidden_size + c.hidden_size);
    EXPECT_EQ((*engine)->model().WeightDeviceBytes() + norm_bytes, predicted.bytes);
    // A sane forward pass: finite logits that vary across the vocabulary.
    const std::vector<TokenId> tokens = {1, 17, 300, 2047};
    auto logits = (*engine)->Logits(tokens);
    ASSERT_TRUE(logits.ok()) << logits.status().ToString();
    double mean = 0.0;
    for (float x : *logits) {
      ASSERT_TRUE(std::isfinite(x));
      mean += x;
    }
    mean /= static_cast<double>(logits->size());
    double spread = 0.0;
    for (float x : *logits) spread += (x - mean) * (x - mean);
    EXPECT_GT(spread, 0.0);
    const nlohmann::json provenance = (*engine)->Provenance();
    EXPECT_EQ(provenance["synthetic"]["origin"], "preset tiny");
    EXPECT_EQ(provenance["model_dir"], "preset tiny");
    EXPECT_FALSE((*engine)->Encode("text").ok());  // no tokenizer
  }
}

// K = 120 is not a multiple of 16: a ModelOpt export keeps those Linears bf16 and lists them in exclude_modules;
// down_proj (K = 96) is quantized. The loaded model matches the prediction, which applies the same rule.
TEST(SyntheticEngineTest, LinearsWithKNotAMultipleOf16StayBf16UnderNvfp4) {
  const nlohmann::json config = {{"model_type", "llama"}, {"hidden_size", 120}, {"intermediate_size", 96},
                                 {"num_hidden_layers", 1}, {"num_attention_heads", 4}, {"vocab_size", 64}};
  EngineOptions options;
  options.precision = "nvfp4-w4a16";
  auto engine = Engine::OpenSynthetic({config, 0, "config odd-k"}, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  std::map<std::string, LinearScheme> schemes;
  for (const LayerPrecision& layer : (*engine)->layer_map()) schemes[layer.layer] = layer.scheme;
  EXPECT_EQ(schemes["model.layers.0.self_attn.q_proj"], LinearScheme::kBf16);
  EXPECT_EQ(schemes["model.layers.0.mlp.up_proj"], LinearScheme::kBf16);
  EXPECT_EQ(schemes["model.layers.0.mlp.down_proj"], LinearScheme::kNvfp4W4A16);
  const ModelConfig& c = (*engine)->config();
  const int64_t norm_bytes = 2 * (2 * int64_t{c.num_layers} * c.hidden_size + c.hidden_size);
  EXPECT_EQ((*engine)->model().WeightDeviceBytes() + norm_bytes,
            PredictWeightMemory(LlamaInventory(c), LinearScheme::kNvfp4W4A16).bytes);
}

TEST(SyntheticEngineTest, UnknownPresetListsTheValidOnes) {
  auto engine = Engine::OpenPreset("llama-9", EngineOptions{});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  for (const ModelPreset& preset : ModelPresets()) {
    EXPECT_NE(engine.status().message().find(preset.name), std::string::npos) << engine.status().message();
  }
}

TEST(SyntheticEngineTest, SyntheticModelDirectoryOpensThroughEngineOpen) {
  const std::string dir = TempDir("synthetic_model_dir");
  auto preset = FindPreset("tiny");
  ASSERT_TRUE(preset.ok());
  ASSERT_TRUE(WriteSyntheticModelDir(dir, {(*preset)->config, 3, "preset tiny"}).ok());
  EXPECT_TRUE(IsSyntheticModelDir(dir));
  EXPECT_FALSE(IsSyntheticModelDir(FixturePath("llama_tiny")));
  auto spec = ReadSyntheticModelDir(dir);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->seed, 3u);
  EXPECT_EQ(spec->config, (*preset)->config);

  EngineOptions options;
  options.model_dir = dir;
  options.precision = "nvfp4";
  auto engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ((*engine)->Provenance()["synthetic"]["seed"], 3);
  EXPECT_EQ((*engine)->Provenance()["model_dir"], dir);
  EXPECT_EQ((*engine)->quant_config().algorithm, "NVFP4");

  // A malformed marker is reported with its file and field.
  ASSERT_TRUE(WriteFileAtomically(dir + "/" + kSyntheticMarkerFile, [](std::ostream& out) {
                out << "{\"seed\": -1}";
                return Status::Ok();
              }).ok());
  auto bad = Engine::Open(options);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("fp4lab_synthetic.json: field 'seed'"), std::string::npos)
      << bad.status().message();
}

// Llama 3.1 8B in bf16 on the CPU needs its 16 GB of generated bf16 weights plus the reference backend's f32 copy
// (32 GB): on a host with less available memory the engine says so before generating anything.
TEST(SyntheticEngineTest, ModelLargerThanHostMemoryFailsWithTheBytesNeeded) {
  auto preset = FindPreset("llama-3.1-8b");
  ASSERT_TRUE(preset.ok());
  const ModelConfig config = ParseConfig((*preset)->config);
  const int64_t needed = 2 * config.ParameterCount() + 4 * config.ParameterCount();
  auto available = HostAvailableMemoryBytes();
  ASSERT_TRUE(available.ok()) << available.status().ToString();
  if (*available >= needed) GTEST_SKIP() << "this host has " << *available << " bytes available; the check needs less";
  auto engine = Engine::OpenPreset("llama-3.1-8b", EngineOptions{});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(engine.status().message().find("needs " + std::to_string(needed) + " bytes of host memory"),
            std::string::npos)
      << engine.status().message();
}

}  // namespace
}  // namespace fp4lab
