// SyntheticWeights (deterministic random tensors in checkpoint form) and the engine's synthetic entry points:
// names/dtypes/shapes against the real fixtures, reproducibility, the generated values pinned against their
// definitions and against the bytes of the original host generator, value statistics against N(0, 1/K), the
// loader's device payloads (described, not generated) against the host bytes, and the loaded model's weight bytes
// against the analytic prediction.
#include "engine/synthetic_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numbers>
#include <set>
#include <span>
#include <tuple>
#include <utility>

#include <gtest/gtest.h>

#include "engine/arch/pre_norm_decoder.h"
#include "engine/codecs.h"
#include "engine/engine.h"
#include "engine/file_util.h"
#include "engine/fp8.h"
#include "engine/host_memory.h"
#include "engine/memory_model.h"
#include "engine/nvfp4.h"
#include "engine/presets.h"
#include "engine/synthetic_spec.h"
#include "engine/weight_loader.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::TempDir;

// The shared decoder fields of a llama-family config.json object.
DecoderConfig ParseConfig(const nlohmann::json& json) {
  auto config = ParseDecoderConfig(ConfigReader(json, "test config"), "llama", "silu");
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return *config;
}

DecoderConfig FixtureConfig(const std::string& fixture) {
  auto json = ReadJsonFile(FixturePath(fixture + "/config.json"));
  EXPECT_TRUE(json.ok()) << json.status().ToString();
  return ParseConfig(*json);
}

std::unique_ptr<SyntheticWeights> MakeSource(const DecoderConfig& config, LinearScheme scheme, uint64_t seed = 0) {
  auto source = SyntheticWeights::Create(PreNormBlueprint(config, nullptr).manifest(), {scheme, seed, "test"});
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  return source.ok() ? std::move(source).value() : nullptr;
}

