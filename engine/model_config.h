// ModelConfig: the hyperparameters of a decoder-only transformer (the blueprint), parsed from HF config.json.
//
// The struct holds what every architecture shares; an architecture file (engine/arch/<name>.cc) parses the
// fields of its own model_type and may set the optional features below. Adding an architecture means adding one
// file in engine/arch/ and one line in engine/arch/registry.cc.
#pragma once

#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"

namespace fp4lab {

struct RopeConfig {
  float theta = 10000.0f;
  // "default" or "llama3" (frequency-dependent scaling of Llama 3.1/3.2).
  std::string type = "default";
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string model_type;        // "llama", "mistral", "qwen2", "qwen3"
  std::string architecture;      // the family implementation that runs it, e.g. "llama"
  int hidden_size = 0;           // d_model
  int intermediate_size = 0;     // FFN width
  int num_layers = 0;
  int num_heads = 0;             // query heads
  int num_kv_heads = 0;          // key/value heads (GQA: num_heads % num_kv_heads == 0)
  int head_dim = 0;              // per head; hidden_size / num_heads unless the config says otherwise
  int vocab_size = 0;
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-6f;
  RopeConfig rope;
  bool tie_word_embeddings = false;
  bool attention_bias = false;   // q/k/v projections carry a bias (qwen2)
  bool qk_norm = false;          // per-head RMSNorm of q and k before RoPE (qwen3)
  std::string hidden_act = "silu";
  int bos_token_id = 1;
  int eos_token_id = 2;

  // Parameter count of the weights this config implies (embeddings counted once when tied).
  int64_t ParameterCount() const;
};

// Reads the common fields of a HF config.json. `path` names the file in errors. Architecture files call this and
// then read their own extras. Missing required fields -> InvalidArgument naming the field.
Result<ModelConfig> ParseCommonConfig(const nlohmann::json& config, const std::string& path);

// RoPE from either the classic fields (rope_theta + rope_scaling) or the newer "rope_parameters" object.
Result<RopeConfig> ParseRopeConfig(const nlohmann::json& config, const std::string& path);

// Inverse frequencies for RoPE, head_dim / 2 of them, including llama3 scaling when configured.
std::vector<float> RopeInverseFrequencies(const RopeConfig& rope, int head_dim);

// The cos/sin table Backend::Rope reads, row-major [positions, 2 * inv_freq.size()]: row p holds
// cos(p * inv_freq[j]) in column j and sin(p * inv_freq[j]) in column inv_freq.size() + j, with the angle computed
// in f32 as HF does (float(p) * inv_freq[j]) and std::cos / std::sin of it.
std::vector<float> RopeTable(std::span<const float> inv_freq, int64_t positions);

}  // namespace fp4lab
