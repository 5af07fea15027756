// The Gemma 4 text family (gemma4_text, and the text part of a full gemma4 config's text_config; the backbone of
// Gemma 4 26B-A4B and DiffusionGemma). Every RMSNorm is y = x / rms(x) * w in f32 (w itself, not Gemma 3's 1 + w),
// or scale-free (no w). Per decoder layer, with x the residual stream:
//   x = x + post_attention_norm(o_proj(attn(input_norm(x))))
//   m = post_feedforward_norm_1(down(gelu_tanh(gate(h)) * up(h))),  h = pre_feedforward_norm(x)   (dense GeGLU MLP)
//   e = post_feedforward_norm_2(experts(pre_feedforward_norm_2(x)))  routed on the raw residual x:
//       logits = router.proj(unscaled_norm(x) * router.scale * hidden_size^-0.5), softmax over all experts, top-k,
//       renormalized to sum 1, times router.per_expert_scale of each chosen expert
//   x = (x + post_feedforward_norm(m + e)) * layer_scalar
// (without enable_moe_block the MLP alone: x = (x + post_feedforward_norm(mlp(h))) * layer_scalar).
// Attention: per-head q_norm and k_norm before RoPE, values through the scale-free v_norm, scale 1.0 (no
// query_pre_attn_scalar). Sliding layers see the last sliding_window positions with their own RoPE (default, theta
// 1e4); full-attention ("global") layers may have their own head_dim and KV-head count (per_layer_config, or the
// older flat global_head_dim / num_global_key_value_heads), "proportional" partial RoPE (rope.h), and with
// attention_k_eq_v no v_proj: the values are the keys as projected (before k_norm and RoPE). The embedding is
// multiplied by sqrt(hidden_size) in f32 (the activation dtype; HF casts the constant to the weights' dtype, f32 in
// an f32 run), lm_head is tied to it, the logits are soft-capped by final_logit_softcapping.
// Not supported (refused with the field named): per-layer input embeddings (hidden_size_per_layer_input, Gemma 4
// E2B/E4B), KV sharing across layers (num_kv_shared_layers), bidirectional attention.
#include <algorithm>
#include <cmath>
#include <map>

#include "engine/arch/decoder_config.h"
#include "engine/arch/decoder_model.h"

namespace fp4lab {

namespace {

// The attention shape of one layer.
struct Gemma4LayerShape {
  bool sliding = true;
  int heads = 0, kv_heads = 0, head_dim = 0;
  bool k_eq_v = false;  // no v_proj: values are the projected keys
};

struct Gemma4Config {
  DecoderConfig decoder;
  std::string root;                    // tensor names start with this: "model." or "model.language_model."
  std::vector<Gemma4LayerShape> layers;
  RopeConfig global_rope, local_rope;  // full_attention and sliding_attention layers
  float final_softcap = 0.0f;          // 0 = off
  bool moe = false;                    // enable_moe_block
  int num_experts = 0, top_k = 0, moe_intermediate_size = 0;
};

std::string LayerPrefix(const Gemma4Config& c, int layer) { return c.root + "layers." + std::to_string(layer) + "."; }

// The norms of one layer, in checkpoint order; the last three exist only with enable_moe_block.
constexpr const char* kLayerNorms[] = {"input_layernorm",           "post_attention_layernorm",
                                       "pre_feedforward_layernorm", "post_feedforward_layernorm",
                                       "post_feedforward_layernorm_1", "pre_feedforward_layernorm_2",
                                       "post_feedforward_layernorm_2"};
constexpr int kDenseNorms = 4, kMoeNorms = 7;

class Gemma4Model : public DecoderModel {
 public:
  Gemma4Model(const Gemma4Config& config, const TensorManifest& manifest, std::vector<int64_t> kv_widths,
              Backend& backend)
      : DecoderModel(config.decoder.model, manifest, std::move(kv_widths), backend), c_(config) {}

