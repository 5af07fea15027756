#include "harness/paths.h"

#include <cstdlib>

namespace fp4lab {

std::string DataDir() {
  const char* env = std::getenv("FP4LAB_DATA_DIR");
  if (env != nullptr && *env != '\0') return env;
  return FP4LAB_DEFAULT_DATA_DIR;
}

std::string DataPath(const std::string& relative) { return DataDir() + "/" + relative; }

}  // namespace fp4lab
