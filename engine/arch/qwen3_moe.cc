// The Qwen3-MoE family (Qwen3-30B-A3B, Qwen3-235B-A22B): the Qwen3 decoder (engine/arch/pre_norm_decoder.h with
// per-head q/k norms) whose MLP is, on sparse layers, a router mlp.gate [E, D] and E routed SiLU experts
// (mlp.experts.<e>.{gate,up,down}_proj, or transformers 5's fused mlp.experts.gate_up_proj / down_proj, served per
// expert by engine/split_experts_source.h): softmax over the E router logits, the top num_experts_per_tok,
// renormalized to sum 1 when norm_topk_prob (as transformers' Qwen3MoeSparseMoeBlock). Layer l is sparse unless it
// is in mlp_only_layers or (l + 1) % decoder_sparse_step != 0; dense layers keep an MLP of intermediate_size.
#include "engine/arch/pre_norm_decoder.h"

#include <algorithm>

namespace fp4lab {

namespace {

std::pair<std::string, std::string> Qwen3MoeQkNormNames(int layer) {
  const std::string p = PreNormLayerPrefix(layer) + "self_attn.";
  return {p + "q_norm.weight", p + "k_norm.weight"};
}

Result<std::unique_ptr<ModelBlueprint>> ParseQwen3Moe(const nlohmann::json& json, const std::string& path) {
  const ConfigReader r(json, path);
  FP4LAB_ASSIGN_OR_RETURN(DecoderConfig c, ParseDecoderConfig(r, "qwen3_moe", "silu"));
  if (c.hidden_act != "silu") return r.Error("hidden_act", "is '" + c.hidden_act + "', expected silu");
  FP4LAB_ASSIGN_OR_RETURN(const bool sliding, r.OptionalBool("use_sliding_window", false));
  if (sliding) return r.Error("use_sliding_window", "is true, which the qwen3_moe family does not support yet");
  // transformers calls it num_experts; configs saved by transformers 5 write its alias num_local_experts.
  const std::string experts_key = r.Has("num_experts") ? "num_experts" : "num_local_experts";
  PreNormMoe moe;
  FP4LAB_ASSIGN_OR_RETURN(const int64_t experts, r.Int(experts_key, 1, kMaxExperts));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t top_k, r.Int("num_experts_per_tok", 1, experts));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t width, r.Int("moe_intermediate_size", 1, kMaxModelDimension));
  FP4LAB_ASSIGN_OR_RETURN(moe.renormalize, r.OptionalBool("norm_topk_prob", false));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t step, r.OptionalInt("decoder_sparse_step", 1, 1, kMaxLayers));
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<int64_t> dense, r.OptionalIntList("mlp_only_layers", 0, c.num_layers - 1));
  moe.num_experts = static_cast<int>(experts);
  moe.top_k = static_cast<int>(top_k);
  moe.intermediate_size = static_cast<int>(width);
  for (int l = 0; l < c.num_layers; ++l) {
    const bool listed = std::find(dense.begin(), dense.end(), l) != dense.end();
    moe.sparse.push_back(!listed && (l + 1) % step == 0);
  }
  return std::unique_ptr<ModelBlueprint>(new PreNormBlueprint(std::move(c), &Qwen3MoeQkNormNames, std::move(moe)));
}

}  // namespace

ArchitectureSpec Qwen3MoeArchitecture() { return {"qwen3_moe", {"qwen3_moe"}, &ParseQwen3Moe}; }

}  // namespace fp4lab
