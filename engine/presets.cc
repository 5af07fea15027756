#include "engine/presets.h"

namespace fp4lab {

namespace {

// meta-llama/Llama-3.1-8B config.json (architecture, RoPE and token ids as published).
nlohmann::json Llama31_8B() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"attention_bias", false},
          {"bos_token_id", 128000},
          {"eos_token_id", 128001},
          {"head_dim", 128},
          {"hidden_act", "silu"},
          {"hidden_size", 4096},
          {"intermediate_size", 14336},
          {"max_position_embeddings", 131072},
          {"mlp_bias", false},
          {"model_type", "llama"},
          {"num_attention_heads", 32},
          {"num_hidden_layers", 32},
          {"num_key_value_heads", 8},
          {"rms_norm_eps", 1e-5},
          {"rope_scaling",
           {{"factor", 8.0},
            {"high_freq_factor", 4.0},
            {"low_freq_factor", 1.0},
            {"original_max_position_embeddings", 8192},
            {"rope_type", "llama3"}}},
          {"rope_theta", 500000.0},
          {"tie_word_embeddings", false},
          {"vocab_size", 128256}};
}

// meta-llama/Llama-3.2-1B config.json.
nlohmann::json Llama32_1B() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"attention_bias", false},
          {"bos_token_id", 128000},
          {"eos_token_id", 128001},
          {"head_dim", 64},
          {"hidden_act", "silu"},
          {"hidden_size", 2048},
          {"intermediate_size", 8192},
          {"max_position_embeddings", 131072},
          {"mlp_bias", false},
          {"model_type", "llama"},
          {"num_attention_heads", 32},
          {"num_hidden_layers", 16},
          {"num_key_value_heads", 8},
          {"rms_norm_eps", 1e-5},
          {"rope_scaling",
           {{"factor", 32.0},
            {"high_freq_factor", 4.0},
            {"low_freq_factor", 1.0},
            {"original_max_position_embeddings", 8192},
            {"rope_type", "llama3"}}},
          {"rope_theta", 500000.0},
          {"tie_word_embeddings", true},
          {"vocab_size", 128256}};
}

// Qwen/Qwen3-8B config.json.
nlohmann::json Qwen3_8B() {
  return {{"architectures", {"Qwen3ForCausalLM"}},
          {"attention_bias", false},
          {"bos_token_id", 151643},
          {"eos_token_id", 151645},
          {"head_dim", 128},
          {"hidden_act", "silu"},
          {"hidden_size", 4096},
          {"intermediate_size", 12288},
          {"max_position_embeddings", 40960},
          {"model_type", "qwen3"},
          {"num_attention_heads", 32},
          {"num_hidden_layers", 36},
          {"num_key_value_heads", 8},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 1000000.0},
          {"tie_word_embeddings", false},
          {"use_sliding_window", false},
          {"vocab_size", 151936}};
}

// Qwen/Qwen3-30B-A3B config.json: 48 layers, every one sparse (decoder_sparse_step 1, no mlp_only_layers), 128
// routed experts of width 768, top-8 renormalized. 30,532,122,624 parameters, 3,353,032,704 active per token
// (Qwen's "30.5B total, 3.3B activated"; tests/engine/presets_test.cc adds them up). Synthetic weights give the router
// mlp.gate rows ~ N(0, 1/2048) like every Linear (engine/synthetic_weights.h) and keep it bf16: on a normalized hidden
// state (RMS 1) every logit is then ~ N(0, 1), independently across experts, so each token's top 8 are a uniformly
// random 8 of the 128 and distinct tokens pick near-independent sets. A batch of B tokens thus reads about
// 128 * (1 - (1 - 8/128)^B) distinct experts (8 at B = 1, 82 at B = 16, nearly all 128 at B = 128): the balanced load that
// trained routers are pushed to by their load-balancing loss, and the cost a decode step really pays.
nlohmann::json Qwen3_30B_A3B() {
  return {{"architectures", {"Qwen3MoeForCausalLM"}},
          {"attention_bias", false},
          {"bos_token_id", 151643},
          {"decoder_sparse_step", 1},
          {"eos_token_id", 151645},
          {"head_dim", 128},
          {"hidden_act", "silu"},
          {"hidden_size", 2048},
          {"intermediate_size", 6144},
          {"max_position_embeddings", 40960},
          {"mlp_only_layers", nlohmann::json::array()},
          {"model_type", "qwen3_moe"},
          {"moe_intermediate_size", 768},
          {"norm_topk_prob", true},
          {"num_attention_heads", 32},
          {"num_experts", 128},
          {"num_experts_per_tok", 8},
          {"num_hidden_layers", 48},
          {"num_key_value_heads", 4},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 1000000.0},
          {"tie_word_embeddings", false},
          {"use_sliding_window", false},
          {"vocab_size", 151936}};
}

