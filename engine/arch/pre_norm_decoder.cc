#include "engine/arch/pre_norm_decoder.h"

#include <algorithm>
#include <cmath>

namespace fp4lab {

std::string PreNormLayerPrefix(int layer) { return "model.layers." + std::to_string(layer) + "."; }

PreNormBlueprint::PreNormBlueprint(DecoderConfig config, QkNormNames qk_norm_names, PreNormMoe moe)
    : c_(std::move(config)), qk_norm_names_(qk_norm_names), moe_(std::move(moe)) {
  const DecoderConfig& c = c_;
  TensorManifest& m = manifest_;
  const int64_t d = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim, kv = int64_t{c.num_kv_heads} * c.head_dim;
  m.AddEmbedding("model.embed_tokens.weight", c.model.vocab_size, d);
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = PreNormLayerPrefix(l), attn = p + "self_attn.", mlp = p + "mlp.";
    m.AddVector(p + "input_layernorm.weight", "norms", d);
    m.AddLinear(attn + "q_proj", "attention", q, d, attn + "qkv_proj", c.attention_bias);
    m.AddLinear(attn + "k_proj", "attention", kv, d, attn + "qkv_proj", c.attention_bias);
    m.AddLinear(attn + "v_proj", "attention", kv, d, attn + "qkv_proj", c.attention_bias);
    m.AddLinear(attn + "o_proj", "attention", d, q);
    if (qk_norm_names_ != nullptr) {
      const auto [q_norm, k_norm] = qk_norm_names_(l);
      m.AddVector(q_norm, "norms", c.head_dim);
      m.AddVector(k_norm, "norms", c.head_dim);
    }
    m.AddVector(p + "post_attention_layernorm.weight", "norms", d);
    if (IsSparse(l)) {
      const int64_t e = moe_.num_experts, f = moe_.intermediate_size;
      m.AddRouter(mlp + "gate", e, d);
      m.AddExperts(mlp + "experts.*.gate_proj", e, f, d, mlp + "experts.*.gate_up_proj");
      m.AddExperts(mlp + "experts.*.up_proj", e, f, d, mlp + "experts.*.gate_up_proj");
      m.AddExperts(mlp + "experts.*.down_proj", e, d, f);
      continue;
    }
    m.AddLinear(mlp + "gate_proj", "mlp", c.intermediate_size, d, mlp + "gate_up_proj");
    m.AddLinear(mlp + "up_proj", "mlp", c.intermediate_size, d, mlp + "gate_up_proj");
    m.AddLinear(mlp + "down_proj", "mlp", d, c.intermediate_size);
  }
  m.AddVector("model.norm.weight", "norms", d);
  if (!c.tie_word_embeddings) m.AddLinear("lm_head", "lm_head", c.model.vocab_size, d);
}

std::vector<int64_t> PreNormBlueprint::KvWidths() const {
  return std::vector<int64_t>(static_cast<size_t>(c_.num_layers), int64_t{c_.num_kv_heads} * c_.head_dim);
}

int64_t PreNormBlueprint::ActivationFloatsPerRow() const {
  const DecoderConfig& c = c_;
  const int64_t q = int64_t{c.num_heads} * c.head_dim, kv = int64_t{c.num_kv_heads} * c.head_dim;
  // x, h; q, attn and the fused qkv (or k, v); gate and the fused gate|up (or up); the logits row; with experts,
  // the router logits, the k weights, the experts' output and the experts op's scratch per slot (gate|up, hidden,
  // down output and a quantized input: engine/cuda/cuda_experts.h).
  const int64_t e_width = moe_.intermediate_size, d = c.hidden_size;
  const int64_t moe = moe_.num_experts > 0 ? moe_.num_experts + moe_.top_k + d +
                                                 int64_t{moe_.top_k} * (3 * e_width + d + std::max(d, e_width))
                                           : 0;
  return 2 * c.hidden_size + 3 * q + 2 * kv + 3 * int64_t{c.intermediate_size} + c.model.vocab_size + moe;
}

bool PreNormBlueprint::IsSparse(int layer) const {
  return moe_.num_experts > 0 && moe_.sparse.at(static_cast<size_t>(layer));
}

Result<std::unique_ptr<Model>> PreNormBlueprint::Load(WeightLoader& loader, Backend& backend) const {
  auto model = std::make_unique<PreNormDecoderModel>(c_, moe_, manifest_, backend);
  FP4LAB_RETURN_IF_ERROR(model->Load(loader, qk_norm_names_));
  return std::unique_ptr<Model>(std::move(model));
}

PreNormDecoderModel::PreNormDecoderModel(const DecoderConfig& config, const PreNormMoe& moe,
                                         const TensorManifest& manifest, Backend& backend)
    : DecoderModel(config.model, manifest,
                   std::vector<int64_t>(static_cast<size_t>(config.num_layers),
                                        int64_t{config.num_kv_heads} * config.head_dim),
                   backend),
      c_(config),
      moe_(moe) {}

