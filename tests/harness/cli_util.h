// Running the real fp4lab binary from tests: exit code and combined output.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace fp4lab::testing {

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `command` through the shell (a trusted test string) and collects its exit code and output.
inline CliResult RunShell(const std::string& command) {
  CliResult result;
  FILE* pipe = ::popen(("(" + command + ") 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) result.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// Runs `FP4LAB_EXE <args>` through the shell (args are trusted test strings) with FP4LAB_DATA_DIR pointing at
// the repository's datasets/, and `env` (shell assignments "NAME=value ...", may be empty) before it.
inline CliResult RunFp4lab(const std::string& args, const std::string& env = "") {
  return RunShell(env + " FP4LAB_DATA_DIR=" + FP4LAB_SOURCE_DIR + "/datasets " + FP4LAB_EXE + " " + args);
}

}  // namespace fp4lab::testing