// The text_config of google/gemma-3-27b-it (Gemma3ForConditionalGeneration) as a gemma3_text config: five sliding
// layers (window 1024, local RoPE base 10000) then one global layer (RoPE 1e6, linear scaling 8), repeated.
nlohmann::json Gemma3_27B() {
  nlohmann::json layer_types = nlohmann::json::array();
  for (int l = 0; l < 62; ++l) layer_types.push_back(l % 6 == 5 ? "full_attention" : "sliding_attention");
  return {{"architectures", {"Gemma3ForCausalLM"}},
          {"attention_bias", false},
          {"attn_logit_softcapping", nullptr},
          {"bos_token_id", 2},
          {"eos_token_id", {1, 106}},
          {"final_logit_softcapping", nullptr},
          {"head_dim", 128},
          {"hidden_activation", "gelu_pytorch_tanh"},
          {"hidden_size", 5376},
          {"intermediate_size", 21504},
          {"layer_types", layer_types},
          {"max_position_embeddings", 131072},
          {"model_type", "gemma3_text"},
          {"num_attention_heads", 32},
          {"num_hidden_layers", 62},
          {"num_key_value_heads", 16},
          {"query_pre_attn_scalar", 168},
          {"rms_norm_eps", 1e-6},
          {"rope_local_base_freq", 10000.0},
          {"rope_scaling", {{"factor", 8.0}, {"rope_type", "linear"}}},
          {"rope_theta", 1000000.0},
          {"sliding_window", 1024},
          {"tie_word_embeddings", true},
          {"vocab_size", 262208}};
}

// The text model of google/gemma-4-26B-A4B as a gemma4_text config, as transformers 5.17 writes it (the backbone of
// datasets/configs/diffusiongemma-26b-a4b.json): 30 layers, five sliding (window 1024, 8 KV heads of 256, RoPE
// 1e4) then one global (2 KV heads of 512 with K = V, proportional RoPE 1e6 on a quarter of each head), hidden
// 2816, 16 query heads, a dense GeGLU MLP of 2112 beside 128 experts of 704 (top 8), vocab 262144, final softcap 30.
nlohmann::json Gemma4_26B_A4B() {
  nlohmann::json layer_types = nlohmann::json::array();
  nlohmann::json per_layer = nlohmann::json::object();
  for (int l = 0; l < 30; ++l) {
    const bool global = l % 6 == 5;
    layer_types.push_back(global ? "full_attention" : "sliding_attention");
    if (!global) continue;
    std::string key = std::to_string(l);  // zero-padded to two digits, as transformers writes it ("05")
    if (key.size() < 2) key.insert(key.begin(), '0');
    per_layer[key] = {{"head_dim", 512}, {"num_key_value_heads", 2}};
  }
  return {{"architectures", {"Gemma4ForCausalLM"}},
          {"attention_bias", false},
          {"attention_k_eq_v", true},
          {"bos_token_id", 2},
          {"enable_moe_block", true},
          {"eos_token_id", {1, 106}},
          {"final_logit_softcapping", 30.0},
          {"head_dim", 256},
          {"hidden_activation", "gelu_pytorch_tanh"},
          {"hidden_size", 2816},
          {"intermediate_size", 2112},
          {"layer_types", layer_types},
          {"max_position_embeddings", 262144},
          {"model_type", "gemma4_text"},
          {"moe_intermediate_size", 704},
          {"num_attention_heads", 16},
          {"num_experts", 128},
          {"num_hidden_layers", 30},
          {"num_key_value_heads", 8},
          {"pad_token_id", 0},
          {"per_layer_config", per_layer},
          {"rms_norm_eps", 1e-6},
          {"rope_parameters",
           {{"full_attention",
             {{"partial_rotary_factor", 0.25}, {"rope_theta", 1000000.0}, {"rope_type", "proportional"}}},
            {"sliding_attention", {{"rope_theta", 10000.0}, {"rope_type", "default"}}}}},
          {"sliding_window", 1024},
          {"tie_word_embeddings", true},
          {"top_k_experts", 8},
          {"vocab_size", 262144}};
}

