#include "test_util.h"

#include <filesystem>
#include <fstream>

namespace fp4lab::testing {

std::string TempDir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(FP4LAB_BINARY_DIR) / "test_tmp" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string WriteTempText(const std::string& name, const std::string& text) {
  const std::string path = TempDir(name) + "/data.txt";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace fp4lab::testing
