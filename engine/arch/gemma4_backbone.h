// The Gemma 4 text backbone, shared by the gemma4 family (engine/arch/gemma4.cc: a causal language model) and the
// diffusion_gemma family (engine/arch/diffusion_gemma.cc: the same layers as a causal encoder and a bidirectional
// decoder). Every RMSNorm is y = x / rms(x) * w in f32 (w itself, not Gemma 3's 1 + w), or scale-free (no w). Per
// layer, with x the residual stream:
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
// attention_k_eq_v no v_proj: the values are the keys as projected (before k_norm and RoPE). After the last layer:
// the final norm, the lm_head tied to the embedding, and the soft-cap final_logit_softcapping.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/arch/config_reader.h"
#include "engine/arch/decoder_config.h"
#include "engine/arch/decoder_model.h"

namespace fp4lab {

// The attention shape of one layer.
struct Gemma4LayerShape {
  bool sliding = true;
  int heads = 0, kv_heads = 0, head_dim = 0;
  bool k_eq_v = false;  // no v_proj: values are the projected keys
};

struct Gemma4Config {
  DecoderConfig decoder;
  std::vector<Gemma4LayerShape> layers;
  RopeConfig global_rope, local_rope;  // full_attention and sliding_attention layers
  float final_softcap = 0.0f;          // 0 = off
  bool moe = false;                    // enable_moe_block
  int num_experts = 0, top_k = 0, moe_intermediate_size = 0;
};

// Reads the backbone's fields from the text config `r` (the top level of a gemma4_text config, text_config of a
// nested one), after ParseDecoderConfig filled c.decoder: the per-layer attention shapes, the RoPE of each layer
// type, the final soft-cap and the MoE block. With `diffusion_defaults` (DiffusionGemmaTextConfig, which drops the
// fields) the MoE block and attention_k_eq_v are always on and final_logit_softcapping defaults to 30. Refuses (naming the field) what the backbone does not run: per-layer input embeddings, KV
// sharing across layers, a hidden activation other than gelu_pytorch_tanh, untied embeddings.
Status ParseGemma4Backbone(const ConfigReader& r, bool diffusion_defaults, Gemma4Config& c);

// The manifest entries of layer `layer` whose tensors are named "<prefix>..." (prefix ends in "layers.<l>.").
void AddGemma4LayerTensors(TensorManifest& m, const Gemma4Config& c, const std::string& prefix, int layer);
// The experts entries of layer `layer` at "<prefix>experts.*.{gate,up,down}_proj" (part of AddGemma4LayerTensors).
void AddGemma4ExpertsTensors(TensorManifest& m, const Gemma4Config& c, const std::string& prefix);
// Per layer: the f32 values one position occupies in its K buffer and in its V buffer.
std::vector<int64_t> Gemma4KvWidths(const Gemma4Config& c);
// The f32 activation values a pass holds per row (ModelBlueprint::ActivationFloatsPerRow); `extra` adds a family's
// own buffers.
int64_t Gemma4ActivationFloatsPerRow(const Gemma4Config& c, int64_t extra = 0);

// The layers' forward pass over DecoderModel's sublayers; a family adds its embedding and head around them.
class Gemma4Backbone : public DecoderModel {
 protected:
  // The norms of one layer, by position in the checkpoint order of kGemma4LayerNorms (gemma4_backbone.cc); the last
  // three exist only with enable_moe_block.
  enum NormIndex {
    kInput,
    kPostAttention,
    kPreFeedforward,
    kPostFeedforward,
    kPostFeedforward1,
    kPreFeedforward2,
    kPostFeedforward2,
    kNormCount
  };
  struct Layer {
    std::unique_ptr<DeviceTensor> norms[kNormCount];  // [1, D] each, by NormIndex
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

  // `config` and `manifest` must outlive the model. Registers the RoPE tables every layer shape needs.
  Gemma4Backbone(const Gemma4Config& config, const TensorManifest& manifest, Backend& backend);

  const Gemma4Config& gemma4() const { return c_; }
  // Loads layer `l` from the tensors "<prefix>...".
  Result<Layer> LoadLayer(WeightLoader& loader, const std::string& prefix, int l);
  // A one-element vector of the checkpoint (layer_scalar) as a host float.
  static Result<float> LoadScalar(WeightLoader& loader, const std::string& name);
  // The routed experts of "<prefix>experts.*.{gate,up,down}_proj", entries of `manifest` (the model's by default).
  Status LoadExpertsAt(WeightLoader& loader, const std::string& prefix, ExpertsWeights& experts,
                       const TensorManifest* manifest = nullptr);

  // x = embed(tokens) * sqrt(hidden_size), in f32 (the activation dtype; HF casts the constant to the weights'
  // dtype, f32 in an f32 run).
  Status EmbedScaled(StepBuffers& step, const DeviceLinear& embed, DeviceTensor& x);
  // One layer over the rows of `step`: reads and updates the residual stream x [rows, D]; h and m are scratch
  // [rows, D]. `layout` is the attention layout (L.layout, or a decoder's bidirectional variant), `layer_scalar` and
  // `experts` the ones this pass uses (L's own unless a family's mode has its own), `attention_rows` as
  // DecoderModel::Attend.
  Status RunLayer(StepBuffers& step, const Layer& L, const AttentionLayout& layout, float layer_scalar,
                  const ExpertsWeights& experts, DeviceTensor& k_cache, DeviceTensor& v_cache, DeviceTensor& x,
                  DeviceTensor& h, DeviceTensor& m, const RowPlacement* attention_rows = nullptr);
  // logits = softcap(final_norm(x) @ embed^T); h is scratch [rows, D].
  Status Head(const DeviceTensor& x, const DeviceTensor& final_norm, const DeviceLinear& embed, DeviceTensor& h,
              DeviceTensor& logits);

 private:
  // out = post_feedforward_norm_2(experts(pre_feedforward_norm_2(x))), routed on x (see the top of this file).
  Status RunExperts(StepBuffers& step, const Layer& L, const ExpertsWeights& experts, const DeviceTensor& x,
                    DeviceTensor& out);

  const Gemma4Config& c_;
  std::vector<int> rope_tables_;  // per layer: its DecoderModel RoPE table
};

}  // namespace fp4lab
