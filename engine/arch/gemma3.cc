// The Gemma 3 family (gemma3_text; the text part of Gemma 3 checkpoints). Per decoder layer, with every RMSNorm
// of the form y = x / rms(x) * (1 + w) computed in f32:
//   h = x + post_attention_norm(o_proj(attn(input_norm(x))))
//   y = h + post_feedforward_norm(down(gelu_tanh(gate(pre_feedforward_norm(h))) * up(...)))
// Attention has per-head q/k norms before RoPE, scale query_pre_attn_scalar^-0.5, and is either sliding (the last
// `sliding_window` positions, local RoPE base) or global (global RoPE, possibly linearly scaled) as `layer_types`
// says. attn_logit_softcapping is read but not applied: transformers' Gemma3Attention keeps it without passing
// `softcap` to its attention function (unlike Gemma 2), so Gemma 3 checkpoints are evaluated without it. Evidence:
// gemma3_tiny's config sets 50, and its transformers logits match ours at 1e-6 of the logit scale without the cap
// and differ by 5e-4 with it (from position 1 on, where a query first has two keys to weigh). The embedding is
// multiplied by sqrt(hidden_size) (in f32, the activation dtype), lm_head is tied to it, and the logits are
// soft-capped by final_logit_softcapping.
#include <cmath>

#include "engine/arch/decoder_config.h"
#include "engine/arch/decoder_model.h"

namespace fp4lab {

namespace {

struct Gemma3Config {
  DecoderConfig decoder;
  RopeConfig global_rope, local_rope;  // full_attention and sliding_attention layers
  float query_pre_attn_scalar = 0.0f;
  float final_softcap = 0.0f;          // 0 = off
};

std::string LayerPrefix(int layer) { return "model.layers." + std::to_string(layer) + "."; }

// The norm kinds of one layer, in checkpoint order.
constexpr const char* kLayerNorms[] = {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                                       "post_feedforward_layernorm"};

class Gemma3Model : public DecoderModel {
 public:
  Gemma3Model(const Gemma3Config& config, const TensorManifest& manifest, std::vector<int64_t> kv_widths,
              Backend& backend)
      : DecoderModel(config.decoder.model, manifest, std::move(kv_widths), backend), c_(config) {}

  Status Load(WeightLoader& loader) {
    const DecoderConfig& d = c_.decoder;
    const int global_table = AddRopeTable(RopeInverseFrequencies(c_.global_rope, d.head_dim));
    const int local_table = AddRopeTable(RopeInverseFrequencies(c_.local_rope, d.head_dim));
    FP4LAB_ASSIGN_OR_RETURN(embed_, LoadEmbedding(loader, "model.embed_tokens.weight"));
    for (int l = 0; l < d.num_layers; ++l) {
      const std::string p = LayerPrefix(l);
      const bool sliding = d.layer_types[l] == "sliding_attention";
      Layer layer;
      layer.layout = AttentionLayout{d.num_heads, d.num_kv_heads, d.head_dim,
                                     1.0f / std::sqrt(c_.query_pre_attn_scalar), sliding ? d.sliding_window : 0,
                                     /*softcap=*/0.0f, sliding ? local_table : global_table};
      for (int n = 0; n < 4; ++n) {
        FP4LAB_ASSIGN_OR_RETURN(layer.norms[n], LoadVector(loader, p + kLayerNorms[n] + ".weight"));
      }
      FP4LAB_RETURN_IF_ERROR(LoadAttention(loader, p + "self_attn.", /*per_head_norms=*/true, layer.attn));
      FP4LAB_ASSIGN_OR_RETURN(layer.attn.q_norm, LoadVector(loader, p + "self_attn.q_norm.weight"));
      FP4LAB_ASSIGN_OR_RETURN(layer.attn.k_norm, LoadVector(loader, p + "self_attn.k_norm.weight"));
      layer.attn.qk_norm_offset = 1.0f;
      FP4LAB_RETURN_IF_ERROR(LoadGatedMlp(loader, p + "mlp.", layer.mlp));
      layers_.push_back(std::move(layer));
    }
    FP4LAB_ASSIGN_OR_RETURN(final_norm_, LoadVector(loader, "model.norm.weight"));
    return Status::Ok();
  }

