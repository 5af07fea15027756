// The Llama family: llama, mistral and qwen2 (attention bias) checkpoints, the pre-norm decoder of
// engine/arch/pre_norm_decoder.h with SiLU-gated MLPs and no QK-norm.
#include "engine/arch/pre_norm_decoder.h"

namespace fp4lab {

namespace {

Result<std::unique_ptr<ModelBlueprint>> ParseLlama(const nlohmann::json& json, const std::string& path) {
  const ConfigReader r(json, path);
  FP4LAB_ASSIGN_OR_RETURN(DecoderConfig c, ParseDecoderConfig(r, "llama", "silu"));
  if (c.model.model_type == "qwen2") c.attention_bias = true;
  if (c.hidden_act != "silu") return r.Error("hidden_act", "is '" + c.hidden_act + "', expected silu");
  FP4LAB_ASSIGN_OR_RETURN(const bool mlp_bias, r.OptionalBool("mlp_bias", false));
  if (mlp_bias) return r.Error("mlp_bias", "is true, which the llama family does not support");
  for (const std::string& type : c.layer_types) {
    if (type != "full_attention") return r.Error("layer_types", "has '" + type + "' (the llama family runs only "
                                                 "full_attention layers)");
  }
  return std::unique_ptr<ModelBlueprint>(new PreNormBlueprint(std::move(c), nullptr));
}

}  // namespace

ArchitectureSpec LlamaArchitecture() { return {"llama", {"llama", "mistral", "qwen2"}, &ParseLlama}; }

}  // namespace fp4lab
