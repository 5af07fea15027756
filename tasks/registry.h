// Task registry: name -> factory, one line per task in registry.cc. A task is rebuilt from the options JSON the
// run stored (TaskRecord.config), which is how `fp4lab merge` recomputes metrics of merged shards.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"
#include "tasks/task.h"

namespace fp4lab {

// Names of every registered task, in the order `fp4lab run` runs them.
std::vector<std::string> TaskNames();

// Builds task `name` from `options` (task-specific keys; missing keys take defaults, unknown keys are an error).
// `data_dir` is where bundled datasets live (datasets/), for default data paths.
Result<std::unique_ptr<Task>> CreateTask(const std::string& name, const nlohmann::json& options,
                                         const std::string& data_dir);

}  // namespace fp4lab
