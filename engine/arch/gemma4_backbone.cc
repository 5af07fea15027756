#include "engine/arch/gemma4_backbone.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace fp4lab {

namespace {

// By Gemma4Backbone::NormIndex.
constexpr const char* kGemma4LayerNorms[] = {"input_layernorm",           "post_attention_layernorm",
                                             "pre_feedforward_layernorm", "post_feedforward_layernorm",
                                             "post_feedforward_layernorm_1", "pre_feedforward_layernorm_2",
                                             "post_feedforward_layernorm_2"};
constexpr int kDenseNorms = 4, kMoeNorms = 7;

// The attention shape of every layer: sliding layers take the top-level head_dim and num_key_value_heads; full
// layers take per_layer_config["<layer>"] (keys may be zero-padded, "05"; transformers >= 5.15) or else the flat
// global_head_dim and, with attention_k_eq_v, num_global_key_value_heads (earlier versions).
Status ParseLayerShapes(const ConfigReader& r, bool k_eq_v, Gemma4Config& c) {
  const DecoderConfig& d = c.decoder;
  FP4LAB_ASSIGN_OR_RETURN(const int64_t global_head_dim,
                          r.OptionalInt("global_head_dim", d.head_dim, 2, kMaxModelDimension));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t global_kv_heads,
                          r.OptionalInt("num_global_key_value_heads", d.num_kv_heads, 1, kMaxHeads));
  std::map<int64_t, std::string> overrides;  // layer -> its key in per_layer_config
  if (r.Has("per_layer_config")) {
    FP4LAB_ASSIGN_OR_RETURN(const ConfigReader per_layer, r.Child("per_layer_config"));
    for (const std::string& key : per_layer.Keys()) {
      const bool digits = !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
      const int64_t layer = digits && key.size() <= 6 ? std::stoll(key) : -1;
      if (layer < 0 || layer >= d.num_layers) {
        return per_layer.Error(key, "is not a layer index in [0, " + std::to_string(d.num_layers) + ")");
      }
      overrides[layer] = key;
    }
  }
  for (int l = 0; l < d.num_layers; ++l) {
    Gemma4LayerShape s;
    s.sliding = d.layer_types[l] == "sliding_attention";
    s.heads = d.num_heads;
    s.kv_heads = d.num_kv_heads;
    s.head_dim = d.head_dim;
    s.k_eq_v = k_eq_v && !s.sliding;
    if (const auto found = overrides.find(l); found != overrides.end()) {
      FP4LAB_ASSIGN_OR_RETURN(const ConfigReader per_layer, r.Child("per_layer_config"));
      FP4LAB_ASSIGN_OR_RETURN(const ConfigReader o, per_layer.Child(found->second));
      FP4LAB_ASSIGN_OR_RETURN(const int64_t head_dim, o.OptionalInt("head_dim", s.head_dim, 2, kMaxModelDimension));
      FP4LAB_ASSIGN_OR_RETURN(const int64_t heads, o.OptionalInt("num_attention_heads", s.heads, 1, kMaxHeads));
      FP4LAB_ASSIGN_OR_RETURN(const int64_t kv_heads, o.OptionalInt("num_key_value_heads", s.kv_heads, 1, kMaxHeads));
      if (heads % kv_heads != 0 || head_dim % 2 != 0) {
        return o.Error("num_key_value_heads", "must divide num_attention_heads, and head_dim must be even");
      }
      s.head_dim = static_cast<int>(head_dim);
      s.heads = static_cast<int>(heads);
      s.kv_heads = static_cast<int>(kv_heads);
    } else if (!s.sliding && overrides.empty()) {
      s.head_dim = static_cast<int>(global_head_dim);
      if (s.k_eq_v) s.kv_heads = static_cast<int>(global_kv_heads);
      if (s.head_dim % 2 != 0 || s.heads % s.kv_heads != 0) {
        return r.Error("global_head_dim", "must be even, and num_global_key_value_heads must divide the heads");
      }
    }
    c.layers.push_back(s);
  }
  return Status::Ok();
}

}  // namespace

