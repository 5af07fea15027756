#include "engine/arch/rope.h"

#include <cmath>

namespace fp4lab {

namespace {

// The scaling fields of one rope_parameters / rope_scaling object into `rope` (theta already set).
Status ReadScaling(const ConfigReader& scaling, RopeConfig& rope) {
  FP4LAB_ASSIGN_OR_RETURN(const std::string legacy_type, scaling.OptionalString("type", "default"));
  FP4LAB_ASSIGN_OR_RETURN(rope.type, scaling.OptionalString("rope_type", legacy_type));
  if (rope.type == "default") return Status::Ok();
  if (rope.type == "linear") {
    FP4LAB_ASSIGN_OR_RETURN(const double factor, scaling.Number("factor", 1e-6, 1e6));
    rope.factor = static_cast<float>(factor);
    return Status::Ok();
  }
  if (rope.type == "proportional") {
    FP4LAB_ASSIGN_OR_RETURN(const double factor, scaling.OptionalNumber("factor", 1.0, 1e-6, 1e6));
    FP4LAB_ASSIGN_OR_RETURN(const double partial, scaling.OptionalNumber("partial_rotary_factor", 1.0, 0.0, 1.0));
    rope.factor = static_cast<float>(factor);
    rope.partial_rotary_factor = partial;
    return Status::Ok();
  }
  if (rope.type == "llama3") {
    FP4LAB_ASSIGN_OR_RETURN(const double factor, scaling.OptionalNumber("factor", 8.0, 1e-6, 1e6));
    FP4LAB_ASSIGN_OR_RETURN(const double low, scaling.OptionalNumber("low_freq_factor", 1.0, 1e-6, 1e6));
    FP4LAB_ASSIGN_OR_RETURN(const double high, scaling.OptionalNumber("high_freq_factor", 4.0, 1e-6, 1e6));
    FP4LAB_ASSIGN_OR_RETURN(const int64_t original,
                            scaling.OptionalInt("original_max_position_embeddings", 8192, 1, kMaxContext));
    if (!(high > low)) return scaling.Error("high_freq_factor", "must be greater than low_freq_factor");
    rope.factor = static_cast<float>(factor);
    rope.low_freq_factor = static_cast<float>(low);
    rope.high_freq_factor = static_cast<float>(high);
    rope.original_max_position_embeddings = static_cast<int>(original);
    return Status::Ok();
  }
  return scaling.Error("rope_type", "is '" + rope.type + "', expected one of default, linear, llama3, proportional");
}

}  // namespace

Result<RopeConfig> ParseRopeConfig(const ConfigReader& config, const std::string& layer_type) {
  RopeConfig rope;
  FP4LAB_ASSIGN_OR_RETURN(const double top_theta, config.OptionalNumber("rope_theta", 10000.0, 1e-3, 1e12));
  rope.theta = static_cast<float>(top_theta);
  // Newer transformers write {"rope_parameters": {"rope_theta": .., "rope_type": .., ...}} (per layer type for
  // Gemma 3); older ones rope_theta at top level plus an optional rope_scaling object with the same keys.
  if (config.Has("rope_parameters")) {
    FP4LAB_ASSIGN_OR_RETURN(ConfigReader params, config.Child("rope_parameters"));
    if (!layer_type.empty() && params.Has(layer_type)) {
      FP4LAB_ASSIGN_OR_RETURN(params, params.Child(layer_type));
    }
    FP4LAB_ASSIGN_OR_RETURN(const double theta, params.OptionalNumber("rope_theta", top_theta, 1e-3, 1e12));
    rope.theta = static_cast<float>(theta);
    FP4LAB_RETURN_IF_ERROR(ReadScaling(params, rope));
  } else if (config.Has("rope_scaling")) {
    FP4LAB_ASSIGN_OR_RETURN(const ConfigReader scaling, config.Child("rope_scaling"));
    FP4LAB_RETURN_IF_ERROR(ReadScaling(scaling, rope));
  }
  return rope;
}

std::vector<float> RopeInverseFrequencies(const RopeConfig& rope, int head_dim) {
  std::vector<float> inv(head_dim / 2);
  for (int i = 0; i < head_dim / 2; ++i) {
    // HF computes 1 / theta^(2i/d) in float32 from an int64 arange; we do the same in double then round.
    inv[i] = static_cast<float>(1.0 / std::pow(static_cast<double>(rope.theta), (2.0 * i) / head_dim));
  }
  if (rope.type == "proportional") {
    // transformers _compute_proportional_rope_parameters: the first int(partial * head_dim // 2) pairs keep the
    // frequencies above (exponents over the whole head_dim), the others get 0 (cos 1, sin 0: not rotated); then all
    // are divided by `factor`.
    const auto rotated = static_cast<size_t>(std::floor(rope.partial_rotary_factor * head_dim / 2));
    for (size_t i = rotated; i < inv.size(); ++i) inv[i] = 0.0f;
    for (auto& f : inv) f /= rope.factor;
  } else if (rope.type == "linear") {
    // transformers _compute_linear_scaling_rope_parameters: inv_freq / factor (in float32).
    for (auto& f : inv) f /= rope.factor;
  } else if (rope.type == "llama3") {
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

}  // namespace fp4lab
