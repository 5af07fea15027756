// DecoderConfig: the config.json fields every decoder-only family of HF transformers shares (Llama, Qwen, Gemma),
// read once through ConfigReader. A family file calls ParseDecoderConfig and then reads its own extras.
#pragma once

#include <string>
#include <vector>

#include "engine/arch/config_reader.h"
#include "engine/arch/rope.h"
#include "engine/model_config.h"
#include "engine/status.h"

namespace fp4lab {

struct DecoderConfig {
  ModelConfig model;             // the task-facing part (vocab, context, token ids, model_type, family)
  int hidden_size = 0;           // D
  int intermediate_size = 0;     // F (the dense MLP's width)
  int num_layers = 0;
  int num_heads = 0;             // query heads
  int num_kv_heads = 0;          // key/value heads (GQA: num_heads % num_kv_heads == 0)
  int head_dim = 0;              // per head; hidden_size / num_heads unless the config says otherwise
  float rms_norm_eps = 1e-6f;
  RopeConfig rope;               // the top-level RoPE settings (a family with per-layer-type RoPE reads its own)
  bool tie_word_embeddings = false;
  bool attention_bias = false;   // q/k/v projections carry a bias (qwen2)
  std::string hidden_act;        // "silu", "gelu_pytorch_tanh", ...
  // Per layer: "full_attention" or "sliding_attention" (config.json's layer_types; all full when absent).
  std::vector<std::string> layer_types;
  int sliding_window = 0;        // keys a sliding layer sees (0 when no layer slides)
};

// Reads the shared fields of `config` for `family`. `default_act` is used when neither hidden_act nor
// hidden_activation is given. Errors name the file and field (ConfigReader).
Result<DecoderConfig> ParseDecoderConfig(const ConfigReader& config, const std::string& family,
                                         const std::string& default_act);

}  // namespace fp4lab
