// The qwen3_moe family on the CPU reference against transformers (tests/fixtures/qwen3moe_tiny: 2 layers, 8 experts,
// top-2, norm_topk_prob; its ModelOpt NVFP4 export qwen3moe_tiny_nvfp4: experts NVFP4 per expert, attention, router
// and lm_head bf16, made by an independent reference quantizer, with transformers' logits over the dequantized
// weights): every position of both sequences, greedy tokens, both HF expert layouts, the config fields that place
// the experts, and quantize-on-load against the export's bytes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "engine/arch/architecture.h"
#include "engine/engine.h"
#include "engine/file_util.h"
#include "engine/memory_model.h"
#include "engine/quant_config.h"
#include "engine/quantize_checkpoint.h"
#include "engine/safetensors.h"
#include "engine/weight_loader.h"
#include "engine_test_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::ReadReference;

constexpr int kLen = 40;

// Tolerance, as tests/engine/family_reference_test.cc derives it: both sides compute in f32 on the same weights and
// differ only in summation order and libm (K * 2^-24 ~ 2e-5 relative per dot product at K = 256, compounding through
// two layers and the head), so 1e-4 of the logit scale bounds them while a real bug moves logits by O(1). It holds
// for the NVFP4 references too: transformers multiplied the dequantized f32 weights (e2m1 * e4m3 * weight_scale_2),
// fp4lab applies weight_scale_2 once per output to exact e2m1 * e4m3 sums (one extra f32 rounding per output, 2^-24
// relative); and under W4A4 both quantize the same activations with ModelOpt's formulas, so the quantized inputs
// are identical unless an element sits within f32 rounding of an E2M1 or E4M3 rounding boundary, which would move
// that logit by a whole quantization step (~10% of its scale), far outside the bound, not inside it.
constexpr double kRelativeTolerance = 1e-4;

// Every position of both reference sequences of `dir` at `precision` against `reference`'s tensor `name`.
void ExpectLogitsMatch(const std::string& dir, const std::string& precision, const std::string& name) {
  auto engine = testing::OpenEngine(dir, precision);
  ASSERT_NE(engine, nullptr);
  const std::string ref = dir + "/reference.safetensors";
  const auto ids = ReadReference<int32_t>(ref, "input_ids");
  const auto expected = ReadReference<float>(ref, name);
  const int vocab = engine->VocabSize();
  ASSERT_EQ(expected.size(), 2u * kLen * vocab);
  for (int seq = 0; seq < 2; ++seq) {
    auto logits = engine->Logits(std::vector<int32_t>(ids.begin() + seq * kLen, ids.begin() + (seq + 1) * kLen));
    ASSERT_TRUE(logits.ok()) << logits.status().ToString();
    for (int pos = 0; pos < kLen; ++pos) {
      double diff = 0, scale = 0;
      for (int v = 0; v < vocab; ++v) {
        const double want = expected[(static_cast<size_t>(seq) * kLen + pos) * vocab + v];
        diff = std::max(diff, std::fabs((*logits)[static_cast<size_t>(pos) * vocab + v] - want));
        scale = std::max(scale, std::fabs(want));
      }
      EXPECT_LE(diff, kRelativeTolerance * scale) << precision << " sequence " << seq << " position " << pos;
    }
  }
}

TEST(Qwen3Moe, Bf16LogitsMatchTransformersF32AtEveryPosition) {
  ExpectLogitsMatch(FixturePath("qwen3moe_tiny"), "bf16", "logits_f32");
}

TEST(Qwen3Moe, Nvfp4ExportMatchesTransformersW4A16AndW4A4) {
  ExpectLogitsMatch(FixturePath("qwen3moe_tiny_nvfp4"), "nvfp4-w4a16", "logits_w4a16_f32");
  ExpectLogitsMatch(FixturePath("qwen3moe_tiny_nvfp4"), "nvfp4", "logits_w4a4_f32");
}