// A larger llama config for statistics: 1M-element Linears.
DecoderConfig StatsConfig() {
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

TEST(SyntheticWeightsTest, Bf16LayoutMatchesTheTransformersFixture) {
  ExpectSameLayout("llama_tiny", LinearScheme::kBf16);
}

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
  const DecoderConfig config = FixtureConfig("llama_tiny");
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
  const DecoderConfig config = FixtureConfig("llama_tiny");
  auto a = MakeSource(config, LinearScheme::kNvfp4);
  auto b = MakeSource(config, LinearScheme::kNvfp4);
  auto other_seed = MakeSource(config, LinearScheme::kNvfp4, 7);
  // `a` generates in checkpoint order, `b` only the last tensor and then the first: same bytes regardless.
  for (const std::string& name : a->names()) ASSERT_NE(a->Find(name), nullptr);
  for (const std::string& name :
       {a->names().back(), a->names().front(), std::string("model.layers.0.mlp.up_proj.weight")}) {
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

// --- The generated values against their definitions, recomputed here without engine/synthetic_spec.h ---

uint64_t RefSplitMix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Word j of tensor `name`'s stream: SplitMix64 output j from state SplitMix64(seed) ^ FNV-1a-64(name).
uint64_t RefWord(uint64_t seed, const std::string& name, int64_t j) {
  constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  const uint64_t key = RefSplitMix64(seed + kGamma) ^ h;
  return RefSplitMix64(key + static_cast<uint64_t>(j + 1) * kGamma);
}

// The 16-bit level behind element i of a tensor with four levels per word, and its probability (level + 1/2) / 2^16.
double RefProbability(uint64_t seed, const std::string& name, int64_t i) {
  const uint32_t level = static_cast<uint32_t>(RefWord(seed, name, i / 4) >> (16 * (i % 4))) & 0xFFFFu;
  return (level + 0.5) / 65536.0;
}

double RefPhi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// The standard normal quantile by bisection on Phi (for the largest |z| the tables hold, at p = 0.5 / 65536).
double RefQuantile(double p) {
  double lo = -10.0, hi = 10.0;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (RefPhi(mid) < p) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}

// Elements probed: both ends (the last word is cut short when the size is not a multiple of a word) and between.
std::vector<int64_t> Probes(int64_t n) { return {0, 1, 2, 3, 4, 5, 6, 7, 8, n / 3, n / 2 + 1, n - 2, n - 1}; }

const double kMaxNormalDensity = 1.0 / std::sqrt(2.0 * std::numbers::pi);

TEST(SyntheticValuesTest, E2M1CodesAreTheRawStreamBytes) {
  const uint64_t seed = 5;
  auto source = MakeSource(FixtureConfig("llama_tiny"), LinearScheme::kNvfp4, seed);
  const std::string name = "model.layers.0.mlp.up_proj.weight";
  const TensorView* t = source->Find(name);
  ASSERT_NE(t, nullptr);
  for (int64_t i : Probes(static_cast<int64_t>(t->bytes.size()))) {
    EXPECT_EQ(t->bytes[i], static_cast<uint8_t>(RefWord(seed, name, i / 8) >> (8 * (i % 8)))) << i;
  }
}

// Block scale i = e4m3(f32(256 * 2^(p - 1/2))) with p its level's probability: the same double expression rounded
// the same way, so exact.
TEST(SyntheticValuesTest, BlockScalesAreE4M3Of256TimesTwoToTheUniformLevel) {
  const uint64_t seed = 5;
  auto source = MakeSource(FixtureConfig("llama_tiny"), LinearScheme::kNvfp4W4A16, seed);
  const std::string name = "model.layers.1.self_attn.v_proj.weight_scale";
  const TensorView* t = source->Find(name);
  ASSERT_NE(t, nullptr);
  for (int64_t i : Probes(static_cast<int64_t>(t->bytes.size()))) {
    const double p = RefProbability(seed, name, i);
    EXPECT_EQ(t->bytes[i], F32ToE4M3(static_cast<float>(256.0f * std::exp2(p - 0.5)))) << i;
  }
}

// bf16 element i is sigma * z with z the standard normal quantile at its level's probability p. Phi(value / sigma)
// must return p up to the rounding of the value: bf16 RNE (8 significant bits) moves it by at most 2^-8 relative,
// the f32 quantile and the f32 product by 2^-24 each, so (mean value theorem) |Phi(v) - p| <= max density * |v| *
// (2^-8 + 2^-22).
TEST(SyntheticValuesTest, Bf16ValuesAreNormalQuantilesOfTheirLevels) {
  const uint64_t seed = 9;
  const DecoderConfig config = FixtureConfig("llama_tiny");
  auto source = MakeSource(config, LinearScheme::kBf16, seed);
  const std::string name = "model.layers.1.self_attn.o_proj.weight";
  const std::vector<float> w = Bf16Values(*source->Find(name));
  const double sigma = static_cast<float>(1.0 / std::sqrt(static_cast<double>(config.num_heads * config.head_dim)));
  for (int64_t i : Probes(static_cast<int64_t>(w.size()))) {
    const double v = w[i] / sigma, p = RefProbability(seed, name, i);
    EXPECT_NEAR(RefPhi(v), p, kMaxNormalDensity * std::fabs(v) * (0x1p-8 + 0x1p-22)) << i;
    EXPECT_EQ(v < 0, p < 0.5) << i;
  }
}

// FP8 element i is e4m3(z * 448 / z_max), z_max = |quantile(1/2 / 65536)|. E4M3 RNE errs by at most 2^-4 of the
// value's power-of-two floor (<= 2^-4 |x|) in the normal range and 2^-10 below it; back in z units (* z_max / 448)
// that bounds |z_est - z|, and |Phi(z_est) - p| <= max density * (that + 2^-20 |z_est|) (f32 factors).
TEST(SyntheticValuesTest, Fp8ValuesAreScaledNormalQuantilesOfTheirLevels) {
  const uint64_t seed = 11;
  auto source = MakeSource(FixtureConfig("llama_tiny"), LinearScheme::kFp8, seed);
  const std::string name = "model.layers.0.mlp.down_proj.weight";
  const TensorView* t = source->Find(name);
  ASSERT_NE(t, nullptr);
  const double z_max = -RefQuantile(0.5 / 65536);
  for (int64_t i : Probes(static_cast<int64_t>(t->bytes.size()))) {
    const double x = E4M3ToF32(t->bytes[i]), z = x * z_max / 448.0, p = RefProbability(seed, name, i);
    const double dz = (0x1p-4 * std::fabs(x) + 0x1p-10) * z_max / 448.0 + 0x1p-20 * std::fabs(z);
    EXPECT_NEAR(RefPhi(z), p, kMaxNormalDensity * dz) << i;
  }
}

// Every tensor of the tiny preset, in every scheme and for two seeds, byte for byte as the host generator produced
// them before its math moved to engine/synthetic_spec.h (shared with the CUDA generator): FNV-1a-64 of each tensor,
// folded as h = 31 * h + fnv over the tensors in checkpoint order. Any change to the stream, the level tables, a
// value map or a scalar shows here.
uint64_t Fnv1a64(std::span<const uint8_t> bytes) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return h;
}

TEST(SyntheticValuesTest, TinyPresetBytesEqualTheOriginalHostGenerator) {
  auto preset = FindPreset("tiny");
  ASSERT_TRUE(preset.ok());
  const DecoderConfig config = ParseConfig((*preset)->config);
  struct Golden {
    LinearScheme scheme;
    uint64_t seed;
    uint64_t checksum;
  };
  const Golden goldens[] = {{LinearScheme::kBf16, 0, 0x5316d7903c5885f4ull},
                            {LinearScheme::kBf16, 12345, 0x4239bcf4e7435a7dull},
                            {LinearScheme::kNvfp4, 0, 0x6c67640444975a20ull},
                            {LinearScheme::kNvfp4, 12345, 0xdcb4385249b9640bull},
                            {LinearScheme::kNvfp4W4A16, 0, 0xd7774fb9f86a4b78ull},
                            {LinearScheme::kNvfp4W4A16, 12345, 0xe019665e82a8d54bull},
                            {LinearScheme::kFp8, 0, 0xd5358a6e711022dcull},
                            {LinearScheme::kFp8, 12345, 0x41faa69c45c8fb8full}};
  for (const Golden& g : goldens) {
    SCOPED_TRACE(std::string(LinearSchemeName(g.scheme)) + " seed " + std::to_string(g.seed));
    auto source = MakeSource(config, g.scheme, g.seed);
    uint64_t checksum = 0;
    for (const std::string& name : source->names()) checksum = checksum * 31 + Fnv1a64(source->Find(name)->bytes);
    EXPECT_EQ(checksum, g.checksum);
  }
}

// A tensor's bytes are a prefix of a longer tensor's with the same key and fill (word j always makes the same bytes,
// the last word is cut), for sizes that end inside a word.
TEST(SyntheticValuesTest, ShortTensorsArePrefixesOfLongerOnes) {
  for (SyntheticFill fill : {SyntheticFill::kNormalBf16, SyntheticFill::kConstantBf16, SyntheticFill::kE2M1Codes,
                             SyntheticFill::kBlockScales, SyntheticFill::kFp8Normal}) {
    const SyntheticTensor long_tensor{SyntheticKey(3, "t"), fill, 0.125f, 64};
    std::vector<uint8_t> long_bytes(static_cast<size_t>(long_tensor.Bytes()));
    GenerateSyntheticBytes(long_tensor, long_bytes);
    for (int64_t elements : {1, 2, 3, 5, 7, 9, 33}) {
      SyntheticTensor t = long_tensor;
      t.elements = elements;
      std::vector<uint8_t> bytes(static_cast<size_t>(t.Bytes()));
      GenerateSyntheticBytes(t, bytes);
      EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), long_bytes.begin()))
          << static_cast<int>(fill) << " " << elements;
    }
  }
}