Status ParseGemma4Backbone(const ConfigReader& r, bool diffusion_defaults, Gemma4Config& c) {
  const DecoderConfig& d = c.decoder;
  if (d.hidden_act != "gelu_pytorch_tanh") {
    return r.Error("hidden_activation", "is '" + d.hidden_act + "', expected gelu_pytorch_tanh");
  }
  FP4LAB_ASSIGN_OR_RETURN(const int64_t per_layer_input, r.OptionalInt("hidden_size_per_layer_input", 0, 0,
                                                                       kMaxModelDimension));
  if (per_layer_input != 0) {
    return r.Error("hidden_size_per_layer_input", "is " + std::to_string(per_layer_input) +
                                                      "; per-layer input embeddings are not supported (expected 0)");
  }
  FP4LAB_ASSIGN_OR_RETURN(const int64_t kv_shared, r.OptionalInt("num_kv_shared_layers", 0, 0, kMaxLayers));
  if (kv_shared != 0) {
    return r.Error("num_kv_shared_layers", "is " + std::to_string(kv_shared) +
                                               "; KV sharing across layers is not supported (expected 0)");
  }
  // "vision" makes image tokens attend both ways; text alone is causal under it.
  FP4LAB_ASSIGN_OR_RETURN(const std::string bidirectional, r.OptionalString("use_bidirectional_attention", "vision"));
  if (bidirectional != "vision") {
    return r.Error("use_bidirectional_attention", "is '" + bidirectional + "'; only causal text attention is "
                                                  "supported (expected null or vision)");
  }
  // DiffusionGemma's text config drops attention_k_eq_v and enable_moe_block (its layers always have both).
  FP4LAB_ASSIGN_OR_RETURN(const bool k_eq_v, r.OptionalBool("attention_k_eq_v", diffusion_defaults));
  FP4LAB_RETURN_IF_ERROR(ParseLayerShapes(r, k_eq_v, c));
  FP4LAB_ASSIGN_OR_RETURN(const double final_cap, r.OptionalNumber("final_logit_softcapping", diffusion_defaults ? 30.0 : 0.0,
                                                                   0.0, 1e6));
  c.final_softcap = static_cast<float>(final_cap);
  FP4LAB_ASSIGN_OR_RETURN(c.moe, r.OptionalBool("enable_moe_block", diffusion_defaults));
  if (diffusion_defaults) c.moe = true;
  if (c.moe) {
    FP4LAB_ASSIGN_OR_RETURN(const int64_t experts, r.Int("num_experts", 1, kMaxHeads));
    FP4LAB_ASSIGN_OR_RETURN(const int64_t top_k, r.Int("top_k_experts", 1, experts));
    FP4LAB_ASSIGN_OR_RETURN(const int64_t width, r.Int("moe_intermediate_size", 1, kMaxModelDimension));
    c.num_experts = static_cast<int>(experts);
    c.top_k = static_cast<int>(top_k);
    c.moe_intermediate_size = static_cast<int>(width);
  }
  FP4LAB_ASSIGN_OR_RETURN(c.global_rope, ParseRopeConfig(r, "full_attention"));
  FP4LAB_ASSIGN_OR_RETURN(c.local_rope, ParseRopeConfig(r, "sliding_attention"));
  FP4LAB_ASSIGN_OR_RETURN(const bool tied, r.OptionalBool("tie_word_embeddings", true));
  if (!tied) return r.Error("tie_word_embeddings", "is false; gemma4 ties lm_head to the embedding");
  c.decoder.tie_word_embeddings = true;
  return Status::Ok();
}