// google/diffusiongemma-26B-A4B-it as NVIDIA's NVFP4 export declares it (datasets/configs/diffusiongemma-26b-a4b.json):
// the Gemma 4 26B-A4B backbone above as a diffusion_gemma text config, a canvas of 256, the Gemma 4 vision tower's
// shape (stored in the checkpoint, skipped by fp4lab: `inspect` lists it as such), and the quantization_config of the experts-only recipe (REAL_CHECKPOINTS.md section 5:
// NVFP4 routed experts, everything else bf16, FP8 E4M3 KV cache with no stored scales).
nlohmann::json DiffusionGemma_26B_A4B() {
  nlohmann::json text = Gemma4_26B_A4B();
  text["model_type"] = "diffusion_gemma_text";
  text["eos_token_id"] = 1;
  for (const char* dropped : {"architectures", "enable_moe_block", "final_logit_softcapping"}) text.erase(dropped);
  return {{"architectures", {"DiffusionGemmaForBlockDiffusion"}},
          {"canvas_length", 256},
          {"model_type", "diffusion_gemma"},
          {"tie_word_embeddings", true},
          {"text_config", text},
          {"vision_config",
           {{"model_type", "gemma4_vision"},
            {"head_dim", 64},
            {"hidden_activation", "gelu_pytorch_tanh"},
            {"hidden_size", 768},
            {"intermediate_size", 3072},
            {"num_attention_heads", 12},
            {"num_hidden_layers", 16},
            {"num_key_value_heads", 12},
            {"patch_size", 16},
            {"pooling_kernel_size", 3},
            {"position_embedding_size", 10240},
            {"rms_norm_eps", 1e-6},
            {"rope_parameters", {{"rope_theta", 100.0}, {"rope_type", "axial"}}}}},
          {"quantization_config",
           {{"quant_method", "modelopt"},
            {"quant_algo", "NVFP4"},
            {"kv_cache_quant_algo", "FP8"},
            {"group_size", 16},
            {"ignore",
             {"lm_head", "*self_attn*", "*.mlp.*", "*router*", "*self_conditioning*", "*vision_tower*",
              "*embed_vision*"}}}}};
}

// Small enough for the CPU reference in CI; every Linear's K is a multiple of 16 so all precisions quantize it.
nlohmann::json Tiny() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"head_dim", 32},
          {"hidden_act", "silu"},
          {"hidden_size", 128},
          {"intermediate_size", 384},
          {"max_position_embeddings", 512},
          {"model_type", "llama"},
          {"num_attention_heads", 4},
          {"num_hidden_layers", 2},
          {"num_key_value_heads", 2},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},
          {"tie_word_embeddings", false},
          {"vocab_size", 2048}};
}

}  // namespace

const std::vector<ModelPreset>& ModelPresets() {
  static const std::vector<ModelPreset> kPresets = {
      {"llama-3.1-8b", "Llama 3.1 8B shapes (32 layers, hidden 4096, GQA 32/8, FFN 14336, vocab 128256)",
       Llama31_8B()},
      {"llama-3.2-1b", "Llama 3.2 1B shapes (16 layers, hidden 2048, GQA 32/8, FFN 8192, tied embeddings)",
       Llama32_1B()},
      {"qwen3-8b", "Qwen3 8B shapes (36 layers, hidden 4096, GQA 32/8, QK-norm, FFN 12288, vocab 151936)",
       Qwen3_8B()},
      {"gemma-3-27b", "Gemma 3 27B text shapes (62 layers, 5 sliding : 1 global, hidden 5376, GQA 32/16, vocab 262208)",
       Gemma3_27B()},
      {"qwen3-30b-a3b",
       "Qwen3-30B-A3B MoE shapes (48 layers, hidden 2048, GQA 32/4, 128 experts top-8 of width 768, vocab 151936)",
       Qwen3_30B_A3B()},
      {"gemma-4-26b-a4b",
       "Gemma 4 26B-A4B text shapes (30 layers, 5 sliding : 1 global, hidden 2816, 128 experts top-8, vocab 262144)",
       Gemma4_26B_A4B()},
      {"diffusiongemma-26b-a4b",
       "DiffusionGemma 26B-A4B text shapes (the Gemma 4 26B-A4B backbone as a block-diffusion denoiser, canvas 256; "
       "experts-only NVFP4 and FP8 KV as NVIDIA's export declares)",
       DiffusionGemma_26B_A4B()},
      {"tiny", "2-layer llama (hidden 128, vocab 2048, context 512) for CPU runs and CI", Tiny()},
  };
  return kPresets;
}

std::string PresetNames() {
  std::string names;
  for (const ModelPreset& preset : ModelPresets()) names += (names.empty() ? "" : ", ") + preset.name;
  return names;
}

Result<const ModelPreset*> FindPreset(const std::string& name) {
  for (const ModelPreset& preset : ModelPresets()) {
    if (preset.name == name) return &preset;
  }
  return Status::InvalidArgument("unknown preset '" + name + "' (valid: " + PresetNames() + ")");
}

}  // namespace fp4lab
