#include "test_util.h"

#include <filesystem>
#include <fstream>

#include "engine/file_util.h"

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

std::string TokenizerFixtureDir(const std::string& family, const std::string& name) {
  const std::string dir = TempDir(name);
  for (const auto& entry : std::filesystem::directory_iterator(FixturePath("tokenizers/" + family))) {
    const std::filesystem::path& source = entry.path();
    if (source.extension() == ".gz") {
      auto text = ReadGzipFile(source.string());
      EXPECT_TRUE(text.ok()) << text.status().ToString();
      if (!text.ok()) continue;
      std::ofstream(std::filesystem::path(dir) / source.stem(), std::ios::binary) << *text;
    } else {
      std::filesystem::copy_file(source, std::filesystem::path(dir) / source.filename());
    }
  }
  return dir;
}

}  // namespace fp4lab::testing