 protected:
  Status RunDecoder(StepBuffers& step, KvCache& cache, DeviceTensor& logits) override {
    const DecoderConfig& d = c_.decoder;
    const int64_t D = d.hidden_size;
    const float eps = d.rms_norm_eps;
    constexpr float kOnePlusW = 1.0f;
    Backend& b = backend();
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * x, Buffer(step, "x", D));
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * h, Buffer(step, "h", D));
    // x is the residual stream, h the sublayer input and output. Each residual add runs fused with the norm after
    // it (Backend::AddRmsNorm): after attention the pre-feedforward norm, after the MLP the next input norm.
    FP4LAB_RETURN_IF_ERROR(b.Embed(*embed_, *step.tokens, *x));
    FP4LAB_RETURN_IF_ERROR(b.Scale(*x, std::sqrt(static_cast<float>(D))));
    FP4LAB_RETURN_IF_ERROR(b.RmsNorm(*x, *layers_[0].norms[kInput], D, eps, kOnePlusW, *h));
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& L = layers_[l];
      FP4LAB_RETURN_IF_ERROR(Attend(step, L.attn, L.layout, eps, *h, *cache.k[l], *cache.v[l], *h));
      FP4LAB_RETURN_IF_ERROR(b.RmsNorm(*h, *L.norms[kPostAttention], D, eps, kOnePlusW, *h));
      FP4LAB_RETURN_IF_ERROR(b.AddRmsNorm(*x, *h, *L.norms[kPreFeedforward], D, eps, kOnePlusW, *h));
      FP4LAB_RETURN_IF_ERROR(GatedMlp(step, L.mlp, Activation::kGeluTanh, *h, *h));
      FP4LAB_RETURN_IF_ERROR(b.RmsNorm(*h, *L.norms[kPostFeedforward], D, eps, kOnePlusW, *h));
      const DeviceTensor& next = l + 1 < layers_.size() ? *layers_[l + 1].norms[kInput] : *final_norm_;
      FP4LAB_RETURN_IF_ERROR(b.AddRmsNorm(*x, *h, next, D, eps, kOnePlusW, *h));
    }
    FP4LAB_RETURN_IF_ERROR(Linear(*h, *embed_, logits));
    return c_.final_softcap > 0.0f ? b.SoftCap(logits, c_.final_softcap) : Status::Ok();
  }

 private:
  enum NormIndex { kInput, kPostAttention, kPreFeedforward, kPostFeedforward };  // kLayerNorms order
  struct Layer {
    std::unique_ptr<DeviceTensor> norms[4];  // [1, D] each, by NormIndex
    AttentionWeights attn;
    AttentionLayout layout;
    GatedMlpWeights mlp;
  };

  Gemma3Config c_;
  std::unique_ptr<DeviceLinear> embed_;  // [V, D], also the output head
  std::vector<Layer> layers_;
  std::unique_ptr<DeviceTensor> final_norm_;
};

class Gemma3Blueprint : public ModelBlueprint {
 public:
  explicit Gemma3Blueprint(Gemma3Config config) : c_(std::move(config)) {
    const DecoderConfig& d = c_.decoder;
    const int64_t D = d.hidden_size, q = int64_t{d.num_heads} * d.head_dim, kv = int64_t{d.num_kv_heads} * d.head_dim;
    // (1 + w) norms: synthetic weights hold w = 0, an identity scale like the 1.0 of x * w norms.
    constexpr float kIdentity = 0.0f;
    TensorManifest& m = manifest_;
    m.AddEmbedding("model.embed_tokens.weight", d.model.vocab_size, D);
    for (int l = 0; l < d.num_layers; ++l) {
      const std::string p = LayerPrefix(l), attn = p + "self_attn.", mlp = p + "mlp.";
      for (const char* norm : kLayerNorms) m.AddVector(p + norm + ".weight", "norms", D, kIdentity);
      m.AddLinear(attn + "q_proj", "attention", q, D, attn + "qkv_proj", d.attention_bias);
      m.AddLinear(attn + "k_proj", "attention", kv, D, attn + "qkv_proj", d.attention_bias);
      m.AddLinear(attn + "v_proj", "attention", kv, D, attn + "qkv_proj", d.attention_bias);
      m.AddLinear(attn + "o_proj", "attention", D, q);
      m.AddVector(attn + "q_norm.weight", "norms", d.head_dim, kIdentity);
      m.AddVector(attn + "k_norm.weight", "norms", d.head_dim, kIdentity);
      m.AddLinear(mlp + "gate_proj", "mlp", d.intermediate_size, D, mlp + "gate_up_proj");
      m.AddLinear(mlp + "up_proj", "mlp", d.intermediate_size, D, mlp + "gate_up_proj");
      m.AddLinear(mlp + "down_proj", "mlp", D, d.intermediate_size);
    }
    m.AddVector("model.norm.weight", "norms", D, kIdentity);
  }

