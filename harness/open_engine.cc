#include "harness/open_engine.h"

#include "engine/file_util.h"

namespace fp4lab {

Result<std::unique_ptr<Engine>> OpenEngineFromFlags(const std::string& model, const std::string& precision,
                                                    const std::string& device, const std::string& calib_file,
                                                    const std::string& kv_cache) {
  EngineOptions options;
  options.model_dir = model;
  options.precision = precision;
  options.device = device;
  options.kv_cache = kv_cache;
  if (!calib_file.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(options.calibration_text, ReadFile(calib_file));
  }
  return Engine::Open(options);
}

}  // namespace fp4lab