void AddGemma4LayerTensors(TensorManifest& m, const Gemma4Config& c, const std::string& p, int layer) {
  const DecoderConfig& d = c.decoder;
  const int64_t D = d.hidden_size, F = d.intermediate_size;
  const Gemma4LayerShape& s = c.layers[layer];
  const std::string attn = p + "self_attn.", mlp = p + "mlp.";
  const int64_t q = int64_t{s.heads} * s.head_dim, kv = int64_t{s.kv_heads} * s.head_dim;
  for (int n = 0; n < (c.moe ? kMoeNorms : kDenseNorms); ++n) {
    m.AddVector(p + kGemma4LayerNorms[n] + ".weight", "norms", D);
  }
  m.AddVector(p + "layer_scalar", "norms", 1);
  m.AddLinear(attn + "q_proj", "attention", q, D, "", d.attention_bias);
  m.AddLinear(attn + "k_proj", "attention", kv, D, "", d.attention_bias);
  if (!s.k_eq_v) m.AddLinear(attn + "v_proj", "attention", kv, D, "", d.attention_bias);
  m.AddLinear(attn + "o_proj", "attention", D, q, "", d.attention_bias);
  m.AddVector(attn + "q_norm.weight", "norms", s.head_dim);
  m.AddVector(attn + "k_norm.weight", "norms", s.head_dim);
  m.AddLinear(mlp + "gate_proj", "mlp", F, D, mlp + "gate_up_proj");
  m.AddLinear(mlp + "up_proj", "mlp", F, D, mlp + "gate_up_proj");
  m.AddLinear(mlp + "down_proj", "mlp", D, F);
  if (!c.moe) return;
  m.AddRouter(p + "router.proj", c.num_experts, D);
  m.AddVector(p + "router.scale", "router", D);
  m.AddVector(p + "router.per_expert_scale", "router", c.num_experts);
  AddGemma4ExpertsTensors(m, c, p);
}

void AddGemma4ExpertsTensors(TensorManifest& m, const Gemma4Config& c, const std::string& p) {
  const int64_t D = c.decoder.hidden_size, I = c.moe_intermediate_size;
  // Each expert's gate and up share their global scales when quantized (ModelOpt quantizes the fused gate_up_proj
  // slice of an expert with one weight quantizer).
  m.AddExperts(p + "experts.*.gate_proj", c.num_experts, I, D, p + "experts.*.gate_up_proj");
  m.AddExperts(p + "experts.*.up_proj", c.num_experts, I, D, p + "experts.*.gate_up_proj");
  m.AddExperts(p + "experts.*.down_proj", c.num_experts, D, I);
}

std::vector<int64_t> Gemma4KvWidths(const Gemma4Config& c) {
  std::vector<int64_t> widths;
  for (const Gemma4LayerShape& s : c.layers) widths.push_back(int64_t{s.kv_heads} * s.head_dim);
  return widths;
}

int64_t Gemma4ActivationFloatsPerRow(const Gemma4Config& c, int64_t extra) {
  const DecoderConfig& d = c.decoder;
  int64_t q = 0, kv = 0;
  for (const Gemma4LayerShape& s : c.layers) {
    q = std::max(q, int64_t{s.heads} * s.head_dim);
    kv = std::max(kv, int64_t{s.kv_heads} * s.head_dim);
  }
  // x, h, m; q, attn, k, v; gate and gate|up; the router input, logits and weights; the logits row.
  return 3 * d.hidden_size + 2 * q + 2 * kv + 3 * int64_t{d.intermediate_size} + d.hidden_size + c.num_experts +
         c.top_k + d.model.vocab_size + extra;
}

Gemma4Backbone::Gemma4Backbone(const Gemma4Config& config, const TensorManifest& manifest, Backend& backend)
    : DecoderModel(config.decoder.model, manifest, Gemma4KvWidths(config), backend), c_(config) {
  std::map<int, int> global_tables;  // by head_dim
  int local_table = -1;
  for (const Gemma4LayerShape& shape : c_.layers) {
    if (shape.sliding) {
      if (local_table < 0) local_table = AddRopeTable(RopeInverseFrequencies(c_.local_rope, shape.head_dim));
      rope_tables_.push_back(local_table);
      continue;
    }
    auto found = global_tables.find(shape.head_dim);
    if (found == global_tables.end()) {
      found =
          global_tables.emplace(shape.head_dim, AddRopeTable(RopeInverseFrequencies(c_.global_rope, shape.head_dim)))
              .first;
    }
    rope_tables_.push_back(found->second);
  }
}

