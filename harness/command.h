// One CLI command: its CLI11 sub-app and the action to run when it was chosen.
// Each command lives in harness/cmd_<name>.cc and exposes one Add<Name>Command function.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/status.h"

namespace fp4lab {

struct Command {
  CLI::App* app = nullptr;
  // Returns the exit code (0 or 1) or a Status for errors (mapped to 2 or 3 by ExitCodeFor).
  std::function<Result<int>()> run;
};

// 2 for input problems (invalid argument, not found, failed precondition, unimplemented), 3 otherwise.
int ExitCodeFor(const Status& status);

// Commands (one file each).
Command AddRunCommand(CLI::App& root, const std::string& command_line);
Command AddGenerateCommand(CLI::App& root);
Command AddChatCommand(CLI::App& root);
Command AddInspectCommand(CLI::App& root);
Command AddCompareCommand(CLI::App& root);
Command AddSamplesCommand(CLI::App& root);
Command AddMergeCommand(CLI::App& root);
Command AddLaunchCommand(CLI::App& root);
Command AddScoreHumanevalCommand(CLI::App& root);
Command AddReportCommand(CLI::App& root);
Command AddGateCommand(CLI::App& root);
Command AddQuantizeCommand(CLI::App& root);
Command AddBenchCommand(CLI::App& root);
Command AddLogitsCommand(CLI::App& root);
Command AddTokenizeCommand(CLI::App& root);

}  // namespace fp4lab
