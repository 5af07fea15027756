#include "engine/arch/architecture.h"

namespace fp4lab {

const std::vector<ArchitectureSpec>& Architectures() {
  static const std::vector<ArchitectureSpec> kArchitectures = {
      LlamaArchitecture(),
      Qwen3Architecture(),
      Gemma3Architecture(),
      Qwen3MoeArchitecture(),
      Gemma4Architecture(),
      DiffusionGemmaArchitecture(),
  };
  return kArchitectures;
}

Result<const ArchitectureSpec*> FindArchitecture(const std::string& model_type, const std::string& config_path) {
  std::string supported;
  for (const auto& arch : Architectures()) {
    for (const auto& type : arch.model_types) {
      if (type == model_type) return &arch;
      supported += (supported.empty() ? "" : ", ") + type;
    }
  }
  return Status::InvalidArgument(config_path + ": unknown model_type '" + model_type + "' (supported: " +
                                 supported + ")");
}

Result<std::unique_ptr<ModelBlueprint>> ParseModelBlueprint(const nlohmann::json& config, const std::string& path) {
  if (!config.is_object() || !config.contains("model_type") || !config["model_type"].is_string()) {
    return Status::InvalidArgument(path + ": missing string field 'model_type'");
  }
  FP4LAB_ASSIGN_OR_RETURN(const ArchitectureSpec* arch,
                          FindArchitecture(config["model_type"].get<std::string>(), path));
  return arch->parse(config, path);
}

int64_t ModelBlueprint::KvCacheBytes(int64_t positions) const {
  int64_t per_position = 0;
  for (const int64_t width : KvWidths()) per_position += 2 * width;
  return 4 * positions * per_position;
}

}  // namespace fp4lab