Result<float> Gemma4Backbone::LoadScalar(WeightLoader& loader, const std::string& name) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<float> value, loader.Vector(name, 1));
  return value[0];
}

Result<Gemma4Backbone::Layer> Gemma4Backbone::LoadLayer(WeightLoader& loader, const std::string& p, int l) {
  const DecoderConfig& d = c_.decoder;
  const Gemma4LayerShape& shape = c_.layers[l];
  const std::string attn = p + "self_attn.";
  Layer layer;
  layer.layout = AttentionLayout{shape.heads, shape.kv_heads, shape.head_dim, /*scale=*/1.0f,
                                 shape.sliding ? d.sliding_window : 0, /*softcap=*/0.0f, rope_tables_[l]};
  for (int n = 0; n < (c_.moe ? kMoeNorms : kDenseNorms); ++n) {
    FP4LAB_ASSIGN_OR_RETURN(layer.norms[n], LoadVector(loader, p + kGemma4LayerNorms[n] + ".weight"));
  }
  FP4LAB_ASSIGN_OR_RETURN(layer.layer_scalar, LoadScalar(loader, p + "layer_scalar"));
  FP4LAB_ASSIGN_OR_RETURN(layer.attn.q, LoadLinear(loader, attn + "q_proj"));
  FP4LAB_ASSIGN_OR_RETURN(layer.attn.k, LoadLinear(loader, attn + "k_proj"));
  if (!shape.k_eq_v) {
    FP4LAB_ASSIGN_OR_RETURN(layer.attn.v, LoadLinear(loader, attn + "v_proj"));
  }
  FP4LAB_ASSIGN_OR_RETURN(layer.attn.o, LoadLinear(loader, attn + "o_proj"));
  if (loader.kv_cache_format() == KvCacheFormat::kFp8) {  // as DecoderModel::LoadAttention does
    FP4LAB_ASSIGN_OR_RETURN(layer.attn.fp8_kv, loader.KvCacheScales(attn));
  }
  FP4LAB_ASSIGN_OR_RETURN(layer.attn.q_norm, LoadVector(loader, attn + "q_norm.weight"));
  FP4LAB_ASSIGN_OR_RETURN(layer.attn.k_norm, LoadVector(loader, attn + "k_norm.weight"));
  layer.attn.v_norm = true;
  FP4LAB_RETURN_IF_ERROR(LoadGatedMlp(loader, p + "mlp.", layer.mlp));
  if (c_.moe) {
    FP4LAB_ASSIGN_OR_RETURN(layer.router, LoadRouter(loader, p + "router.proj"));
    FP4LAB_ASSIGN_OR_RETURN(layer.router_scale, LoadVector(loader, p + "router.scale"));
    FP4LAB_ASSIGN_OR_RETURN(layer.per_expert_scale, LoadVector(loader, p + "router.per_expert_scale"));
    FP4LAB_RETURN_IF_ERROR(LoadExpertsAt(loader, p, layer.experts));
  }
  return layer;
}

Status Gemma4Backbone::LoadExpertsAt(WeightLoader& loader, const std::string& p, ExpertsWeights& experts,
                                     const TensorManifest* manifest) {
  const std::string gate = p + "experts.*.gate_proj", up = p + "experts.*.up_proj", down = p + "experts.*.down_proj";
  return manifest ? LoadExperts(loader, *manifest, gate, up, down, experts)
                  : LoadExperts(loader, gate, up, down, experts);
}

Status Gemma4Backbone::EmbedScaled(StepBuffers& step, const DeviceLinear& embed, DeviceTensor& x) {
  FP4LAB_RETURN_IF_ERROR(backend().Embed(embed, *step.tokens, x));
  return backend().Scale(x, std::sqrt(static_cast<float>(c_.decoder.hidden_size)));
}

