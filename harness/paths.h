// Where the bundled model and data live. Defaults to the repository's datasets/ folder (baked in at build time);
// the environment variable FP4LAB_DATA_DIR overrides it (e.g. for an installed binary).
#pragma once

#include <string>

namespace fp4lab {

// The datasets/ directory.
std::string DataDir();
// DataDir() + "/" + relative.
std::string DataPath(const std::string& relative);
// The bundled default model (stories260K in HF form).
inline std::string DefaultModelDir() { return DataPath("models/stories260K"); }

}  // namespace fp4lab
