// libFuzzer target: model.safetensors.index.json of a sharded checkpoint. The input becomes the index of a
// directory holding two valid one-tensor shards (a.safetensors with "a", b.safetensors with "b") and
// SafetensorsReader::Open reads it: shard names must stay inside the directory, tensors must be where listed.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/safetensors.h"

namespace {

// A fresh directory per process, with the two shards written once.
const std::string& ModelDir() {
  static const std::string dir = [] {
    const std::string d =
        (std::filesystem::temp_directory_path() / ("fp4lab_fuzz_index_" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(d + "/model");
    for (const char* name : {"a", "b"}) {
      const std::string header =
          std::string("{\"") + name + "\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}";
      std::string bytes(8, '\0');
      const uint64_t n = header.size();
      std::memcpy(bytes.data(), &n, 8);
      std::ofstream(d + "/model/" + name + ".safetensors", std::ios::binary) << bytes << header << std::string(8, '\0');
    }
    // A shard outside the model directory: an index that reaches it must be refused.
    std::filesystem::copy_file(d + "/model/b.safetensors", d + "/outside.safetensors");
    return d + "/model";
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = ModelDir();
  std::ofstream(dir + "/model.safetensors.index.json", std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  auto reader = fp4lab::SafetensorsReader::Open(dir);
  if (reader.ok()) {
    for (const std::string& file : (*reader)->files()) {
      if (file.find("outside") != std::string::npos) __builtin_trap();  // escaped the model directory
    }
  }
  return 0;
}
