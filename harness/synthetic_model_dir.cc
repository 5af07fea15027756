#include "harness/synthetic_model_dir.h"

#include <array>
#include <filesystem>
#include <map>

#include "datasets/sha256.h"
#include "engine/file_util.h"

namespace fp4lab {
namespace {

namespace fs = std::filesystem;

constexpr std::array<const char*, 7> kTokenizerFiles = {
    "tokenizer.json",          "tokenizer.model",    "tokenizer_config.json", "generation_config.json",
    "special_tokens_map.json", "chat_template.json", "chat_template.jinja"};

// The tokenizer files of `dir` by name, inflated.
Result<std::map<std::string, std::string>> ReadTokenizerFiles(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const char* name : kTokenizerFiles) {
    const fs::path plain = fs::path(dir) / name;
    const fs::path gzipped = fs::path(dir) / (std::string(name) + ".gz");
    std::error_code ec;
    if (fs::exists(plain, ec)) {
      FP4LAB_ASSIGN_OR_RETURN(files[name], ReadFile(plain.string()));
    } else if (fs::exists(gzipped, ec)) {
      FP4LAB_ASSIGN_OR_RETURN(files[name], ReadGzipFile(gzipped.string()));
    }
  }
  if (!files.count("tokenizer.json") && !files.count("tokenizer.model")) {
    return Status::NotFound(dir + ": no tokenizer here (expected tokenizer.json, tokenizer.json.gz or "
                            "tokenizer.model)");
  }
  return files;
}

}  // namespace

Result<std::string> WriteSyntheticModel(SyntheticModelSpec spec, const std::string& slug,
                                        const std::string& tokenizer_dir) {
  std::map<std::string, std::string> tokenizer;
  if (!tokenizer_dir.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(tokenizer, ReadTokenizerFiles(tokenizer_dir));
  }
  std::string identity = spec.origin + "\n" + std::to_string(spec.seed) + "\n" + spec.config.dump();
  for (const auto& [name, bytes] : tokenizer) identity += "\n" + name + " " + Sha256Hex(bytes);
  std::error_code ec;
  const fs::path temp = fs::temp_directory_path(ec);
  if (ec) return Status::IoError("cannot find the system temp directory: " + ec.message());
  const std::string dir = (temp / "fp4lab-synthetic" / (slug + "-" + Sha256Hex(identity).substr(0, 12))).string();
  if (!tokenizer.empty()) {
    const fs::path copy = fs::path(dir) / "tokenizer";
    fs::create_directories(copy, ec);
    if (ec) return Status::IoError(copy.string() + ": cannot create directory: " + ec.message());
    for (const auto& [name, bytes] : tokenizer) {
      // An init-capture: clang 14 cannot capture a structured binding.
      FP4LAB_RETURN_IF_ERROR(WriteFileAtomically((copy / name).string(), [&bytes = bytes](std::ostream& out) -> Status {
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return Status::Ok();
      }));
    }
    spec.tokenizer_dir = copy.string();
  }
  FP4LAB_RETURN_IF_ERROR(WriteSyntheticModelDir(dir, spec));
  return dir;
}

}  // namespace fp4lab