TEST(SyntheticWeightsTest, DescribeNamesEveryTensorWithoutGeneratingIt) {
  for (LinearScheme scheme : {LinearScheme::kBf16, LinearScheme::kNvfp4, LinearScheme::kNvfp4W4A16,
                              LinearScheme::kFp8}) {
    SCOPED_TRACE(LinearSchemeName(scheme));
    auto source = MakeSource(FixtureConfig("llama_tiny"), scheme, 4);
    for (const std::string& name : source->names()) ASSERT_NE(source->Describe(name), nullptr) << name;
    EXPECT_EQ(source->HeldBytes(), 0);
    EXPECT_EQ(source->Describe("model.layers.9.mlp.up_proj.weight"), nullptr);
    int64_t matrix_bytes = 0;
    for (const std::string& name : source->names()) {
      const SyntheticTensorInfo* info = source->Describe(name);
      const TensorView* t = source->Find(name);
      EXPECT_TRUE(info->view.bytes.empty()) << name;
      EXPECT_EQ(info->view.name, name);
      EXPECT_EQ(info->view.dtype, t->dtype) << name;
      EXPECT_EQ(info->view.shape, t->shape) << name;
      std::vector<uint8_t> bytes(static_cast<size_t>(info->payload.Bytes()));
      GenerateSyntheticBytes(info->payload, bytes);
      EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), t->bytes.begin(), t->bytes.end())) << name;
      if (t->shape.size() == 2) matrix_bytes += static_cast<int64_t>(t->bytes.size());
    }
    EXPECT_GT(matrix_bytes, 0);
    EXPECT_EQ(source->MatrixBytes(), matrix_bytes);
  }
}

