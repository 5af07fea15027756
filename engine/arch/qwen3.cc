// The Qwen3 family: the Llama-style pre-norm decoder (engine/arch/pre_norm_decoder.h) with per-head RMSNorm of q
// and k before RoPE (q_norm, k_norm: y = x * w over each head_dim group), usually tied embeddings and rope_theta 1e6.
#include "engine/arch/pre_norm_decoder.h"

namespace fp4lab {

namespace {

std::pair<std::string, std::string> Qwen3QkNormNames(int layer) {
  const std::string p = PreNormLayerPrefix(layer) + "self_attn.";
  return {p + "q_norm.weight", p + "k_norm.weight"};
}

Result<std::unique_ptr<ModelBlueprint>> ParseQwen3(const nlohmann::json& json, const std::string& path) {
  const ConfigReader r(json, path);
  FP4LAB_ASSIGN_OR_RETURN(DecoderConfig c, ParseDecoderConfig(r, "qwen3", "silu"));
  if (c.hidden_act != "silu") return r.Error("hidden_act", "is '" + c.hidden_act + "', expected silu");
  FP4LAB_ASSIGN_OR_RETURN(const bool sliding, r.OptionalBool("use_sliding_window", false));
  if (sliding) return r.Error("use_sliding_window", "is true, which the qwen3 family does not support yet");
  return std::unique_ptr<ModelBlueprint>(new PreNormBlueprint(std::move(c), &Qwen3QkNormNames));
}

}  // namespace

ArchitectureSpec Qwen3Architecture() { return {"qwen3", {"qwen3"}, &ParseQwen3}; }

}  // namespace fp4lab