TEST(Qwen3Moe, GreedyContinuationMatches) {
  auto engine = testing::OpenEngine(FixturePath("qwen3moe_tiny"));
  ASSERT_NE(engine, nullptr);
  const std::string ref = FixturePath("qwen3moe_tiny/reference.safetensors");
  const auto prompt = ReadReference<int32_t>(ref, "greedy_prompt");
  const auto expected = ReadReference<int32_t>(ref, "greedy_tokens");
  ASSERT_EQ(std::count(expected.begin(), expected.end(), engine->EosId()), 0);
  auto got = engine->Generate(prompt, static_cast<int>(expected.size()), SamplingOptions{}, nullptr);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, expected);
}

// The export's precision map: experts NVFP4 from the checkpoint, attention and lm_head excluded by its
// exclude_modules, and the router bf16 although no pattern excludes it (routers are never quantized).
TEST(Qwen3Moe, PrecisionMapOfTheNvfp4Export) {
  auto engine = testing::OpenEngine(FixturePath("qwen3moe_tiny_nvfp4"), "nvfp4");
  ASSERT_NE(engine, nullptr);
  std::map<std::string, LayerPrecision> by_name;
  for (const LayerPrecision& p : engine->layer_map()) by_name[p.layer] = p;
  EXPECT_EQ(by_name.at("model.layers.1.mlp.experts.7.down_proj").scheme, LinearScheme::kNvfp4);
  EXPECT_EQ(by_name.at("model.layers.0.mlp.experts.0.gate_proj").scheme, LinearScheme::kNvfp4);
  EXPECT_EQ(by_name.at("model.layers.0.self_attn.q_proj").scheme, LinearScheme::kBf16);
  EXPECT_EQ(by_name.at("model.layers.0.mlp.gate").scheme, LinearScheme::kBf16);
  EXPECT_NE(by_name.at("model.layers.0.mlp.gate").reason.find("router"), std::string::npos);
  EXPECT_EQ(by_name.size(), 2u * (4 + 1 + 8 * 3) + 1);  // per layer q/k/v/o, router, 8 experts x 3; lm_head
}

// Copies qwen3moe_tiny into `dir` with its experts in transformers 5's fused layout: per layer
// mlp.experts.gate_up_proj [E, 2I, H] (gate rows, then up rows, of each expert) and mlp.experts.down_proj [E, H, I].
void WriteFusedLayout(const std::string& dir) {
  std::filesystem::copy_file(FixturePath("qwen3moe_tiny/config.json"), dir + "/config.json",
                             std::filesystem::copy_options::overwrite_existing);
  auto reader = SafetensorsReader::Open(FixturePath("qwen3moe_tiny/model.safetensors"));
  ASSERT_TRUE(reader.ok());
  std::vector<TensorToWrite> out;
  for (const TensorView& t : (*reader)->tensors()) {
    if (t.name.find(".experts.") != std::string::npos) continue;
    out.push_back({t.name, t.dtype, t.shape, std::vector<uint8_t>(t.bytes.begin(), t.bytes.end())});
  }
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".mlp.experts.";
    TensorToWrite gate_up{p + "gate_up_proj", DType::kBF16, {8, 128, 128}, {}};
    TensorToWrite down{p + "down_proj", DType::kBF16, {8, 128, 64}, {}};
    for (int e = 0; e < 8; ++e) {
      for (const char* leaf : {"gate_proj", "up_proj", "down_proj"}) {
        const TensorView* t = (*reader)->Find(p + std::to_string(e) + "." + leaf + ".weight");
        ASSERT_NE(t, nullptr);
        auto& bytes = std::string(leaf) == "down_proj" ? down.bytes : gate_up.bytes;
        bytes.insert(bytes.end(), t->bytes.begin(), t->bytes.end());
      }
    }
    out.push_back(std::move(gate_up));
    out.push_back(std::move(down));
  }
  ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", out, {{"format", "pt"}}).ok());
}