  const ModelConfig& config() const override { return c_.decoder.model; }
  const TensorManifest& manifest() const override { return manifest_; }
  std::vector<int64_t> KvWidths() const override {
    const DecoderConfig& d = c_.decoder;
    return std::vector<int64_t>(static_cast<size_t>(d.num_layers), int64_t{d.num_kv_heads} * d.head_dim);
  }
  int64_t ActivationFloatsPerRow() const override {
    const DecoderConfig& d = c_.decoder;
    const int64_t q = int64_t{d.num_heads} * d.head_dim, kv = int64_t{d.num_kv_heads} * d.head_dim;
    // x, h; q, attn, k, v; gate and gate|up; the logits row.
    return 2 * d.hidden_size + 2 * q + 2 * kv + 3 * int64_t{d.intermediate_size} + d.model.vocab_size;
  }
  Result<std::unique_ptr<Model>> Load(WeightLoader& loader, Backend& backend) const override {
    auto model = std::make_unique<Gemma3Model>(c_, manifest_, KvWidths(), backend);
    FP4LAB_RETURN_IF_ERROR(model->Load(loader));
    return std::unique_ptr<Model>(std::move(model));
  }

 private:
  Gemma3Config c_;
  TensorManifest manifest_;
};

Result<std::unique_ptr<ModelBlueprint>> ParseGemma3(const nlohmann::json& json, const std::string& path) {
  const ConfigReader r(json, path);
  Gemma3Config c;
  FP4LAB_ASSIGN_OR_RETURN(c.decoder, ParseDecoderConfig(r, "gemma3", "gelu_pytorch_tanh"));
  const DecoderConfig& d = c.decoder;
  if (d.hidden_act != "gelu_pytorch_tanh") {
    return r.Error("hidden_activation", "is '" + d.hidden_act + "', expected gelu_pytorch_tanh");
  }
  if (!r.Has("layer_types")) {
    // Older configs give a period instead (transformers' Gemma3TextConfig: layer l slides unless (l + 1) is a
    // multiple of sliding_window_pattern, 6 by default).
    FP4LAB_ASSIGN_OR_RETURN(const int64_t legacy, r.OptionalInt("_sliding_window_pattern", 6, 1, kMaxLayers));
    FP4LAB_ASSIGN_OR_RETURN(const int64_t period, r.OptionalInt("sliding_window_pattern", legacy, 1, kMaxLayers));
    if (d.sliding_window <= 0) return r.Error("sliding_window", "must be a positive integer for gemma3");
    for (int l = 0; l < d.num_layers; ++l) {
      c.decoder.layer_types[l] = (l + 1) % period == 0 ? "full_attention" : "sliding_attention";
    }
  }
  FP4LAB_ASSIGN_OR_RETURN(const bool bidirectional, r.OptionalBool("use_bidirectional_attention", false));
  if (bidirectional) return r.Error("use_bidirectional_attention", "is true, which fp4lab does not support");
  FP4LAB_ASSIGN_OR_RETURN(const double scalar,
                          r.OptionalNumber("query_pre_attn_scalar", d.head_dim, 1e-6, kMaxModelDimension));
  // Validated like every field, then ignored as transformers ignores it (see the top of this file).
  // A named Result: `.status()` of a temporary is a reference into it, dangling once the macro's statement ends
  // (ASan: stack-use-after-scope in every gemma3 load).
  const Result<double> attn_cap = r.OptionalNumber("attn_logit_softcapping", 0.0, 0.0, 1e6);
  FP4LAB_RETURN_IF_ERROR(attn_cap);
  FP4LAB_ASSIGN_OR_RETURN(const double final_cap, r.OptionalNumber("final_logit_softcapping", 0.0, 0.0, 1e6));
  c.query_pre_attn_scalar = static_cast<float>(scalar);
  c.final_softcap = static_cast<float>(final_cap);
  // RoPE per layer type: newer configs key rope_parameters by layer type; older ones give the global RoPE as
  // rope_theta + rope_scaling and the local base as rope_local_base_freq.
  FP4LAB_ASSIGN_OR_RETURN(c.global_rope, ParseRopeConfig(r, "full_attention"));
  FP4LAB_ASSIGN_OR_RETURN(c.local_rope, ParseRopeConfig(r, "sliding_attention"));
  if (!r.Has("rope_parameters")) {
    FP4LAB_ASSIGN_OR_RETURN(const double local_base, r.OptionalNumber("rope_local_base_freq", 10000.0, 1e-3, 1e12));
    c.local_rope = RopeConfig();
    c.local_rope.theta = static_cast<float>(local_base);
  }
  FP4LAB_ASSIGN_OR_RETURN(const bool tied, r.OptionalBool("tie_word_embeddings", true));
  if (!tied) return r.Error("tie_word_embeddings", "is false; gemma3 ties lm_head to the embedding");
  c.decoder.tie_word_embeddings = true;
  return std::unique_ptr<ModelBlueprint>(new Gemma3Blueprint(std::move(c)));
}

}  // namespace

ArchitectureSpec Gemma3Architecture() { return {"gemma3", {"gemma3_text"}, &ParseGemma3}; }

}  // namespace fp4lab
