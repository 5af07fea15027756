// --kv-cache auto|bf16|fp8: the KV-cache precision axis (engine/kv_cache_format.h), defined once for every command
// that opens an engine (run, bench, logits, generate). auto = what the checkpoint declares (kv_cache_quant_algo), as
// vLLM's --kv-cache-dtype auto does; a precision label's own "+kv-FORMAT" suffix wins over it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "engine/status.h"

namespace fp4lab {

// Adds --kv-cache to `app`, bound to `choice` (default "auto"). Any other value is a parse error naming the flag and
// the valid values (exit 2).
CLI::Option* AddKvCacheFlag(CLI::App& app, std::string& choice);

// The labels a run stores for `precisions` (weights names, or labels with their own "+kv-FORMAT"): each label
// without a suffix gets the format `choice` selects for the checkpoint it loads (`model_dir_for(weights)`), and every
// result names what runs (PrecisionLabelFor: "nvfp4", "nvfp4+kv-fp8"). Order kept, repeats dropped. Errors:
// InvalidArgument naming --precisions for a malformed label; ResolveKvCacheFormatOf's.
Result<std::vector<std::string>> ResolvePrecisionLabels(
    const std::vector<std::string>& precisions, const std::string& choice,
    const std::function<std::string(const std::string& weights)>& model_dir_for);

}  // namespace fp4lab
