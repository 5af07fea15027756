#include "harness/cli.h"

#include <iostream>
#include <vector>

#include "harness/command.h"

namespace fp4lab {

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kUnimplemented: return 2;
    default: return 3;
  }
}

int RunCli(int argc, char** argv) {
  CLI::App app{
      "fp4lab: does an NVFP4 checkpoint hold up against its BF16 reference, and what does it buy?\n"
      "Runs both on identical inputs, scores perplexity, KL divergence, MMLU and HumanEval, measures latency and\n"
      "memory, stores everything in SQLite, renders reports and gates CI.\n\n"
      "Start with `fp4lab run` (bundled model and data), then `fp4lab report` and `fp4lab gate`.\n"
      "Exit codes: 0 ok, 1 gate failed, 2 bad input, 3 runtime failure.",
      "fp4lab"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("fp4lab ") + FP4LAB_VERSION_STRING);
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
  std::vector<Command> commands = {
      AddRunCommand(app, command_line),
      AddGenerateCommand(app),
      AddChatCommand(app),
      AddInspectCommand(app),
      AddCompareCommand(app),
      AddSamplesCommand(app),
      AddMergeCommand(app),
      AddLaunchCommand(app),
      AddScoreHumanevalCommand(app),
      AddReportCommand(app),
      AddGateCommand(app),
      AddQuantizeCommand(app),
      AddBenchCommand(app),
      AddLogitsCommand(app),
      AddTokenizeCommand(app),
  };
  // CLI11 alone answers an unknown command with "A subcommand is required"; name it and list the real ones.
  std::string names;
  bool known = false;
  for (const auto& command : commands) {
    names += (names.empty() ? "" : ", ") + command.app->get_name();
    known |= argc > 1 && command.app->get_name() == argv[1];
  }
  if (argc > 1 && argv[1][0] != '-' && !known) {
    std::cerr << "fp4lab: error: unknown command '" << argv[1] << "'; commands: " << names << "\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  for (auto& command : commands) {
    if (!command.app->parsed()) continue;
    Result<int> result = command.run();
    if (result.ok()) return *result;
    std::cerr << "fp4lab " << command.app->get_name() << ": error: " << result.status().message() << "\n";
    return ExitCodeFor(result.status());
  }
  return 2;
}

}  // namespace fp4lab