Status Gemma4Backbone::RunLayer(StepBuffers& step, const Layer& L, const AttentionLayout& layout, float layer_scalar,
                                const ExpertsWeights& experts, DeviceTensor& k_cache, DeviceTensor& v_cache,
                                DeviceTensor& x, DeviceTensor& h, DeviceTensor& m,
                                const RowPlacement* attention_rows) {
  const int64_t D = c_.decoder.hidden_size;
  const float eps = c_.decoder.rms_norm_eps;
  constexpr float kTimesW = 0.0f;  // y = x / rms(x) * w
  Backend& b = backend();
  // The residual add after attention runs fused with the pre-feedforward norm (Backend::AddRmsNorm).
  FP4LAB_RETURN_IF_ERROR(b.RmsNorm(x, *L.norms[kInput], D, eps, kTimesW, h));
  FP4LAB_RETURN_IF_ERROR(Attend(step, L.attn, layout, eps, h, k_cache, v_cache, h, attention_rows));
  FP4LAB_RETURN_IF_ERROR(b.RmsNorm(h, *L.norms[kPostAttention], D, eps, kTimesW, h));
  FP4LAB_RETURN_IF_ERROR(b.AddRmsNorm(x, h, *L.norms[kPreFeedforward], D, eps, kTimesW, h));
  FP4LAB_RETURN_IF_ERROR(GatedMlp(step, L.mlp, Activation::kGeluTanh, h, m));
  if (c_.moe) {
    FP4LAB_RETURN_IF_ERROR(b.RmsNorm(m, *L.norms[kPostFeedforward1], D, eps, kTimesW, m));
    FP4LAB_RETURN_IF_ERROR(RunExperts(step, L, experts, x, h));
    FP4LAB_RETURN_IF_ERROR(b.AddInPlace(m, h));
  }
  FP4LAB_RETURN_IF_ERROR(b.RmsNorm(m, *L.norms[kPostFeedforward], D, eps, kTimesW, m));
  FP4LAB_RETURN_IF_ERROR(b.AddInPlace(x, m));
  return layer_scalar != 1.0f ? b.Scale(x, layer_scalar) : Status::Ok();
}

Status Gemma4Backbone::Head(const DeviceTensor& x, const DeviceTensor& final_norm, const DeviceLinear& embed,
                            DeviceTensor& h, DeviceTensor& logits) {
  const DecoderConfig& d = c_.decoder;
  FP4LAB_RETURN_IF_ERROR(backend().RmsNorm(x, final_norm, d.hidden_size, d.rms_norm_eps, 0.0f, h));
  FP4LAB_RETURN_IF_ERROR(Linear(h, embed, logits));
  return c_.final_softcap > 0.0f ? backend().SoftCap(logits, c_.final_softcap) : Status::Ok();
}

Status Gemma4Backbone::RunExperts(StepBuffers& step, const Layer& L, const ExpertsWeights& experts,
                                  const DeviceTensor& x, DeviceTensor& out) {
  const int64_t D = c_.decoder.hidden_size;
  const float eps = c_.decoder.rms_norm_eps;
  Backend& b = backend();
  FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * routed, Buffer(step, "router_input", D));
  FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * router_logits, Buffer(step, "router_logits", c_.num_experts));
  // unscaled_norm(x) * scale is exactly RmsNorm(x) with w = scale: both round x * inv, then the product with w.
  FP4LAB_RETURN_IF_ERROR(b.RmsNorm(x, *L.router_scale, D, eps, 0.0f, *routed));
  // hidden_size^-0.5 in double, used as f32 by the f32 multiply (as PyTorch multiplies a float tensor by a scalar).
  FP4LAB_RETURN_IF_ERROR(b.Scale(*routed, static_cast<float>(std::pow(static_cast<double>(D), -0.5))));
  FP4LAB_RETURN_IF_ERROR(Linear(*routed, *L.router, *router_logits));
  const RoutingParams routing{c_.top_k, /*renormalize=*/true, L.per_expert_scale.get()};
  FP4LAB_RETURN_IF_ERROR(b.RmsNorm(x, *L.norms[kPreFeedforward2], D, eps, 0.0f, *routed));
  FP4LAB_RETURN_IF_ERROR(RoutedExperts(step, experts, Activation::kGeluTanh, routing, *router_logits, *routed, out));
  return b.RmsNorm(out, *L.norms[kPostFeedforward2], D, eps, 0.0f, out);
}

}  // namespace fp4lab
