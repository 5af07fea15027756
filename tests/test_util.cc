#include "test_util.h"

#include <filesystem>

namespace fp4lab::testing {

std::string TempDir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(FP4LAB_BINARY_DIR) / "test_tmp" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace fp4lab::testing