TEST(Qwen3Moe, FusedThreeDimensionalExpertsGiveTheSameLogitsBitForBit) {
  const std::string dir = testing::TempDir("qwen3moe_fused");
  WriteFusedLayout(dir);
  const auto ids = ReadReference<int32_t>(FixturePath("qwen3moe_tiny/reference.safetensors"), "input_ids");
  const std::vector<int32_t> tokens(ids.begin(), ids.begin() + kLen);
  auto per_expert = testing::OpenEngine(FixturePath("qwen3moe_tiny"));
  auto fused = testing::OpenEngine(dir);
  ASSERT_TRUE(per_expert && fused);
  auto a = per_expert->Logits(tokens);
  auto b = fused->Logits(tokens);
  ASSERT_TRUE(a.ok() && b.ok()) << b.status().ToString();
  EXPECT_EQ(*a, *b);
}

Result<std::unique_ptr<ModelBlueprint>> BlueprintWith(const std::function<void(nlohmann::json&)>& edit) {
  auto config = ReadJsonFile(FixturePath("qwen3moe_tiny/config.json"));
  if (!config.ok()) return config.status();
  edit(*config);
  return ParseModelBlueprint(*config, "config.json");
}

// The manifest is the checkpoint's tensor list: its parameter count is the fixture's element count, and
// mlp_only_layers / decoder_sparse_step turn layers dense as transformers' Qwen3MoeDecoderLayer does.
TEST(Qwen3Moe, ManifestFollowsTheConfig) {
  auto blueprint = BlueprintWith([](nlohmann::json&) {});
  ASSERT_TRUE(blueprint.ok()) << blueprint.status().ToString();
  auto reader = SafetensorsReader::Open(FixturePath("qwen3moe_tiny/model.safetensors"));
  ASSERT_TRUE(reader.ok());
  int64_t elements = 0;
  for (const TensorView& t : (*reader)->tensors()) elements += t.NumElements();
  EXPECT_EQ((*blueprint)->ParameterCount(), elements);
  const ManifestTensor* gate = (*blueprint)->manifest().Find("model.layers.1.mlp.experts.*.gate_proj");
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ(gate->experts, 8);
  EXPECT_EQ(gate->ExpertName(5), "model.layers.1.mlp.experts.5.gate_proj");

  for (const auto& [field, value, dense_layer] :
       {std::tuple{"mlp_only_layers", nlohmann::json::array({1}), 1}, std::tuple{"decoder_sparse_step", nlohmann::json(2), 0}}) {
    // Init-captures: clang before 16 cannot capture structured bindings (the sanitizer builds use clang 14).
    auto edited = BlueprintWith([&field = field, &value = value](nlohmann::json& c) { c[field] = value; });
    ASSERT_TRUE(edited.ok()) << edited.status().ToString();
    const TensorManifest& m = (*edited)->manifest();
    const std::string dense = "model.layers." + std::to_string(dense_layer) + ".mlp.";
    const std::string sparse = "model.layers." + std::to_string(1 - dense_layer) + ".mlp.";
    EXPECT_NE(m.Find(dense + "gate_proj"), nullptr) << field;
    EXPECT_EQ(m.Find(dense + "gate"), nullptr) << field;
    EXPECT_NE(m.Find(sparse + "gate"), nullptr) << field;
    EXPECT_EQ(m.Find(dense + "gate_proj")->shape, (std::vector<int64_t>{256, 128})) << field;  // intermediate_size
  }
  auto bad = BlueprintWith([](nlohmann::json& c) { c["mlp_only_layers"] = {0, 7}; });
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("mlp_only_layers[1]"), std::string::npos) << bad.status().ToString();
}

