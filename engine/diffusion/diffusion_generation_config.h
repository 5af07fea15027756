// DiffusionGenerationConfig: the block-diffusion sampler's settings, as a DiffusionGemma checkpoint's
// generation_config.json declares them and transformers' DiffusionGemmaGenerationConfig reads them.
//
// A field that is missing or null takes transformers' default (`_get_default_generation_params`), and the result is
// validated as transformers' `validate()` validates it after those defaults are applied. Fields the sampler does not
// use (transformers_version, return_dict_in_generate, cache_implementation, bos_token_id, max_length, ...) are not
// read; note that transformers would use max_length only when max_new_tokens is left at 256, which no released
// checkpoint does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

struct DiffusionGenerationConfig {
  int max_denoising_steps = 48;      // decoder passes per canvas at most (N); > 0
  int max_new_tokens = 256;          // canvases per generation = ceil(max_new_tokens / canvas_length); > 0
  double entropy_bound = 0.1;        // sampler_config.entropy_bound (nats); > 0
  double t_min = 0.4;                // temperature reached as the remaining steps go to 0; >= 0
  double t_max = 0.8;                // temperature of a canvas's first step; > t_min
  int stability_threshold = 1;       // previous argmax canvases the current one must equal to count as stable; >= 0
  double confidence_threshold = 0.005;  // mean entropy (nats) below which a canvas is confident; > 0
  std::vector<int32_t> eos_token_ids;   // empty: no EOS handling (transformers' eos_token_id None)
  std::optional<int32_t> pad_token_id;  // what transformers writes after an EOS; decides tokens_per_forward's count
};

// InvalidArgument naming `where` (a file) and the field for the first value transformers would refuse:
// max_denoising_steps or max_new_tokens <= 0, entropy_bound or confidence_threshold <= 0, t_min or t_max < 0,
// t_max <= t_min, stability_threshold < 0.
Status ValidateDiffusionGenerationConfig(const DiffusionGenerationConfig& config, const std::string& where);

// Parses the text of a generation_config.json; `where` names it in errors. Types as transformers checks them:
// the step counts and stability_threshold are JSON integers; entropy_bound and confidence_threshold are JSON floats
// (transformers' isinstance(x, float) refuses `1`, so must we); sampler_config is null or
// {"_cls_name": "EntropyBoundSamplerConfig", "entropy_bound": <float>} with no other field; eos_token_id is an id or
// a list of ids; pad_token_id an id.
Result<DiffusionGenerationConfig> ParseDiffusionGenerationConfig(std::string_view json_text, const std::string& where);

// <model_dir>/generation_config.json parsed as above, or every default when the checkpoint has none (transformers
// then logs "Generation config file not found, using the default generation config").
Result<DiffusionGenerationConfig> ReadDiffusionGenerationConfig(const std::string& model_dir);

}  // namespace fp4lab
