// A checkpoint's quantization description (config.json "quantization_config", optionally hf_quant_config.json)
// parsed into a per-Linear resolver, and the writers that produce those fields for export.
// Spec: design/NVFP4.md sections 4 (ModelOpt) and 5 (compressed-tensors).
//
// Resolution rules, in order, for a Linear prefix such as "model.layers.0.self_attn.q_proj":
//   fused names : "...qkv_proj" resolves q_proj, k_proj, v_proj and "...gate_up_proj" resolves gate_proj, up_proj;
//                 all shards must agree (vLLM rejects mixed shards too), else InvalidArgument.
//   ModelOpt    : excluded if any exclude_modules pattern matches (fnmatch(3) wildcards, see below) -> kBf16;
//                 MIXED_PRECISION: quantized_layers[prefix].quant_algo, unlisted layers -> kBf16;
//                 otherwise the checkpoint-wide quant_algo.
//   compressed-tensors: ignored if any "ignore" entry matches -> kBf16; else the config group whose targets match,
//                 most specific first (exact name, then "re:" regex, then the class name "Linear"); no match -> kBf16.
// ModelOpt exclude patterns follow vLLM (modelopt.py): a pattern "name*" whose '*' is not preceded by '.' means
// the module subtree rooted at "name" and is matched as the two patterns "name" and "name.*" (vLLM's fix for
// issue #28072), so "model.layers.1*" excludes model.layers.1.mlp.down_proj but NOT model.layers.10.*; all other
// patterns use plain fnmatch (no FNM_PATHNAME: '*' crosses '.'). vLLM's legacy substring rule ("lm_head" in
// prefix) is deliberately not applied: it would let "model.layers.1" exclude layers 10-19.
// compressed-tensors names are matched as compressed_tensors.utils.match_name does: an exact string, or
// "re:<regex>" tested with Python re.match semantics, i.e. anchored at the START only (not a full match):
// "re:.*mlp" matches "model.layers.0.mlp.down_proj". Regexes use std::regex ECMAScript syntax, which agrees with
// Python re for the patterns checkpoints use (., *, +, ?, [], (), |, \d, $).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/linear_scheme.h"
#include "engine/status.h"

namespace fp4lab {


// One "ignore" / "targets" entry of a compressed-tensors config: an exact module name or "re:<regex>".
struct CtNamePattern {
  std::string text;  // as written in the file
  bool is_regex = false;
  std::regex regex;  // compiled text after "re:" when is_regex

  bool Matches(const std::string& name) const;
};

// One compressed-tensors config group.
struct CtConfigGroup {
  std::string name;                    // "group_0"
  std::vector<CtNamePattern> targets;  // class names ("Linear"), exact module names, "re:" regexes
  LinearScheme scheme = LinearScheme::kBf16;
};

struct QuantConfig {
  enum class Format { kNone, kModelOpt, kCompressedTensors };

  struct Resolution {
    LinearScheme scheme = LinearScheme::kBf16;
    std::string reason;  // e.g. "excluded by 'lm_head'", "quant_algo NVFP4"
  };

  Format format = Format::kNone;
  // ModelOpt: the upper-cased quant_algo ("NVFP4", "W4A16_NVFP4", "FP8", "MIXED_PRECISION").
  // compressed-tensors: the "format" value ("nvfp4-pack-quantized", "mixed-precision"). Empty for kNone.
  std::string algorithm;
  // Where it came from, for messages: "config.json" and/or "hf_quant_config.json" as passed to ParseQuantConfig.
  std::string source;
  // KV-cache quantization declared by the checkpoint, upper-cased ("FP8", "NVFP4"); empty when none. Recorded,
  // not interpreted here.
  std::string kv_cache_quant_algo;

  // ModelOpt.
  LinearScheme uniform_scheme = LinearScheme::kBf16;      // the scheme of every non-excluded layer (not MIXED)
  std::vector<std::string> exclude_modules;             // as written (before the "name*" expansion)
  std::map<std::string, LinearScheme> quantized_layers;  // MIXED_PRECISION only: layer prefix -> scheme

  // compressed-tensors.
  std::vector<CtNamePattern> ignore;
  std::vector<CtConfigGroup> groups;

  // The scheme of the Linear layer `linear_prefix` (its weight is "<linear_prefix>.weight").
  // Errors: InvalidArgument when the shards of a fused name resolve differently.
  Result<Resolution> Resolve(std::string_view linear_prefix) const;
};

// Parses the quantization description of a checkpoint.
//   config          : parsed config.json; its "quantization_config" object (if any) decides the format by
//                     "quant_method": "modelopt" or "compressed-tensors" (case-insensitive).
//   hf_quant_config : parsed hf_quant_config.json ({"quantization": {...}}) or nullptr when the file is absent.
// ModelOpt fields may come from either file; config.json wins field by field and hf_quant_config.json fills the
// gaps (older exports put quantized_layers only there). Both name a quant_algo and they differ -> error.
// No quantization_config and no hf_quant_config.json -> Format::kNone (every layer kBf16).
// Accepted ModelOpt quant_algo: NVFP4, W4A16_NVFP4, FP8, MIXED_PRECISION (per-layer: NVFP4, W4A16_NVFP4, FP8);
// NVFP4 group_size, when given, must be 16. compressed-tensors format: nvfp4-pack-quantized, or mixed-precision
// whose groups carry format nvfp4-pack-quantized or float-quantized; group schemes: weights {num_bits 4, type
// float, group_size 16} with input_activations {num_bits 4, type float} (W4A4) or without (W4A16), and weights
// {num_bits 8, type float, strategy tensor} with static per-tensor 8-bit float input_activations (FP8).
// Errors: InvalidArgument naming the file and the field and listing the accepted values; json type errors are
// caught and reported the same way. A compressed-tensors config.json beside an hf_quant_config.json is rejected
// as contradictory.
Result<QuantConfig> ParseQuantConfig(const nlohmann::json& config, const std::string& config_path,
                                     const nlohmann::json* hf_quant_config, const std::string& hf_path);

// The two JSON objects a ModelOpt export writes for a uniform scheme (kNvfp4 -> "NVFP4", kNvfp4W4A16 ->
// "W4A16_NVFP4", kFp8 -> "FP8"), with kv_cache_quant_algo null:
//   hf_quant_config     : the whole hf_quant_config.json
//   quantization_config : the value of config.json's "quantization_config"
// Matches tests/fixtures/llama_tiny_nvfp4 field by field. NVFP4 config_groups carry "symmetric": true and
// "strategy": "tensor_group" as in that fixture (Model-Optimizer's convert_hf_config writes only dynamic,
// num_bits, type, group_size; readers accept both). Errors: InvalidArgument for kBf16.
struct ModelOptJson {
  nlohmann::json hf_quant_config;
  nlohmann::json quantization_config;
};
Result<ModelOptJson> ModelOptQuantConfigJson(LinearScheme scheme, const std::vector<std::string>& exclude_modules,
                                             const std::string& producer_version);

// config.json "quantization_config" of a compressed-tensors export (format nvfp4-pack-quantized, status
// "compressed"), for kNvfp4 (input_activations dynamic "local") or kNvfp4W4A16 (no input_activations).
// Matches tests/fixtures/llama_tiny_nvfp4_ct. Errors: InvalidArgument for kBf16 and kFp8.
Result<nlohmann::json> CompressedTensorsQuantConfigJson(LinearScheme scheme, const std::vector<std::string>& ignore);

}  // namespace fp4lab