// A config that does not describe its experts is refused at load, naming the expert tensor and the field to check.
TEST(Qwen3Moe, ExpertWidthThatDisagreesWithTheCheckpointIsRefusedAtLoad) {
  const std::string dir = testing::TempDir("qwen3moe_wrong_width");
  std::filesystem::copy_file(FixturePath("qwen3moe_tiny/model.safetensors"), dir + "/model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  auto config = ReadJsonFile(FixturePath("qwen3moe_tiny/config.json"));
  ASSERT_TRUE(config.ok());
  (*config)["moe_intermediate_size"] = 128;
  ASSERT_TRUE(WriteFileAtomically(dir + "/config.json", [&](std::ostream& o) {
                o << config->dump();
                return Status::Ok();
              }).ok());
  EngineOptions options;
  options.model_dir = dir;
  auto engine = Engine::Open(options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument) << engine.status().ToString();
  EXPECT_NE(engine.status().message().find("experts.0.gate_proj"), std::string::npos) << engine.status().ToString();
  EXPECT_NE(engine.status().message().find("moe_intermediate_size"), std::string::npos) << engine.status().ToString();
}

// Quantizing the bf16 experts on load (gate and up of an expert as one fused group sharing weight_scale_2) gives
// the bytes of the independent quantizer's ModelOpt export, expert by expert.
TEST(Qwen3Moe, QuantizeOnLoadReproducesTheExportedExpertTensors) {
  auto bf16 = SafetensorsReader::Open(FixturePath("qwen3moe_tiny/model.safetensors"));
  auto exported = SafetensorsReader::Open(FixturePath("qwen3moe_tiny_nvfp4/model.safetensors"));
  ASSERT_TRUE(bf16.ok() && exported.ok());
  const QuantConfig none;
  WeightLoader loader(**bf16, none, LinearScheme::kNvfp4W4A16);
  for (int l = 0; l < 2; ++l) {
    for (int e = 0; e < 8; ++e) {
      const std::string p = "model.layers." + std::to_string(l) + ".mlp.experts." + std::to_string(e) + ".";
      const std::vector<std::string> gate_up = {p + "gate_proj", p + "up_proj"};
      for (const std::string& leaf : {"gate_proj", "up_proj", "down_proj"}) {
        const bool fused = leaf != "down_proj";
        auto w = loader.Linear(p + leaf, fused ? std::span<const std::string>(gate_up) : std::span<const std::string>());
        ASSERT_TRUE(w.ok()) << w.status().ToString();
        const TensorView* codes = (*exported)->Find(p + leaf + ".weight");
        const TensorView* scales = (*exported)->Find(p + leaf + ".weight_scale");
        const TensorView* ws2 = (*exported)->Find(p + leaf + ".weight_scale_2");
        ASSERT_TRUE(codes && scales && ws2);
        EXPECT_TRUE(std::equal(w->codes.begin(), w->codes.end(), codes->bytes.begin(), codes->bytes.end())) << p + leaf;
        EXPECT_TRUE(std::equal(w->block_scales.begin(), w->block_scales.end(), scales->bytes.begin(),
                               scales->bytes.end()))
            << p + leaf;
        float stored;
        std::memcpy(&stored, ws2->bytes.data(), 4);
        EXPECT_EQ(w->weight_scale_2, stored) << p + leaf;
      }
    }
  }
}

// Calibration for W4A4 quantize-on-load sees the experts' inputs as ModelOpt's shared input quantizers do: one amax
// for the gate/up inputs and one for the down inputs of all experts of a layer, the first being the amax of the
// post-attention-normalized hidden states that the router reads too.
TEST(Qwen3Moe, CalibrationGivesEveryExpertOfALayerTheSameInputAmax) {
  auto config = ReadJsonFile(FixturePath("qwen3moe_tiny/config.json"));
  ASSERT_TRUE(config.ok());
  auto blueprint = ParseModelBlueprint(*config, "config.json");
  auto reader = SafetensorsReader::Open(FixturePath("qwen3moe_tiny/model.safetensors"));
  ASSERT_TRUE(blueprint.ok() && reader.ok());
  const auto ids = ReadReference<int32_t>(FixturePath("qwen3moe_tiny/reference.safetensors"), "input_ids");
  auto amax = CalibrateActivations(**blueprint, **reader, QuantConfig{}, ids);
  ASSERT_TRUE(amax.ok()) << amax.status().ToString();
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".mlp.";
    const float router = amax->at(p + "gate");
    const float down = amax->at(p + "experts.0.down_proj");
    EXPECT_GT(down, 0.0f);
    EXPECT_NE(down, router);
    for (int e = 0; e < 8; ++e) {
      const std::string x = p + "experts." + std::to_string(e) + ".";
      EXPECT_EQ(amax->at(x + "gate_proj"), router) << x;
      EXPECT_EQ(amax->at(x + "up_proj"), router) << x;
      EXPECT_EQ(amax->at(x + "down_proj"), down) << x;
    }
  }
}

