#include "engine/model_config.h"

#include <cmath>

namespace fp4lab {

namespace {

Status RequireInt(const nlohmann::json& j, const char* key, const std::string& path, int* out) {
  if (!j.contains(key)) return Status::InvalidArgument(path + ": missing required field '" + key + "'");
  if (!j[key].is_number_integer() || j[key].get<int64_t>() <= 0) {
    return Status::InvalidArgument(path + ": field '" + key + "' must be a positive integer");
  }
  *out = j[key].get<int>();
  return Status::Ok();
}

template <typename T>
T Optional(const nlohmann::json& j, const char* key, T fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  return j[key].get<T>();
}

// eos_token_id may be an int or a list (several stop ids); fp4lab keeps the first.
int FirstId(const nlohmann::json& j, const char* key, int fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (j[key].is_array()) return j[key].empty() ? fallback : j[key][0].get<int>();
  return j[key].get<int>();
}

}  // namespace

int64_t ModelConfig::ParameterCount() const {
  const int64_t d = hidden_size, q = int64_t{num_heads} * head_dim, kv = int64_t{num_kv_heads} * head_dim;
  int64_t per_layer = d * q + 2 * d * kv + q * d + 3 * d * intermediate_size + 2 * d;
  if (attention_bias) per_layer += q + 2 * kv;
  if (qk_norm) per_layer += 2 * head_dim;
  const int64_t embed = int64_t{vocab_size} * d;
  return per_layer * num_layers + embed * (tie_word_embeddings ? 1 : 2) + d;
}

Result<RopeConfig> ParseRopeConfig(const nlohmann::json& config, const std::string& path) {
  RopeConfig rope;
  // Newer transformers write {"rope_parameters": {"rope_theta": .., "rope_type": .., ...}}; older ones
  // rope_theta at top level plus an optional rope_scaling object with the same keys.
  const nlohmann::json* scaling = nullptr;
  if (config.contains("rope_parameters") && config["rope_parameters"].is_object()) {
    scaling = &config["rope_parameters"];
    rope.theta = Optional<float>(*scaling, "rope_theta", Optional<float>(config, "rope_theta", 10000.0f));
  } else {
    rope.theta = Optional<float>(config, "rope_theta", 10000.0f);
    if (config.contains("rope_scaling") && config["rope_scaling"].is_object()) scaling = &config["rope_scaling"];
  }
  if (scaling != nullptr) {
    std::string type = Optional<std::string>(*scaling, "rope_type", Optional<std::string>(*scaling, "type", "default"));
    if (type == "default") {
      rope.type = "default";
    } else if (type == "llama3") {
      rope.type = "llama3";
      rope.factor = Optional<float>(*scaling, "factor", 8.0f);
      rope.low_freq_factor = Optional<float>(*scaling, "low_freq_factor", 1.0f);
      rope.high_freq_factor = Optional<float>(*scaling, "high_freq_factor", 4.0f);
      rope.original_max_position_embeddings =
          Optional<int>(*scaling, "original_max_position_embeddings", 8192);
    } else {
      return Status::Unimplemented(path + ": rope type '" + type + "' is not supported (supported: default, llama3)");
    }
  }
  if (!(rope.theta > 0.0f)) return Status::InvalidArgument(path + ": rope_theta must be positive");
  return rope;
}

std::vector<float> RopeInverseFrequencies(const RopeConfig& rope, int head_dim) {
  std::vector<float> inv(head_dim / 2);
  for (int i = 0; i < head_dim / 2; ++i) {
    // HF computes 1 / theta^(2i/d) in float32 from an int64 arange; we do the same in double then round.
    inv[i] = static_cast<float>(1.0 / std::pow(static_cast<double>(rope.theta), (2.0 * i) / head_dim));
  }
  if (rope.type == "llama3") {
    // transformers _compute_llama3_parameters: long wavelengths are divided by `factor`, short ones kept,
    // the band between is interpolated smoothly.
    const double low_wavelen = rope.original_max_position_embeddings / rope.low_freq_factor;
    const double high_wavelen = rope.original_max_position_embeddings / rope.high_freq_factor;
    for (auto& f : inv) {
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen > low_wavelen) {
        f = static_cast<float>(f / rope.factor);
      } else if (wavelen >= high_wavelen) {
        const double smooth = (rope.original_max_position_embeddings / wavelen - rope.low_freq_factor) /
                              (rope.high_freq_factor - rope.low_freq_factor);
        f = static_cast<float>((1.0 - smooth) * f / rope.factor + smooth * f);
      }
    }
  }
  return inv;
}

std::vector<float> RopeTable(std::span<const float> inv_freq, int64_t positions) {
  const size_t half = inv_freq.size();
  std::vector<float> table(static_cast<size_t>(positions) * 2 * half);
  for (int64_t p = 0; p < positions; ++p) {
    float* row = table.data() + static_cast<size_t>(p) * 2 * half;
    for (size_t j = 0; j < half; ++j) {
      const float angle = static_cast<float>(p) * inv_freq[j];
      row[j] = std::cos(angle);
      row[half + j] = std::sin(angle);
    }
  }
  return table;
}

Result<ModelConfig> ParseCommonConfig(const nlohmann::json& config, const std::string& path) {
  if (!config.is_object()) return Status::InvalidArgument(path + ": expected a JSON object");
  ModelConfig c;
  try {
    c.model_type = Optional<std::string>(config, "model_type", "");
    FP4LAB_RETURN_IF_ERROR(RequireInt(config, "hidden_size", path, &c.hidden_size));
    FP4LAB_RETURN_IF_ERROR(RequireInt(config, "intermediate_size", path, &c.intermediate_size));
    FP4LAB_RETURN_IF_ERROR(RequireInt(config, "num_hidden_layers", path, &c.num_layers));
    FP4LAB_RETURN_IF_ERROR(RequireInt(config, "num_attention_heads", path, &c.num_heads));
    FP4LAB_RETURN_IF_ERROR(RequireInt(config, "vocab_size", path, &c.vocab_size));
    c.num_kv_heads = Optional<int>(config, "num_key_value_heads", c.num_heads);
    c.head_dim = Optional<int>(config, "head_dim", c.hidden_size / c.num_heads);
    c.max_position_embeddings = Optional<int>(config, "max_position_embeddings", 2048);
    c.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-6f);
    c.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
    c.attention_bias = Optional<bool>(config, "attention_bias", false);
    c.hidden_act = Optional<std::string>(config, "hidden_act", "silu");
    c.bos_token_id = FirstId(config, "bos_token_id", 1);
    c.eos_token_id = FirstId(config, "eos_token_id", 2);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(path + ": a field has the wrong type: " + e.what());
  }
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0) {
    return Status::InvalidArgument(path + ": num_attention_heads (" + std::to_string(c.num_heads) +
                                   ") must be a multiple of num_key_value_heads (" +
                                   std::to_string(c.num_kv_heads) + ")");
  }
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) {
    return Status::InvalidArgument(path + ": head_dim must be a positive even number, got " +
                                   std::to_string(c.head_dim));
  }
  FP4LAB_ASSIGN_OR_RETURN(c.rope, ParseRopeConfig(config, path));
  return c;
}

}  // namespace fp4lab