// --- The loader's device payloads ---

// Every weight of a llama-family model loaded as engine/arch/llama.cc does: the embedding, each layer's norms and
// Linears (q/k/v and gate/up fused), the final norm, an untied lm_head.
struct LoadedWeights {
  std::vector<LinearWeights> linears;
  std::vector<std::vector<float>> vectors;
};

LoadedWeights LoadAll(const DecoderConfig& c, WeightLoader& loader) {
  LoadedWeights out;
  const auto linear = [&](const std::string& prefix, const std::vector<std::string>& group) {
    auto w = loader.Linear(prefix, group);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    if (w.ok()) out.linears.push_back(std::move(w).value());
  };
  const auto vector = [&](const std::string& name, int64_t size) {
    auto v = loader.Vector(name, size);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    if (v.ok()) out.vectors.push_back(std::move(v).value());
  };
  auto embed = loader.Dense("model.embed_tokens.weight", "embedding");
  EXPECT_TRUE(embed.ok()) << embed.status().ToString();
  if (embed.ok()) out.linears.push_back(std::move(embed).value());
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    vector(p + "input_layernorm.weight", c.hidden_size);
    vector(p + "post_attention_layernorm.weight", c.hidden_size);
    const std::vector<std::string> qkv = {p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"};
    const std::vector<std::string> gate_up = {p + "mlp.gate_proj", p + "mlp.up_proj"};
    for (const std::string& prefix : qkv) linear(prefix, qkv);
    linear(p + "self_attn.o_proj", {});
    for (const std::string& prefix : gate_up) linear(prefix, gate_up);
    linear(p + "mlp.down_proj", {});
  }
  vector("model.norm.weight", c.hidden_size);
  if (loader.Has("lm_head.weight")) linear("lm_head", {});
  return out;
}