Status PreNormDecoderModel::Load(WeightLoader& loader, const QkNormNames& qk_norm_names) {
  layout_ = AttentionLayout{c_.num_heads, c_.num_kv_heads, c_.head_dim,
                            1.0f / std::sqrt(static_cast<float>(c_.head_dim)), 0, 0.0f,
                            AddRopeTable(RopeInverseFrequencies(c_.rope, c_.head_dim))};
  FP4LAB_ASSIGN_OR_RETURN(embed_, LoadEmbedding(loader, "model.embed_tokens.weight"));
  for (int l = 0; l < c_.num_layers; ++l) {
    const std::string p = PreNormLayerPrefix(l);
    const auto [q_norm, k_norm] = qk_norm_names ? qk_norm_names(l) : std::pair<std::string, std::string>();
    Layer layer;
    FP4LAB_ASSIGN_OR_RETURN(layer.input_norm, LoadVector(loader, p + "input_layernorm.weight"));
    FP4LAB_ASSIGN_OR_RETURN(layer.post_norm, LoadVector(loader, p + "post_attention_layernorm.weight"));
    FP4LAB_RETURN_IF_ERROR(LoadAttention(loader, p + "self_attn.", !q_norm.empty(), layer.attn));
    if (!q_norm.empty()) {
      FP4LAB_ASSIGN_OR_RETURN(layer.attn.q_norm, LoadVector(loader, q_norm));
      FP4LAB_ASSIGN_OR_RETURN(layer.attn.k_norm, LoadVector(loader, k_norm));
    }
    if (moe_.num_experts > 0 && moe_.sparse.at(static_cast<size_t>(l))) {
      FP4LAB_ASSIGN_OR_RETURN(layer.router, LoadRouter(loader, p + "mlp.gate"));
      const std::string experts = p + "mlp.experts.*.";
      FP4LAB_RETURN_IF_ERROR(
          LoadExperts(loader, experts + "gate_proj", experts + "up_proj", experts + "down_proj", layer.experts));
    } else {
      FP4LAB_RETURN_IF_ERROR(LoadGatedMlp(loader, p + "mlp.", layer.mlp));
    }
    layers_.push_back(std::move(layer));
  }
  FP4LAB_ASSIGN_OR_RETURN(final_norm_, LoadVector(loader, "model.norm.weight"));
  if (!c_.tie_word_embeddings) {
    FP4LAB_ASSIGN_OR_RETURN(lm_head_, LoadLinear(loader, "lm_head"));
  }
  return Status::Ok();
}

const DeviceTensor& PreNormDecoderModel::NormBefore(size_t l) const {
  return l < layers_.size() ? *layers_[l].input_norm : *final_norm_;
}

Status PreNormDecoderModel::RunDecoder(StepBuffers& step, KvCache& cache, DeviceTensor& logits) {
  const int64_t d = c_.hidden_size;
  const float eps = c_.rms_norm_eps;
  FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * x, Buffer(step, "x", d));
  FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * h, Buffer(step, "h", d));
  Backend& b = backend();
  // x is the residual stream; h enters each layer as its input norm of x. Each residual add runs fused with the
  // norm that follows it (Backend::AddRmsNorm, out aliasing delta): after o_proj the post-attention norm, after
  // down_proj the next layer's input norm or the final norm.
  FP4LAB_RETURN_IF_ERROR(b.Embed(*embed_, *step.tokens, *x));
  FP4LAB_RETURN_IF_ERROR(b.RmsNorm(*x, NormBefore(0), d, eps, 0.0f, *h));
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    FP4LAB_RETURN_IF_ERROR(Attend(step, L.attn, layout_, eps, *h, *cache.k[l], *cache.v[l], *h));
    FP4LAB_RETURN_IF_ERROR(b.AddRmsNorm(*x, *h, *L.post_norm, d, eps, 0.0f, *h));
    if (L.router) {
      FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * logits_e, Buffer(step, "router_logits", moe_.num_experts));
      FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * routed, Buffer(step, "routed", d));
      FP4LAB_RETURN_IF_ERROR(Linear(*h, *L.router, *logits_e));
      const RoutingParams routing{moe_.top_k, moe_.renormalize, nullptr};
      FP4LAB_RETURN_IF_ERROR(RoutedExperts(step, L.experts, Activation::kSilu, routing, *logits_e, *h, *routed));
      FP4LAB_RETURN_IF_ERROR(b.AddRmsNorm(*x, *routed, NormBefore(l + 1), d, eps, 0.0f, *h));
      continue;
    }
    FP4LAB_RETURN_IF_ERROR(GatedMlp(step, L.mlp, Activation::kSilu, *h, *h));
    FP4LAB_RETURN_IF_ERROR(b.AddRmsNorm(*x, *h, NormBefore(l + 1), d, eps, 0.0f, *h));
  }
  return Linear(*h, lm_head_ ? *lm_head_ : *embed_, logits);
}

}  // namespace fp4lab
