#include "engine/diffusion/diffusion_generation_config.h"

#include <cmath>
#include <filesystem>

#include "engine/arch/config_reader.h"
#include "engine/file_util.h"

namespace fp4lab {

namespace {

// Most denoising steps or stability steps a config may ask for: far above any real schedule (48), low enough that
// step arithmetic never overflows an int.
constexpr int64_t kMaxSteps = int64_t{1} << 20;
constexpr double kMaxTemperature = 1e6;

// A JSON float (not an integer) above 0, as transformers' `isinstance(x, float) and x > 0`; `fallback` when missing
// or null.
Result<double> PositiveFloat(const ConfigReader& reader, const nlohmann::json& object, const std::string& key,
                             double fallback) {
  if (!reader.Has(key)) return fallback;
  const nlohmann::json& value = object[key];
  if (!value.is_number_float()) {
    return reader.Error(key, "is " + value.dump() + ", expected a float > 0 (transformers refuses an integer here; "
                             "write it with a decimal point)");
  }
  const double number = value.get<double>();
  if (!std::isfinite(number) || number <= 0.0) return reader.Error(key, "is " + value.dump() + ", expected a float > 0");
  return number;
}

// sampler_config: null (the default bound) or transformers' serialized EntropyBoundSamplerConfig.
Status ReadSamplerConfig(const ConfigReader& top, const nlohmann::json& object, DiffusionGenerationConfig* config) {
  if (!top.Has("sampler_config")) return Status::Ok();
  FP4LAB_ASSIGN_OR_RETURN(const ConfigReader sampler, top.Child("sampler_config"));
  const nlohmann::json& fields = object["sampler_config"];
  if (!fields.contains("_cls_name") || fields["_cls_name"] != "EntropyBoundSamplerConfig") {
    return sampler.Error("_cls_name", "is " + (fields.contains("_cls_name") ? fields["_cls_name"].dump() : "missing") +
                                          ", expected \"EntropyBoundSamplerConfig\" (the only sampler DiffusionGemma "
                                          "has)");
  }
  for (const std::string& key : sampler.Keys()) {
    if (key != "_cls_name" && key != "entropy_bound") {
      return sampler.Error(key, "is not a field of EntropyBoundSamplerConfig (expected only entropy_bound)");
    }
  }
  if (!sampler.Has("entropy_bound")) return sampler.Error("entropy_bound", "is missing (expected a float > 0)");
  FP4LAB_ASSIGN_OR_RETURN(config->entropy_bound, PositiveFloat(sampler, fields, "entropy_bound", 0.0));
  return Status::Ok();
}

}  // namespace

Status ValidateDiffusionGenerationConfig(const DiffusionGenerationConfig& config, const std::string& where) {
  const auto bad = [&](const std::string& field, const std::string& what) {
    return Status::InvalidArgument(where + ": field '" + field + "' " + what);
  };
  if (config.max_denoising_steps <= 0) return bad("max_denoising_steps", "must be a positive integer");
  if (config.max_new_tokens <= 0) return bad("max_new_tokens", "must be a positive integer");
  if (!(config.entropy_bound > 0.0) || !std::isfinite(config.entropy_bound)) {
    return bad("sampler_config.entropy_bound", "must be a float > 0");
  }
  if (!(config.t_min >= 0.0) || !std::isfinite(config.t_min)) return bad("t_min", "must be >= 0");
  if (!(config.t_max >= 0.0) || !std::isfinite(config.t_max)) return bad("t_max", "must be >= 0");
  if (config.t_max <= config.t_min) {
    return bad("t_max", "is " + std::to_string(config.t_max) + ", expected more than t_min (" +
                            std::to_string(config.t_min) + ")");
  }
  if (config.stability_threshold < 0) return bad("stability_threshold", "must be an integer >= 0");
  if (!(config.confidence_threshold > 0.0) || !std::isfinite(config.confidence_threshold)) {
    return bad("confidence_threshold", "must be a float > 0");
  }
  for (const int32_t id : config.eos_token_ids) {
    if (id < 0) return bad("eos_token_id", "holds " + std::to_string(id) + ", expected token ids >= 0");
  }
  if (config.pad_token_id && *config.pad_token_id < 0) return bad("pad_token_id", "must be a token id >= 0");
  return Status::Ok();
}

Result<DiffusionGenerationConfig> ParseDiffusionGenerationConfig(std::string_view json_text, const std::string& where) {
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json object, ParseJsonBounded(json_text, where));
  const ConfigReader reader(object, where);
  FP4LAB_RETURN_IF_ERROR(reader.CheckObject());
  DiffusionGenerationConfig config;  // transformers' defaults
  FP4LAB_ASSIGN_OR_RETURN(const int64_t steps,
                          reader.OptionalInt("max_denoising_steps", config.max_denoising_steps, 1, kMaxSteps));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t new_tokens,
                          reader.OptionalInt("max_new_tokens", config.max_new_tokens, 1, kMaxContext));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t stability,
                          reader.OptionalInt("stability_threshold", config.stability_threshold, 0, kMaxSteps));
  config.max_denoising_steps = static_cast<int>(steps);
  config.max_new_tokens = static_cast<int>(new_tokens);
  config.stability_threshold = static_cast<int>(stability);
  FP4LAB_RETURN_IF_ERROR(ReadSamplerConfig(reader, object, &config));
  FP4LAB_ASSIGN_OR_RETURN(config.t_min, reader.OptionalNumber("t_min", config.t_min, 0.0, kMaxTemperature));
  FP4LAB_ASSIGN_OR_RETURN(config.t_max, reader.OptionalNumber("t_max", config.t_max, 0.0, kMaxTemperature));
  FP4LAB_ASSIGN_OR_RETURN(config.confidence_threshold,
                          PositiveFloat(reader, object, "confidence_threshold", config.confidence_threshold));
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<int64_t> eos_ids, reader.IdList("eos_token_id", kMaxVocabulary - 1));
  config.eos_token_ids.assign(eos_ids.begin(), eos_ids.end());
  if (reader.Has("pad_token_id")) {
    FP4LAB_ASSIGN_OR_RETURN(const int64_t pad, reader.Int("pad_token_id", 0, kMaxVocabulary - 1));
    config.pad_token_id = static_cast<int32_t>(pad);
  }
  // Cross-field rules (t_max > t_min) apply after the defaults, as transformers validates after filling them.
  FP4LAB_RETURN_IF_ERROR(ValidateDiffusionGenerationConfig(config, where));
  return config;
}

Result<DiffusionGenerationConfig> ReadDiffusionGenerationConfig(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "generation_config.json").string();
  if (!HasDirectoryEntry(path)) return DiffusionGenerationConfig();
  FP4LAB_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  return ParseDiffusionGenerationConfig(text, path);
}

}  // namespace fp4lab