// The payload bytes a materialized LinearWeights holds: weight, then block scales.
std::pair<std::vector<uint8_t>, std::vector<uint8_t>> HostPayload(const LinearWeights& w) {
  switch (w.scheme) {
    case LinearScheme::kBf16: {
      std::vector<uint8_t> bytes(w.bf16.size() * 2);
      std::memcpy(bytes.data(), w.bf16.data(), bytes.size());
      return {bytes, {}};
    }
    case LinearScheme::kNvfp4:
    case LinearScheme::kNvfp4W4A16: return {w.codes, w.block_scales};
    case LinearScheme::kFp8: return {w.fp8, {}};
  }
  return {};
}

std::vector<uint8_t> Generated(const SyntheticTensor& t) {
  std::vector<uint8_t> bytes(static_cast<size_t>(t.Bytes()));
  GenerateSyntheticBytes(t, bytes);
  return bytes;
}

void ExpectSameLayer(const LinearWeights& host, const LinearWeights& device) {
  SCOPED_TRACE(host.name);
  EXPECT_EQ(device.name, host.name);
  EXPECT_EQ(device.out_features, host.out_features);
  EXPECT_EQ(device.in_features, host.in_features);
  EXPECT_EQ(device.scheme, host.scheme);
  EXPECT_EQ(device.reason, host.reason);
  EXPECT_EQ(device.weight_scale_2, host.weight_scale_2);
  EXPECT_EQ(device.input_scale, host.input_scale);
  EXPECT_EQ(device.fp8_weight_scale, host.fp8_weight_scale);
  EXPECT_EQ(device.bias, host.bias);
  EXPECT_EQ(device.StoredBytes(), host.StoredBytes());
  EXPECT_EQ(device.WeightElements(), host.WeightElements());
  EXPECT_EQ(device.BlockScaleElements(), host.BlockScaleElements());
}

// kOnDevice describes every Linear and embedding payload instead of generating it, and each description generates
// exactly the bytes the kOnHost loader materializes; everything else is identical, and the host generated only the
// non-matrix tensors.
TEST(SyntheticLoaderTest, DevicePayloadsAreDescribedAndGenerateTheHostBytes) {
  auto preset = FindPreset("tiny");
  ASSERT_TRUE(preset.ok());
  const DecoderConfig config = ParseConfig((*preset)->config);
  for (LinearScheme scheme : {LinearScheme::kBf16, LinearScheme::kNvfp4, LinearScheme::kNvfp4W4A16,
                              LinearScheme::kFp8}) {
    SCOPED_TRACE(LinearSchemeName(scheme));
    auto host_source = MakeSource(config, scheme, 21);
    auto device_source = MakeSource(config, scheme, 21);
    WeightLoader host_loader(*host_source, scheme, SyntheticPayloads::kOnHost);
    WeightLoader device_loader(*device_source, scheme, SyntheticPayloads::kOnDevice);
    const LoadedWeights host = LoadAll(config, host_loader);
    const LoadedWeights device = LoadAll(config, device_loader);
    ASSERT_EQ(device.linears.size(), host.linears.size());
    for (size_t i = 0; i < host.linears.size(); ++i) {
      const LinearWeights& h = host.linears[i];
      const LinearWeights& d = device.linears[i];
      ExpectSameLayer(h, d);
      EXPECT_FALSE(h.synthetic.has_value()) << h.name;
      ASSERT_TRUE(d.synthetic.has_value()) << d.name;
      EXPECT_TRUE(d.bf16.empty() && d.codes.empty() && d.block_scales.empty() && d.fp8.empty()) << d.name;
      const auto [weight, scales] = HostPayload(h);
      EXPECT_EQ(Generated(d.synthetic->weight), weight) << d.name;
      EXPECT_EQ(Generated(d.synthetic->block_scales), scales) << d.name;
    }
    EXPECT_EQ(device.vectors, host.vectors);
    ASSERT_EQ(device_loader.layer_map().size(), host_loader.layer_map().size());
    for (size_t i = 0; i < host_loader.layer_map().size(); ++i) {
      const LayerPrecision& h = host_loader.layer_map()[i];
      const LayerPrecision& d = device_loader.layer_map()[i];
      EXPECT_EQ(std::tie(d.layer, d.scheme, d.reason, d.bytes, d.parameters),
                std::tie(h.layer, h.scheme, h.reason, h.bytes, h.parameters));
    }
    EXPECT_EQ(host_source->HeldBytes(), host_source->TotalBytes());
    EXPECT_EQ(device_source->HeldBytes(), device_source->TotalBytes() - device_source->MatrixBytes());
  }
}

