#include "harness/provenance.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "datasets/sha256.h"

namespace fp4lab {

Result<nlohmann::json> HashDirectory(const std::string& dir) {
  nlohmann::json hashes = nlohmann::json::object();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code kind_ec;  // a symlink loop or dangling link is not hashed (and must not throw)
    if (!entry.is_regular_file(kind_ec)) continue;
    FP4LAB_ASSIGN_OR_RETURN(std::string hex, Sha256FileHex(entry.path().string()));
    hashes[entry.path().filename().string()] = hex;
  }
  if (ec) return Status::IoError(dir + ": cannot list: " + ec.message());
  return hashes;
}

Result<nlohmann::json> CollectProvenance(const RunPlan& plan) {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  nlohmann::json p = {{"fp4lab", {{"git_sha", FP4LAB_GIT_SHA}, {"build_type", FP4LAB_BUILD_TYPE},
                                   {"version", FP4LAB_VERSION_STRING}}},
                      {"host", host},
                      {"command_line", plan.command_line},
                      {"plan", plan.Canonical()}};
  if (!plan.placement.is_null()) p["placement"] = plan.placement;
  // Which GPUs this process could see: with the device index, which physical GPU ran this run (or shard).
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES")) p["cuda_visible_devices"] = visible;
  if (!plan.calibration_file.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(p["calibration_sha256"], Sha256FileHex(plan.calibration_file));
  }
  FP4LAB_ASSIGN_OR_RETURN(p["model_files"], HashDirectory(plan.model_dir));
  if (!plan.reference_dir.empty() && plan.reference_dir != plan.model_dir) {
    FP4LAB_ASSIGN_OR_RETURN(p["reference_files"], HashDirectory(plan.reference_dir));
  }
  return p;
}

}  // namespace fp4lab
