// Provenance recorded with every run: what built fp4lab, where it ran, and the exact inputs (sha256 of the model
// files), so two stored numbers can be traced to what produced them.
#pragma once

#include <nlohmann/json.hpp>

#include "engine/status.h"
#include "harness/runner.h"

namespace fp4lab {

// {"fp4lab": {git_sha, build_type, version}, "host", "command_line", "plan": plan.Canonical(),
//  "model_files": {file: sha256} for the model and reference directories, "calibration_sha256" of the calibration
//  text, "placement" (--shard auto) and "cuda_visible_devices" when set}.
Result<nlohmann::json> CollectProvenance(const RunPlan& plan);

// sha256 of every regular file directly inside `dir`, by file name.
Result<nlohmann::json> HashDirectory(const std::string& dir);

}  // namespace fp4lab