// A bf16 source run at nvfp4-w4a16 is quantized on load, which needs the bf16 values on the host: those layers
// arrive materialized (and equal to the kOnHost loader's), while the never-quantized embedding stays a description.
TEST(SyntheticLoaderTest, LayersQuantizedOnLoadAreMaterialized) {
  const DecoderConfig config = FixtureConfig("llama_tiny");
  auto host_source = MakeSource(config, LinearScheme::kBf16, 2);
  auto device_source = MakeSource(config, LinearScheme::kBf16, 2);
  WeightLoader host_loader(*host_source, LinearScheme::kNvfp4W4A16, SyntheticPayloads::kOnHost);
  WeightLoader device_loader(*device_source, LinearScheme::kNvfp4W4A16, SyntheticPayloads::kOnDevice);
  const LoadedWeights host = LoadAll(config, host_loader);
  const LoadedWeights device = LoadAll(config, device_loader);
  ASSERT_EQ(device.linears.size(), host.linears.size());
  int quantized = 0;
  for (size_t i = 0; i < host.linears.size(); ++i) {
    const LinearWeights& h = host.linears[i];
    const LinearWeights& d = device.linears[i];
    ExpectSameLayer(h, d);
    if (h.reason == "quantized on load") {
      ++quantized;
      EXPECT_FALSE(d.synthetic.has_value()) << d.name;
      EXPECT_EQ(d.codes, h.codes) << d.name;
      EXPECT_EQ(d.block_scales, h.block_scales) << d.name;
    } else {
      ASSERT_TRUE(d.synthetic.has_value()) << d.name;
      EXPECT_EQ(Generated(d.synthetic->weight), HostPayload(h).first) << d.name;
    }
  }
  EXPECT_GT(quantized, 0);
  EXPECT_EQ(device.linears.front().name, "model.embed_tokens");
  EXPECT_TRUE(device.linears.front().synthetic.has_value());
}

// bf16 values ~ N(0, 1/K). n = 1M draws: the sample mean has standard error sigma / 1000, so |mean| < 5 sigma / 1000
// fails only for a biased generator. The sample variance has relative standard error sqrt(2 / n) = 0.14 %;
// bf16 rounding (relative error <= 2^-9 per value) moves it by at most 0.4 %; truncating the normal at the table's
// +-4.33 sigma removes under 0.03 % of the variance. 1.2 % bounds their sum with 5 standard errors.
TEST(SyntheticWeightsTest, Bf16WeightsAreNormalWithVarianceOneOverFanIn) {
  const DecoderConfig config = StatsConfig();
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
  const DecoderConfig config = StatsConfig();
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
  const DecoderConfig config = StatsConfig();
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
    const MemoryPrediction predicted = PredictWeightMemory(InventoryFromManifest((*engine)->blueprint().manifest(), c.model_type), scheme);
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
    EXPECT_EQ(provenance["synthetic"]["generated_on"], "host");  // the CPU backend takes materialized weights
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
            PredictWeightMemory(InventoryFromManifest((*engine)->blueprint().manifest(), c.model_type), LinearScheme::kNvfp4W4A16).bytes);
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
  const DecoderConfig config = ParseConfig((*preset)->config);
  const int64_t parameters = PreNormBlueprint(config, nullptr).ParameterCount();
  const int64_t needed = 2 * parameters + 4 * parameters;
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