// `fp4lab quantize` of the bf16 MoE checkpoint with attention kept bf16 (the export's recipe), calibrated on the
// reference's two sequences as the export was: every expert's codes, block scales and weight_scale_2 (shared by
// gate and up) byte for byte the independent quantizer's, and its input scales, one per layer for gate/up and one
// for down, equal to the export's within the f32 rounding of the calibration forward pass: the amax is of
// activations computed in f32 by both sides in different summation orders, at most K * 2^-24 apart relatively for
// the longest reduction before them (K = 256).
TEST(Qwen3Moe, QuantizedCheckpointEqualsTheIndependentExport) {
  const auto ids = ReadReference<int32_t>(FixturePath("qwen3moe_tiny/reference.safetensors"), "input_ids");
  QuantizeOptions o;
  o.model_dir = FixturePath("qwen3moe_tiny");
  o.out_dir = testing::TempDir("qwen3moe_quantize") + "/out";
  o.force = true;
  o.scheme = LinearScheme::kNvfp4;
  o.calibration_sequences = {std::vector<int32_t>(ids.begin(), ids.begin() + kLen),
                             std::vector<int32_t>(ids.begin() + kLen, ids.end())};
  o.exclude = {"model.layers.*.self_attn*"};
  auto report = QuantizeCheckpoint(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  auto ours = SafetensorsReader::Open(o.out_dir + "/model.safetensors");
  auto exported = SafetensorsReader::Open(FixturePath("qwen3moe_tiny_nvfp4/model.safetensors"));
  ASSERT_TRUE(ours.ok() && exported.ok());
  int compared = 0;
  for (const TensorView& want : (*exported)->tensors()) {
    const TensorView* got = (*ours)->Find(want.name);
    ASSERT_NE(got, nullptr) << want.name;
    EXPECT_EQ(got->dtype, want.dtype) << want.name;
    compared += want.name.find(".experts.") != std::string::npos;
    if (want.name.ends_with(".input_scale")) {
      float a, b, first;
      std::memcpy(&a, got->bytes.data(), 4);
      std::memcpy(&b, want.bytes.data(), 4);
      EXPECT_NEAR(a, b, 256 * 0x1p-24 * b) << want.name;
      // The same for every expert of the layer (ModelOpt's shared input quantizer).
      const std::string expert0 = want.name.substr(0, want.name.find(".experts.") + 9) + "0" +
                                  want.name.substr(want.name.find('.', want.name.find(".experts.") + 9));
      std::memcpy(&first, (*ours)->Find(expert0)->bytes.data(), 4);
      EXPECT_EQ(a, first) << want.name;
      continue;
    }
    EXPECT_TRUE(std::equal(got->bytes.begin(), got->bytes.end(), want.bytes.begin(), want.bytes.end())) << want.name;
  }
  EXPECT_EQ(compared, 2 * 8 * 3 * 4);  // layers x experts x projections x (weight, scales, scale_2, input_scale)
}

// exclude_modules as ModelOpt summarizes them (prefix wildcards "name*", matched as vLLM does: "name" and "name.*")
// select the same bf16 layers as the export's explicit list: the same logits, bit for bit.
TEST(Qwen3Moe, PrefixWildcardExclusionsSelectTheSameLayers) {
  const std::string dir = testing::TempDir("qwen3moe_wildcards");
  for (const char* file : {"model.safetensors", "reference.safetensors"}) {
    std::filesystem::copy_file(FixturePath(std::string("qwen3moe_tiny_nvfp4/") + file), dir + "/" + file,
                               std::filesystem::copy_options::overwrite_existing);
  }
  const nlohmann::json patterns = {"lm_head", "model.layers.0.self_attn*", "model.layers.1.self_attn*"};
  auto config = ReadJsonFile(FixturePath("qwen3moe_tiny_nvfp4/config.json"));
  auto hf_quant = ReadJsonFile(FixturePath("qwen3moe_tiny_nvfp4/hf_quant_config.json"));
  ASSERT_TRUE(config.ok() && hf_quant.ok());
  (*config)["quantization_config"]["ignore"] = patterns;
  (*hf_quant)["quantization"]["exclude_modules"] = patterns;
  for (const auto& [name, json] : {std::pair{"config.json", &*config}, std::pair{"hf_quant_config.json", &*hf_quant}}) {
    ASSERT_TRUE(WriteFileAtomically(dir + "/" + name, [json = json](std::ostream& o) {
                  o << json->dump();
                  return Status::Ok();
                }).ok());
  }
  const auto ids = ReadReference<int32_t>(FixturePath("qwen3moe_tiny/reference.safetensors"), "input_ids");
  const std::vector<int32_t> tokens(ids.begin(), ids.begin() + kLen);
  auto listed = testing::OpenEngine(FixturePath("qwen3moe_tiny_nvfp4"), "nvfp4");
  auto wildcards = testing::OpenEngine(dir, "nvfp4");
  ASSERT_TRUE(listed && wildcards);
  for (const LayerPrecision& p : wildcards->layer_map()) {
    if (p.layer.find("self_attn") != std::string::npos) EXPECT_NE(p.reason.find("self_attn*"), std::string::npos);
  }
  EXPECT_EQ(*listed->Logits(tokens), *wildcards->Logits(tokens));
}

// Synthetic weights for a MoE config (what bench presets such as qwen3-30b-a3b load): every expert served under its
// own names in each precision, the routers bf16, the weights resident as the memory inventory predicts, and a forward
// pass with finite logits.
TEST(Qwen3Moe, SyntheticWeightsLoadInEveryNvfp4PrecisionAsPredicted) {
  auto config = ReadJsonFile(FixturePath("qwen3moe_tiny/config.json"));
  ASSERT_TRUE(config.ok());
  for (const char* precision : {"bf16", "nvfp4", "nvfp4-w4a16"}) {
    SCOPED_TRACE(precision);
    EngineOptions options;
    options.precision = precision;
    auto engine = Engine::OpenSynthetic({*config, 7, "config qwen3moe_tiny"}, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    const LinearScheme scheme = (*engine)->precision();
    int experts = 0;
    for (const LayerPrecision& layer : (*engine)->layer_map()) {
      const bool bf16 = layer.layer == "lm_head" || layer.layer.ends_with("mlp.gate");
      EXPECT_EQ(layer.scheme, bf16 ? LinearScheme::kBf16 : scheme) << layer.layer;
      experts += layer.layer.find(".experts.") != std::string::npos;
    }
    EXPECT_EQ(experts, 2 * 8 * 3);
    const TensorManifest& manifest = (*engine)->blueprint().manifest();
    int64_t vector_bytes = 0;  // norms: not Linears, so not in WeightDeviceBytes
    for (const ManifestTensor& t : manifest.tensors) vector_bytes += t.kind == TensorKind::kVector ? 2 * t.Elements() : 0;
    const MemoryPrediction predicted = PredictWeightMemory(InventoryFromManifest(manifest, "qwen3_moe"), scheme);
    EXPECT_EQ((*engine)->model().WeightDeviceBytes() + vector_bytes, predicted.bytes);
    const std::vector<int32_t> tokens = {1, 17, 200, 255};
    auto logits = (*engine)->Logits(tokens);
    ASSERT_TRUE(logits.ok()) << logits.status().ToString();
    for (const float v : *logits) ASSERT_TRUE(std::isfinite(v));
  }
}

}  // namespace
}  // namespace fp4lab
