// libFuzzer target: config.json and quantization configs. The input is parsed with the bounded JSON parser, then
// read as a config.json carrying quantization_config and as hf_quant_config.json; a parsed quant config resolves
// a few layer names (fnmatch and "re:" patterns). The model fields of config.json (engine/model_config.h) join this
// target with the engine's range-checked config reader (issue 19, being reshaped on main).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/file_util.h"
#include "engine/quant_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto json = fp4lab::ParseJsonBounded(text, "config.json");
  if (!json.ok()) return 0;
  const nlohmann::json empty = nlohmann::json::object();
  for (auto quant : {fp4lab::ParseQuantConfig(*json, "config.json", nullptr, ""),
                     fp4lab::ParseQuantConfig(empty, "config.json", &*json, "hf_quant_config.json")}) {
    if (!quant.ok()) continue;
    for (const char* layer : {"model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj", "lm_head"}) {
      (void)quant->Resolve(layer);
    }
  }
  return 0;
}
