// One child process of `fp4lab launch`: started with posix_spawn in a process group of its own (so a terminal's
// Ctrl-C reaches only the launcher, which forwards it), stdout and stderr appended to a log file, stdin /dev/null.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

struct ChildExit {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal killed it
  bool ok() const { return signal == 0 && exit_code == 0; }
  std::string Describe() const;  // "exit code 3", "killed by signal 9 (Killed)"
};

class ChildProcess {
 public:
  // Starts `argv` (argv[0] is the executable path) with the current environment plus `env_overrides`.
  // IoError when the log cannot be opened or the process cannot be started.
  static Result<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                    const std::map<std::string, std::string>& env_overrides,
                                    const std::string& log_path);

  pid_t pid() const { return pid_; }
  // Non-blocking: the exit once the process has ended (reaped), nullopt while it runs.
  std::optional<ChildExit> Poll();
  // Sends `signal` to the child while it runs.
  void Signal(int signal) const;

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  std::optional<ChildExit> exit_;
};

// The last `max_lines` lines of the file (carriage-return rewrites of one line count as lines), "" if unreadable.
std::string TailOfFile(const std::string& path, int max_lines);

}  // namespace fp4lab