  Status Load(WeightLoader& loader) {
    const DecoderConfig& d = c_.decoder;
    std::map<int, int> global_tables;  // by head_dim
    int local_table = -1;
    FP4LAB_ASSIGN_OR_RETURN(embed_, LoadEmbedding(loader, c_.root + "embed_tokens.weight"));
    for (int l = 0; l < d.num_layers; ++l) {
      const std::string p = LayerPrefix(c_, l), attn = p + "self_attn.";
      const Gemma4LayerShape& shape = c_.layers[l];
      int table = 0;
      if (shape.sliding) {
        if (local_table < 0) local_table = AddRopeTable(RopeInverseFrequencies(c_.local_rope, shape.head_dim));
        table = local_table;
      } else {
        auto found = global_tables.find(shape.head_dim);
        if (found == global_tables.end()) {
          found = global_tables
                      .emplace(shape.head_dim, AddRopeTable(RopeInverseFrequencies(c_.global_rope, shape.head_dim)))
                      .first;
        }
        table = found->second;
      }
      Layer layer;
      layer.layout = AttentionLayout{shape.heads, shape.kv_heads, shape.head_dim, /*scale=*/1.0f,
                                     shape.sliding ? d.sliding_window : 0, /*softcap=*/0.0f, table};
      for (int n = 0; n < (c_.moe ? kMoeNorms : kDenseNorms); ++n) {
        FP4LAB_ASSIGN_OR_RETURN(layer.norms[n], LoadVector(loader, p + kLayerNorms[n] + ".weight"));
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
      if (c_.moe) FP4LAB_RETURN_IF_ERROR(LoadMoe(loader, p, layer));
      layers_.push_back(std::move(layer));
    }
    FP4LAB_ASSIGN_OR_RETURN(final_norm_, LoadVector(loader, c_.root + "norm.weight"));
    return Status::Ok();
  }

 protected:
  Status RunDecoder(StepBuffers& step, KvCache& cache, DeviceTensor& logits) override {
    const DecoderConfig& d = c_.decoder;
    const int64_t D = d.hidden_size;
    const float eps = d.rms_norm_eps;
    constexpr float kTimesW = 0.0f;  // y = x / rms(x) * w
    Backend& b = backend();
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * x, Buffer(step, "x", D));
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * h, Buffer(step, "h", D));
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * m, Buffer(step, "m", D));
    // x is the residual stream, h and m sublayer inputs and outputs. The residual add after attention runs fused
    // with the pre-feedforward norm (Backend::AddRmsNorm).
    FP4LAB_RETURN_IF_ERROR(b.Embed(*embed_, *step.tokens, *x));
    FP4LAB_RETURN_IF_ERROR(b.Scale(*x, std::sqrt(static_cast<float>(D))));
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& L = layers_[l];
      FP4LAB_RETURN_IF_ERROR(b.RmsNorm(*x, *L.norms[kInput], D, eps, kTimesW, *h));
      FP4LAB_RETURN_IF_ERROR(Attend(step, L.attn, L.layout, eps, *h, *cache.k[l], *cache.v[l], *h));
      FP4LAB_RETURN_IF_ERROR(b.RmsNorm(*h, *L.norms[kPostAttention], D, eps, kTimesW, *h));
      FP4LAB_RETURN_IF_ERROR(b.AddRmsNorm(*x, *h, *L.norms[kPreFeedforward], D, eps, kTimesW, *h));
      FP4LAB_RETURN_IF_ERROR(GatedMlp(step, L.mlp, Activation::kGeluTanh, *h, *m));
      if (c_.moe) {
        FP4LAB_RETURN_IF_ERROR(b.RmsNorm(*m, *L.norms[kPostFeedforward1], D, eps, kTimesW, *m));
        FP4LAB_RETURN_IF_ERROR(RunExperts(step, L, *x, *h));
        FP4LAB_RETURN_IF_ERROR(b.AddInPlace(*m, *h));
      }
      FP4LAB_RETURN_IF_ERROR(b.RmsNorm(*m, *L.norms[kPostFeedforward], D, eps, kTimesW, *m));
      FP4LAB_RETURN_IF_ERROR(b.AddInPlace(*x, *m));
      if (L.layer_scalar != 1.0f) FP4LAB_RETURN_IF_ERROR(b.Scale(*x, L.layer_scalar));
    }
    FP4LAB_RETURN_IF_ERROR(b.RmsNorm(*x, *final_norm_, D, eps, kTimesW, *h));
    FP4LAB_RETURN_IF_ERROR(Linear(*h, *embed_, logits));
    return c_.final_softcap > 0.0f ? b.SoftCap(logits, c_.final_softcap) : Status::Ok();
  }

 private:
  // By kLayerNorms position.
  enum NormIndex {
    kInput,
    kPostAttention,
    kPreFeedforward,
    kPostFeedforward,
    kPostFeedforward1,
    kPreFeedforward2,
    kPostFeedforward2
  };
  struct Layer {
    std::unique_ptr<DeviceTensor> norms[kMoeNorms];  // [1, D] each, by NormIndex
    float layer_scalar = 1.0f;
    AttentionWeights attn;
    AttentionLayout layout;
    GatedMlpWeights mlp;
    // enable_moe_block:
    std::unique_ptr<DeviceLinear> router;            // [E, D]
    std::unique_ptr<DeviceTensor> router_scale;      // [1, D]
    std::unique_ptr<DeviceTensor> per_expert_scale;  // [1, E]
    ExpertsWeights experts;
  };

  // A one-element vector of the checkpoint (layer_scalar) as a host float.
  Result<float> LoadScalar(WeightLoader& loader, const std::string& name) {
    FP4LAB_ASSIGN_OR_RETURN(std::vector<float> value, loader.Vector(name, 1));
    return value[0];
  }

  Status LoadMoe(WeightLoader& loader, const std::string& p, Layer& layer) {
    FP4LAB_ASSIGN_OR_RETURN(layer.router, LoadRouter(loader, p + "router.proj"));
    FP4LAB_ASSIGN_OR_RETURN(layer.router_scale, LoadVector(loader, p + "router.scale"));
    FP4LAB_ASSIGN_OR_RETURN(layer.per_expert_scale, LoadVector(loader, p + "router.per_expert_scale"));
    return LoadExperts(loader, p + "experts.*.gate_proj", p + "experts.*.up_proj", p + "experts.*.down_proj",
                       layer.experts);
  }

  // out = post_feedforward_norm_2(experts(pre_feedforward_norm_2(x))), routed on x (see the top of this file).
  Status RunExperts(StepBuffers& step, const Layer& L, const DeviceTensor& x, DeviceTensor& out) {
    const DecoderConfig& d = c_.decoder;
    const int64_t D = d.hidden_size;
    const float eps = d.rms_norm_eps;
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
    FP4LAB_RETURN_IF_ERROR(
        RoutedExperts(step, L.experts, Activation::kGeluTanh, routing, *router_logits, *routed, out));
    return b.RmsNorm(out, *L.norms[kPostFeedforward2], D, eps, 0.0f, out);
  }

  Gemma4Config c_;
  std::unique_ptr<DeviceLinear> embed_;  // [V, D], also the output head
  std::vector<Layer> layers_;
  std::unique_ptr<DeviceTensor> final_norm_;
};

