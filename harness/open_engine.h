// The engine a command's --model, --precision, --device, --calib and --kv-cache flags describe.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"

namespace fp4lab {

// Engine::Open with the calibration text read from `calib_file` (empty: none, for checkpoints that need none).
Result<std::unique_ptr<Engine>> OpenEngineFromFlags(const std::string& model, const std::string& precision,
                                                    const std::string& device, const std::string& calib_file,
                                                    const std::string& kv_cache);

}  // namespace fp4lab
