#include "harness/kv_cache_flag.h"

#include <algorithm>

#include "engine/engine.h"
#include "engine/kv_cache_format.h"

namespace fp4lab {

CLI::Option* AddKvCacheFlag(CLI::App& app, std::string& choice) {
  return app
      .add_option("--kv-cache", choice,
                  "KV-cache format: auto (what the checkpoint's kv_cache_quant_algo declares), bf16 or fp8 (E4M3 "
                  "with the checkpoint's k_scale/v_scale, else 1.0)")
      ->check(CLI::Validator(
          [](std::string& value) { return KvCacheChoiceError(value); },
          "auto|bf16|fp8"))
      ->capture_default_str();
}

Result<std::vector<std::string>> ResolvePrecisionLabels(
    const std::vector<std::string>& precisions, const std::string& choice,
    const std::function<std::string(const std::string& weights)>& model_dir_for) {
  std::vector<std::string> labels;
  for (const std::string& precision : precisions) {
    auto parsed = ParsePrecisionLabel(precision);
    if (!parsed.ok()) return parsed.status().WithContext("--precisions");
    KvCacheFormat kv = KvCacheFormat::kBf16;
    if (parsed->kv) {
      kv = *parsed->kv;
    } else {
      FP4LAB_ASSIGN_OR_RETURN(kv, ResolveKvCacheFormatOf(model_dir_for(parsed->weights), choice));
    }
    const std::string label = PrecisionLabelFor(parsed->weights, kv);
    if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
  }
  return labels;
}

}  // namespace fp4lab
