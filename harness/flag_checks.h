// Checks on command-line flags, run before a command loads or writes anything.
//   AtLeast / InRange: CLI11 validators with messages a person reads ("must be >= 1, got 0"); NaN and text that is
//   not a number are refused. CLI11 reports a failed check as a parse error, which the CLI maps to exit 2.
//   CheckOutputFile: an output path whose folder exists and which is not itself a directory.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "engine/status.h"

namespace fp4lab {

CLI::Validator AtLeast(double min);
CLI::Validator InRange(double min, double max);  // inclusive

// InvalidArgument "<flag> <path>: folder '<dir>' does not exist" or "<flag> <path>: is a directory, expected a
// file path" so that a missing folder is found before a run or an evaluation, not after it.
Status CheckOutputFile(const std::string& flag, const std::string& path);

}  // namespace fp4lab
