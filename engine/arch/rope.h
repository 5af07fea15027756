// Rotary position embeddings: the config forms HF writes, the inverse frequencies transformers computes, and the
// cos/sin table Backend::Rope reads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/arch/config_reader.h"
#include "engine/status.h"

namespace fp4lab {

struct RopeConfig {
  float theta = 10000.0f;
  // "default", "linear" (positions divided by `factor`: Gemma 3's global layers), "llama3" (frequency-dependent
  // scaling of Llama 3.1/3.2) or "proportional" (Gemma 4's global layers: only the first partial_rotary_factor of
  // each head's frequency pairs rotate, the rest keep frequency 0, i.e. pass through unrotated).
  std::string type = "default";
  float factor = 1.0f;
  double partial_rotary_factor = 1.0;  // "proportional" only (a double, as Python computes with it)
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position_embeddings = 8192;
};

// RoPE from either the classic fields (rope_theta + rope_scaling) or the newer "rope_parameters" object. When
// `layer_type` is given and rope_parameters is keyed by layer type (Gemma 3: {"full_attention": {...},
// "sliding_attention": {...}}), reads that entry.
Result<RopeConfig> ParseRopeConfig(const ConfigReader& config, const std::string& layer_type = "");

// Inverse frequencies for RoPE, head_dim / 2 of them, with the configured scaling.
std::vector<float> RopeInverseFrequencies(const RopeConfig& rope, int head_dim);

// The cos/sin table Backend::Rope reads, row-major [positions, 2 * inv_freq.size()]: row p holds
// cos(p * inv_freq[j]) in column j and sin(p * inv_freq[j]) in column inv_freq.size() + j, with the angle computed
// in f32 as HF does (float(p) * inv_freq[j]) and std::cos / std::sin of it.
std::vector<float> RopeTable(std::span<const float> inv_freq, int64_t positions);

}  // namespace fp4lab
