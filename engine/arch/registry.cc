#include "engine/arch/architecture.h"

namespace fp4lab {

const std::vector<ArchitectureSpec>& Architectures() {
  static const std::vector<ArchitectureSpec> kArchitectures = {
      LlamaArchitecture(),
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

}  // namespace fp4lab