class Gemma4Blueprint : public ModelBlueprint {
 public:
  explicit Gemma4Blueprint(Gemma4Config config) : c_(std::move(config)) {
    const DecoderConfig& d = c_.decoder;
    const int64_t D = d.hidden_size, F = d.intermediate_size, I = c_.moe_intermediate_size;
    TensorManifest& m = manifest_;
    m.AddEmbedding(c_.root + "embed_tokens.weight", d.model.vocab_size, D);
    for (int l = 0; l < d.num_layers; ++l) {
      const Gemma4LayerShape& s = c_.layers[l];
      const std::string p = LayerPrefix(c_, l), attn = p + "self_attn.", mlp = p + "mlp.";
      const int64_t q = int64_t{s.heads} * s.head_dim, kv = int64_t{s.kv_heads} * s.head_dim;
      for (int n = 0; n < (c_.moe ? kMoeNorms : kDenseNorms); ++n) {
        m.AddVector(p + kLayerNorms[n] + ".weight", "norms", D);
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
      if (!c_.moe) continue;
      m.AddRouter(p + "router.proj", c_.num_experts, D);
      m.AddVector(p + "router.scale", "router", D);
      m.AddVector(p + "router.per_expert_scale", "router", c_.num_experts);
      // Each expert's gate and up share their global scales when quantized (ModelOpt quantizes the fused
      // gate_up_proj slice of an expert with one weight quantizer).
      m.AddExperts(p + "experts.*.gate_proj", c_.num_experts, I, D, p + "experts.*.gate_up_proj");
      m.AddExperts(p + "experts.*.up_proj", c_.num_experts, I, D, p + "experts.*.gate_up_proj");
      m.AddExperts(p + "experts.*.down_proj", c_.num_experts, D, I);
    }
    m.AddVector(c_.root + "norm.weight", "norms", D);
  }

  const ModelConfig& config() const override { return c_.decoder.model; }
  const TensorManifest& manifest() const override { return manifest_; }
  std::vector<int64_t> KvWidths() const override {
    std::vector<int64_t> widths;
    for (const Gemma4LayerShape& s : c_.layers) widths.push_back(int64_t{s.kv_heads} * s.head_dim);
    return widths;
  }
  int64_t ActivationFloatsPerRow() const override {
    const DecoderConfig& d = c_.decoder;
    int64_t q = 0, kv = 0;
    for (const Gemma4LayerShape& s : c_.layers) {
      q = std::max(q, int64_t{s.heads} * s.head_dim);
      kv = std::max(kv, int64_t{s.kv_heads} * s.head_dim);
    }
    // x, h, m; q, attn, k, v; gate and gate|up; the router input, logits and weights; the logits row.
    return 3 * d.hidden_size + 2 * q + 2 * kv + 3 * int64_t{d.intermediate_size} + d.hidden_size + c_.num_experts +
           c_.top_k + d.model.vocab_size;
  }
  Result<std::unique_ptr<Model>> Load(WeightLoader& loader, Backend& backend) const override {
    auto model = std::make_unique<Gemma4Model>(c_, manifest_, KvWidths(), backend);
    FP4LAB_RETURN_IF_ERROR(model->Load(loader));
    return std::unique_ptr<Model>(std::move(model));
  }

 private:
  Gemma4Config c_;
  TensorManifest manifest_;
};

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

Result<std::unique_ptr<ModelBlueprint>> ParseGemma4(const nlohmann::json& json, const std::string& path) {
  // A full Gemma 4 config (model_type gemma4) nests the text model's fields in text_config; its checkpoint names
  // the text model's tensors model.language_model.*.
  const ConfigReader top(json, path);
  FP4LAB_RETURN_IF_ERROR(top.CheckObject());
  const bool nested = top.Has("text_config");
  Gemma4Config c;
  c.root = nested ? "model.language_model." : "model.";
  FP4LAB_ASSIGN_OR_RETURN(const ConfigReader r, nested ? top.Child("text_config") : Result<ConfigReader>(top));
  FP4LAB_ASSIGN_OR_RETURN(c.decoder, ParseDecoderConfig(r, "gemma4", "gelu_pytorch_tanh"));
  const DecoderConfig& d = c.decoder;
  if (nested) {
    FP4LAB_ASSIGN_OR_RETURN(c.decoder.model.model_type, top.OptionalString("model_type", "gemma4"));
  }
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
  FP4LAB_ASSIGN_OR_RETURN(const bool k_eq_v, r.OptionalBool("attention_k_eq_v", false));
  FP4LAB_RETURN_IF_ERROR(ParseLayerShapes(r, k_eq_v, c));
  FP4LAB_ASSIGN_OR_RETURN(const double final_cap, r.OptionalNumber("final_logit_softcapping", 0.0, 0.0, 1e6));
  c.final_softcap = static_cast<float>(final_cap);
  FP4LAB_ASSIGN_OR_RETURN(c.moe, r.OptionalBool("enable_moe_block", false));
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
  return std::unique_ptr<ModelBlueprint>(new Gemma4Blueprint(std::move(c)));
}

}  // namespace

ArchitectureSpec Gemma4Architecture() { return {"gemma4", {"gemma4_text", "gemma4"}, &ParseGemma4}; }

}  // namespace fp4lab
