// The pre-norm decoder of Llama-style checkpoints (llama, mistral, qwen2, qwen3, qwen3_moe), shared by their family
// files:
//   h = x + o_proj(attn(rope(q_proj(n1(x))), rope(k_proj(n1(x))), v_proj(n1(x))))
//   y = h + down_proj(silu(gate_proj(n2(h))) * up_proj(n2(h)))      (or routed experts: PreNormMoe)
// with RMSNorm n1/n2 (x * w), GQA, rotate-half RoPE, a final RMSNorm before lm_head (tied to the embedding or not)
// and optional per-head q/k norms (Qwen3), whose tensor names the family supplies.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/arch/decoder_config.h"
#include "engine/arch/decoder_model.h"

namespace fp4lab {

// "model.layers.<l>."
std::string PreNormLayerPrefix(int layer);

// Routed experts in place of the dense MLP on some layers (Qwen3-MoE's sparse blocks): on such a layer the MLP is
//   logits = mlp.gate(n2(h)) [E];  top-k of softmax(logits), renormalized if `renormalize`;
//   y = h + sum_j w_j * experts.<id_j>(n2(h)), each expert a SiLU-gated MLP of width `intermediate_size`.
struct PreNormMoe {
  int num_experts = 0;            // E; 0: no layer has experts
  int top_k = 0;                  // k
  int intermediate_size = 0;      // each expert's width (moe_intermediate_size)
  bool renormalize = false;       // norm_topk_prob
  std::vector<bool> sparse;       // per layer: routed experts instead of the dense MLP
};

// Names of layer l's per-head q and k norm weights (a family with QK-norm supplies them).
using QkNormNames = std::pair<std::string, std::string> (*)(int layer);

// The blueprint of a pre-norm decoder family: its manifest is the embedding, every layer's norms, q/k/v/o (and the
// per-head q/k norms when `qk_norm_names` is given), gate/up/down, the final norm and (untied) lm_head.
class PreNormBlueprint : public ModelBlueprint {
 public:
  PreNormBlueprint(DecoderConfig config, QkNormNames qk_norm_names, PreNormMoe moe = {});

  const ModelConfig& config() const override { return c_.model; }
  const TensorManifest& manifest() const override { return manifest_; }
  std::vector<int64_t> KvWidths() const override;
  int64_t ActivationFloatsPerRow() const override;
  Result<std::unique_ptr<Model>> Load(WeightLoader& loader, Backend& backend) const override;

 private:
  bool IsSparse(int layer) const;  // routed experts instead of the dense MLP

  DecoderConfig c_;
  QkNormNames qk_norm_names_;  // null: no QK-norm
  PreNormMoe moe_;
  TensorManifest manifest_;
};

class PreNormDecoderModel : public DecoderModel {
 public:
  PreNormDecoderModel(const DecoderConfig& config, const PreNormMoe& moe, const TensorManifest& manifest,
                      Backend& backend);
  Status Load(WeightLoader& loader, const QkNormNames& qk_norm_names);

 protected:
  Status RunDecoder(StepBuffers& step, KvCache& cache, DeviceTensor& logits) override;

 private:
  struct Layer {
    std::unique_ptr<DeviceTensor> input_norm, post_norm;  // [1, D]
    AttentionWeights attn;
    GatedMlpWeights mlp;                      // dense layers
    std::unique_ptr<DeviceLinear> router;     // sparse layers: [E, D], and the experts
    ExpertsWeights experts;
  };
  // The norm weight applied to the residual stream before layer l: its input norm, or the final norm past the last.
  const DeviceTensor& NormBefore(size_t l) const;

  DecoderConfig c_;
  PreNormMoe moe_;
  AttentionLayout layout_;
  std::unique_ptr<DeviceLinear> embed_;    // [V, D]; also the output head when embeddings are tied
  std::vector<Layer> layers_;
  std::unique_ptr<DeviceTensor> final_norm_;
  std::unique_ptr<DeviceLinear> lm_head_;  // [V, D], null when tied
};

}  // namespace fp4lab
