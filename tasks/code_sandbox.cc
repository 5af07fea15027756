#include "tasks/code_sandbox.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <string.h>  // sigabbrev_np
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <thread>
#include <utility>

#include "datasets/utf8.h"
#include "tasks/sandbox_dirs.h"

namespace fp4lab {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxMessageBytes = 300;
constexpr const char* kSandboxWorkDir = "/tmp/work";  // inside the bubblewrap sandbox
constexpr const char* kProgramName = "program.py";
constexpr const char* kMinimalPath = "/usr/bin:/bin";
constexpr int kInfoFd = 3;          // bwrap --info-fd in the child
constexpr int kFirstPrivateFd = 4;  // every pipe end handed to the child is moved at or above this
constexpr auto kPollTick = std::chrono::milliseconds(10);
constexpr auto kExitGrace = std::chrono::seconds(1);  // for bwrap to unwind after its sandbox was killed
constexpr auto kDrainGrace = std::chrono::milliseconds(250);

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    Reset();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

// "<what>: <strerror text>", thread-safe (Run() is called from worker threads).
std::string Errno(const std::string& what, int err) { return what + ": " + std::system_category().message(err); }

// A close-on-exec pipe whose ends are numbered >= kFirstPrivateFd, so the child's dup2() onto 0..3 never
// overwrites an end it still has to duplicate.
Result<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::Internal(Errno("pipe2", errno));
  Pipe pipe;
  for (int i = 0; i < 2; ++i) {
    int fd = fds[i];
    if (fd < kFirstPrivateFd) {
      fd = ::fcntl(fds[i], F_DUPFD_CLOEXEC, kFirstPrivateFd);
      const int dup_errno = errno;
      ::close(fds[i]);
      errno = dup_errno;
    }
    (i == 0 ? pipe.read : pipe.write) = Fd(fd);
  }
  if (pipe.read.get() < 0 || pipe.write.get() < 0) return Status::Internal(Errno("fcntl(F_DUPFD_CLOEXEC)", errno));
  return pipe;
}

// A fresh host directory holding the program; removed with everything in it on destruction.
class WorkDir {
 public:
  static Result<WorkDir> Create() {
    std::error_code ec;
    const std::filesystem::path base = std::filesystem::temp_directory_path(ec);
    if (ec) return Status::IoError("no temporary directory: " + ec.message());
    std::string pattern = (base / "fp4lab-sandbox-XXXXXX").string();
    if (!MakeTrackedSandboxDir(pattern)) return Status::IoError(Errno("mkdtemp " + pattern, errno));
    return WorkDir(pattern);
  }
  WorkDir(WorkDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  WorkDir& operator=(WorkDir&&) = delete;
  ~WorkDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    UntrackSandboxDir(path_);
  }
  const std::string& path() const { return path_; }

 private:
  explicit WorkDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Number of tasks (threads count: RLIMIT_NPROC counts them) whose real uid is `uid`.
int64_t CountTasksOfUid(uid_t uid) {
  int64_t tasks = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(it->path() / "status");
    std::string line;
    bool owned = false;
    while (std::getline(status, line)) {
      if (line.starts_with("Uid:")) {
        owned = std::strtoul(line.c_str() + 4, nullptr, 10) == uid;
        if (!owned) break;
      } else if (owned && line.starts_with("Threads:")) {
        tasks += std::strtol(line.c_str() + 8, nullptr, 10);
        break;
      }
    }
  }
  return tasks;
}

// Everything the forked child needs, prepared before fork(): the child only makes async-signal-safe calls.
struct ChildPlan {
  std::string exe;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<char*> argv;  // into args, null-terminated
  std::vector<char*> envp;  // into env, null-terminated
  std::string chdir_to;
  struct Limit {
    int resource;
    rlimit value;
  };
  std::vector<Limit> limits;
  bool drop_privileges = false;
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t parent_pid = 0;
  int stdout_fd = -1;
  int stderr_fd = -1;
  int info_fd = -1;   // bwrap --info-fd source, or -1
  int report_fd = -1;  // close-on-exec; the child writes {stage, errno} here if it cannot exec

  void Finalize() {
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
};

// Where the child failed before exec; reported to the parent as {int(stage), errno}.
enum class ChildStage : int { kSetup = 1, kLimits, kCredentials, kChdir, kExec };

const char* ChildStageName(int stage) {
  switch (static_cast<ChildStage>(stage)) {
    case ChildStage::kSetup: return "setting up descriptors";
    case ChildStage::kLimits: return "setting rlimits";
    case ChildStage::kCredentials: return "dropping privileges";
    case ChildStage::kChdir: return "entering the work dir";
    case ChildStage::kExec: return "exec";
  }
  return "starting";
}

[[noreturn]] void ChildFail(const ChildPlan& plan, ChildStage stage) {
  const int report[2] = {static_cast<int>(stage), errno};
  [[maybe_unused]] ssize_t n = ::write(plan.report_fd, report, sizeof(report));
  ::_exit(127);
}

// Runs in the child between fork() and exec: async-signal-safe calls only, raw syscalls for credentials
// (glibc's setuid() would try to synchronise threads that do not exist in the child).
[[noreturn]] void ExecChild(const ChildPlan& plan) {
  // The parent may block signals (sandbox_dirs.h); the program starts with none blocked.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::setsid() < 0) ChildFail(plan, ChildStage::kSetup);
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) ChildFail(plan, ChildStage::kSetup);
  if (devnull == 0 ? ::fcntl(0, F_SETFD, 0) != 0 : ::dup2(devnull, 0) < 0) ChildFail(plan, ChildStage::kSetup);
  if (::dup2(plan.stdout_fd, 1) < 0 || ::dup2(plan.stderr_fd, 2) < 0) ChildFail(plan, ChildStage::kSetup);
  if (plan.info_fd >= 0 && ::dup2(plan.info_fd, kInfoFd) < 0) ChildFail(plan, ChildStage::kSetup);
  const unsigned first_private = plan.info_fd >= 0 ? kInfoFd + 1 : kInfoFd;
  if (::syscall(SYS_close_range, first_private, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    rlimit nofile{};
    ::getrlimit(RLIMIT_NOFILE, &nofile);
    const rlim_t last = std::min<rlim_t>(nofile.rlim_cur, 1 << 20);
    for (rlim_t fd = first_private; fd < last; ++fd) ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  }
  for (const ChildPlan::Limit& limit : plan.limits) {
    if (::setrlimit(limit.resource, &limit.value) != 0) ChildFail(plan, ChildStage::kLimits);
  }
  if (plan.drop_privileges) {
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0 ||
        ::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) {
      ChildFail(plan, ChildStage::kCredentials);
    }
  }
  // After the credential change, which clears it: die with the thread that started us.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != plan.parent_pid) ::_exit(127);
  if (::chdir(plan.chdir_to.c_str()) != 0) ChildFail(plan, ChildStage::kChdir);
  ::execve(plan.exe.c_str(), plan.argv.data(), plan.envp.data());
  ChildFail(plan, ChildStage::kExec);
}

// Collects the tail of one output stream.
struct StreamTail {
  explicit StreamTail(int fd_in, size_t max_bytes_in) : fd(fd_in), max_bytes(max_bytes_in) {}

  // One read(); false at EOF or error.
  bool ReadOnce() {
    char buffer[16384];
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n <= 0) return false;
    data.append(buffer, static_cast<size_t>(n));
    if (data.size() > 2 * max_bytes) {
      data.erase(0, data.size() - max_bytes);
      truncated = true;
    }
    return true;
  }

  std::string Finish() {
    if (data.size() > max_bytes) {
      data.erase(0, data.size() - max_bytes);
      truncated = true;
    }
    size_t start = 0;  // do not begin inside a character that was cut
    while (start < data.size() && start < 3 && (static_cast<unsigned char>(data[start]) & 0xC0) == 0x80) ++start;
    return ToValidUtf8(std::string_view(data).substr(start));
  }

  int fd;
  size_t max_bytes;
  std::string data;
  bool open = true;
  bool truncated = false;
};

// Reads whatever is ready on the open streams, waiting at most `wait`.
void PumpStreams(std::vector<StreamTail*>& streams, std::chrono::milliseconds wait) {
  std::vector<pollfd> fds;
  std::vector<StreamTail*> polled;
  for (StreamTail* s : streams) {
    if (!s->open) continue;
    fds.push_back({s->fd, POLLIN, 0});
    polled.push_back(s);
  }
  if (fds.empty()) {
    std::this_thread::sleep_for(wait);
    return;
  }
  const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
  if (ready <= 0) return;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) polled[i]->open = polled[i]->ReadOnce();
  }
}

// True once `pid` has exited; leaves it unreaped, so its process group id stays ours to signal.
bool HasExited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

// The sandbox's pid 1 (host pid) from bwrap's --info-fd JSON ({"child-pid": 123, ...}), or -1.
pid_t ParseChildPid(const std::string& info) {
  const size_t key = info.find("\"child-pid\"");
  if (key == std::string::npos) return -1;
  const size_t colon = info.find(':', key);
  if (colon == std::string::npos) return -1;
  const long pid = std::strtol(info.c_str() + colon + 1, nullptr, 10);
  return pid > 1 ? static_cast<pid_t>(pid) : -1;
}

// Parent pid of `pid` from /proc/<pid>/stat, or -1.
pid_t ParentOf(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos || paren + 4 >= text.size()) return -1;
  return static_cast<pid_t>(std::strtol(text.c_str() + paren + 4, nullptr, 10));  // ") S <ppid>"
}

std::string LastNonEmptyLine(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    const size_t start = text.rfind('\n', end - 1);
    const size_t line_start = start == std::string_view::npos ? 0 : start + 1;
    std::string_view line = text.substr(line_start, end - line_start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (!line.empty()) return std::string(line);
    if (line_start == 0) break;
    end = line_start - 1;
  }
  return {};
}

std::string SignalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return "signal " + std::to_string(sig) + (abbrev != nullptr ? std::string(" (SIG") + abbrev + ")" : "");
}

std::string FormatSeconds(double s) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", s);
  return buffer;
}

// bubblewrap arguments that expose the system folders read-only, keeping merged-/usr symlinks as symlinks.
void AppendSystemBinds(std::vector<std::string>& args) {
  args.insert(args.end(), {"--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"});
  for (const char* dir : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    std::error_code ec;
    const auto status = std::filesystem::symlink_status(dir, ec);
    if (ec) continue;
    if (std::filesystem::is_symlink(status)) {
      const std::filesystem::path target = std::filesystem::read_symlink(dir, ec);
      if (!ec) args.insert(args.end(), {"--symlink", target.string(), dir});
    } else if (std::filesystem::is_directory(status)) {
      args.insert(args.end(), {"--ro-bind", dir, dir});
    }
  }
}

// Writes the program into the work dir and, when the code will run as another uid, hands both over to it.
// Returns the program's host path.
Result<std::string> WriteProgram(const WorkDir& work_dir, std::string_view program, const ChildPlan& plan) {
  const std::string path = work_dir.path() + "/" + kProgramName;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << program;
    out.close();
    if (!out) return Status::IoError("cannot write " + path);
  }
  if (plan.drop_privileges && (::chown(work_dir.path().c_str(), plan.uid, plan.gid) != 0 ||
                               ::chown(path.c_str(), plan.uid, plan.gid) != 0)) {
    return Status::IoError(Errno("cannot hand the work dir to uid " + std::to_string(plan.uid), errno));
  }
  ::chmod(work_dir.path().c_str(), 0755);  // bubblewrap, running as that uid, must reach the program
  ::chmod(path.c_str(), 0644);
  return path;
}

// bwrap [namespaces, read-only system, fresh /tmp with the program in /tmp/work, clean env] -- python -I program.
void SetBubblewrapCommand(const SandboxOptions& options, const std::string& host_program, ChildPlan& plan) {
  const std::string program = std::string(kSandboxWorkDir) + "/" + kProgramName;
  plan.exe = options.bwrap;
  // --as-pid-1: python itself is the namespace's pid 1, so bwrap exits only after the kernel has killed and
  // reaped everything in the namespace (with bwrap's own init, bwrap reports the exit status first and the
  // namespace is torn down afterwards, outliving Run()).
  plan.args = {options.bwrap, "--unshare-all", "--as-pid-1", "--die-with-parent", "--new-session", "--cap-drop",
               "ALL"};
  AppendSystemBinds(plan.args);
  plan.args.insert(plan.args.end(),
                   {"--proc", "/proc", "--dev", "/dev", "--size", std::to_string(options.limits.tmpfs_bytes), "--tmpfs",
                    "/tmp", "--dir", kSandboxWorkDir, "--ro-bind", host_program, program, "--chdir", kSandboxWorkDir,
                    "--clearenv", "--setenv", "PATH", kMinimalPath, "--setenv", "HOME", kSandboxWorkDir, "--setenv",
                    "TMPDIR", "/tmp", "--setenv", "LC_ALL", "C.UTF-8", "--info-fd", std::to_string(kInfoFd), "--",
                    options.python, "-I", program});
  plan.env = {std::string("PATH=") + kMinimalPath};
  plan.chdir_to = "/";
  plan.Finalize();
}

// python -I program, run in the work dir with a minimal environment.
void SetDirectCommand(const SandboxOptions& options, const std::string& work_dir, const std::string& host_program,
                      ChildPlan& plan) {
  plan.exe = options.python;
  plan.args = {options.python, "-I", host_program};
  plan.env = {std::string("PATH=") + kMinimalPath, "HOME=" + work_dir, "TMPDIR=" + work_dir, "LC_ALL=C.UTF-8"};
  plan.chdir_to = work_dir;
  plan.Finalize();
}

void SetLimits(const SandboxLimits& limits, ChildPlan& plan) {
  const auto both = [](uint64_t soft, uint64_t hard) { return rlimit{soft, hard}; };
  const uint64_t cpu = static_cast<uint64_t>(limits.cpu_seconds);
  // RLIMIT_NPROC counts every task of the uid, so the allowance comes on top of what that uid already runs.
  const uint64_t nproc = static_cast<uint64_t>(CountTasksOfUid(plan.uid)) + static_cast<uint64_t>(limits.max_processes);
  const uint64_t nofile = static_cast<uint64_t>(limits.max_open_files);
  plan.limits = {{RLIMIT_CPU, both(cpu, cpu + 1)},  // SIGXCPU at the soft limit, SIGKILL one second later
                 {RLIMIT_AS, both(limits.address_space_bytes, limits.address_space_bytes)},
                 {RLIMIT_FSIZE, both(limits.file_size_bytes, limits.file_size_bytes)},
                 {RLIMIT_NPROC, both(nproc, nproc)},
                 {RLIMIT_NOFILE, both(nofile, nofile)},
                 {RLIMIT_CORE, both(0, 0)}};
}

Clock::duration SecondsToDuration(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

struct Supervision {
  bool timed_out = false;
  int wait_status = 0;  // from waitpid
};

// Streams output until the child exits or `deadline` passes, then kills whatever is left and reaps the child.
Supervision Supervise(pid_t pid, Clock::time_point deadline, StreamTail& out, StreamTail& err, StreamTail& info) {
  std::vector<StreamTail*> streams = {&out, &err, &info};
  Supervision supervision;
  while (!HasExited(pid)) {
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      supervision.timed_out = true;
      break;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + std::chrono::milliseconds(1);
    PumpStreams(streams, std::min<std::chrono::milliseconds>(left, kPollTick));
  }
  if (supervision.timed_out) {
    // Kill the sandbox's pid 1 (the interpreter) first: the kernel then kills everything in its pid namespace,
    // and bwrap exits once that is done. Checking the parent guards against a recycled pid.
    PumpStreams(streams, std::chrono::milliseconds(0));  // bwrap wrote its info right after starting
    const pid_t sandbox_init = ParseChildPid(info.data);
    if (sandbox_init > 0 && ParentOf(sandbox_init) == pid) {
      ::kill(sandbox_init, SIGKILL);
      const Clock::time_point give_up = Clock::now() + kExitGrace;
      while (!HasExited(pid) && Clock::now() < give_up) PumpStreams(streams, kPollTick);
    }
  }
  // The child is a zombie or still running, so its process group id (= pid, it called setsid) cannot have been
  // reused: kill whatever is left in the group, then reap.
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, &supervision.wait_status, 0) < 0 && errno == EINTR) {
  }
  const Clock::time_point drain_until = Clock::now() + kDrainGrace;
  while ((out.open || err.open) && Clock::now() < drain_until) PumpStreams(streams, kPollTick);
  return supervision;
}

// Fills outcome, message, exit_code and term_signal from how the child ended.
void Classify(const Supervision& supervision, bool bubblewrap, const SandboxLimits& limits, SandboxRunResult& result) {
  if (supervision.timed_out) {
    result.outcome = SandboxOutcome::kTimedOut;
    result.message = "timed out after " + FormatSeconds(limits.wall_timeout_s) + " s (wall clock)";
    return;
  }
  const int status = supervision.wait_status;
  int sig = 0;
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
    if (result.exit_code == 0) {
      result.outcome = SandboxOutcome::kPassed;
      return;
    }
    if (bubblewrap && result.exit_code == 1 && result.stderr_tail.starts_with("bwrap: ")) {
      result.outcome = SandboxOutcome::kError;  // bwrap itself failed to set up the sandbox
      result.message = std::string(
          TruncateUtf8(std::string_view(result.stderr_tail).substr(0, result.stderr_tail.find('\n')), kMaxMessageBytes));
      return;
    }
    // bwrap reports a sandboxed process killed by signal s as exit status 128 + s.
    if (bubblewrap && result.exit_code > 128 && result.exit_code < 128 + NSIG) sig = result.exit_code - 128;
  } else if (WIFSIGNALED(status)) {
    sig = WTERMSIG(status);
  }
  result.term_signal = sig;
  if (sig == SIGXCPU) {
    result.outcome = SandboxOutcome::kTimedOut;
    result.message = "CPU time limit of " + std::to_string(limits.cpu_seconds) + " s exceeded";
    return;
  }
  result.outcome = SandboxOutcome::kFailed;
  std::string last_line = LastNonEmptyLine(result.stderr_tail);
  if (last_line.empty()) {
    last_line = sig != 0 ? "killed by " + SignalName(sig) : "exit status " + std::to_string(result.exit_code);
  }
  result.message = std::string(TruncateUtf8(last_line, kMaxMessageBytes));
}

SandboxRunResult ErrorResult(std::string message) {
  SandboxRunResult result;
  result.outcome = SandboxOutcome::kError;
  result.message = std::move(message);
  return result;
}

// A start that failed for lack of processes (EAGAIN from clone/fork/execve under RLIMIT_NPROC) says nothing about
// the program: the sandbox uid is shared, and a neighbouring sample's fork bomb holds it at the limit until that
// sample's wall-clock timeout kills it. Such starts are retried for one wall timeout (plus the kill grace) before
// the error is reported.
bool FailedToStartForLackOfProcesses(const SandboxRunResult& result) {
  return result.outcome == SandboxOutcome::kError &&
         result.message.find(std::strerror(EAGAIN)) != std::string::npos;
}

}  // namespace

std::string_view SandboxOutcomeName(SandboxOutcome outcome) {
  switch (outcome) {
    case SandboxOutcome::kPassed: return "passed";
    case SandboxOutcome::kFailed: return "failed";
    case SandboxOutcome::kTimedOut: return "timed_out";
    case SandboxOutcome::kError: return "error";
  }
  return "unknown";
}

std::string_view SandboxIsolationName(SandboxIsolation isolation) {
  switch (isolation) {
    case SandboxIsolation::kBubblewrap: return "bubblewrap";
    case SandboxIsolation::kRlimitsOnly: return "rlimits-only";
  }
  return "unknown";
}

Result<CodeSandbox> CodeSandbox::Create(SandboxOptions options) {
  if (!options.allow_code_exec) {
    return Status::FailedPrecondition(
        "code execution is disabled: scoring runs model-written code; pass --allow-code-exec to run it in the "
        "sandbox");
  }
  const SandboxLimits& l = options.limits;
  if (!(l.wall_timeout_s > 0) || l.cpu_seconds < 1 || l.address_space_bytes == 0 || l.file_size_bytes == 0 ||
      l.max_processes < 1 || l.max_open_files < 3 || l.tmpfs_bytes == 0 || l.max_output_bytes == 0 ||
      options.workers < 0) {
    return Status::InvalidArgument(
        "sandbox limits must be positive (wall_timeout_s > 0, cpu_seconds >= 1, max_processes >= 1, "
        "max_open_files >= 3, byte limits > 0, workers >= 0)");
  }
  if (::access(options.python.c_str(), X_OK) != 0) {
    return Status::FailedPrecondition(Errno("python interpreter " + options.python + " is not executable", errno));
  }
  if (options.policy == IsolationPolicy::kRlimitsOnly) {
    CodeSandbox sandbox(std::move(options), SandboxIsolation::kRlimitsOnly, "rlimits-only requested");
    const SandboxRunResult trial = sandbox.RunWith(SandboxIsolation::kRlimitsOnly, "pass\n");
    if (trial.outcome != SandboxOutcome::kPassed) {
      return Status::FailedPrecondition("the code sandbox cannot start a program: " + trial.message);
    }
    return sandbox;
  }
  std::string note;
  if (::access(options.bwrap.c_str(), X_OK) != 0) {
    note = Errno("bubblewrap " + options.bwrap + " is not executable", errno);
  } else {
    CodeSandbox sandbox(options, SandboxIsolation::kBubblewrap, "");
    const SandboxRunResult trial = sandbox.RunWith(SandboxIsolation::kBubblewrap, "pass\n");
    if (trial.outcome == SandboxOutcome::kPassed) return sandbox;
    note = "bubblewrap trial run " + std::string(SandboxOutcomeName(trial.outcome)) + ": " + trial.message;
  }
  if (options.policy == IsolationPolicy::kRequireBubblewrap) {
    return Status::FailedPrecondition("bubblewrap isolation was required but cannot run here: " + note);
  }
  CodeSandbox sandbox(std::move(options), SandboxIsolation::kRlimitsOnly, note);
  const SandboxRunResult trial = sandbox.RunWith(SandboxIsolation::kRlimitsOnly, "pass\n");
  if (trial.outcome != SandboxOutcome::kPassed) {
    return Status::FailedPrecondition("the code sandbox cannot start a program (" + note +
                                      "; rlimits-only: " + trial.message + ")");
  }
  return sandbox;
}

SandboxRunResult CodeSandbox::Run(std::string_view program) const {
  const Clock::time_point give_up = Clock::now() + SecondsToDuration(options_.limits.wall_timeout_s) + kExitGrace;
  auto backoff = std::chrono::milliseconds(20);
  SandboxRunResult result = RunWith(isolation_, program);
  while (FailedToStartForLackOfProcesses(result) && Clock::now() + backoff < give_up) {
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    result = RunWith(isolation_, program);
  }
  return result;
}

std::vector<SandboxRunResult> CodeSandbox::RunAll(std::span<const std::string> programs) const {
  std::vector<SandboxRunResult> results(programs.size());
  std::atomic<size_t> next{0};
  const auto work = [&] {
    for (size_t i = next++; i < programs.size(); i = next++) results[i] = Run(programs[i]);
  };
  const size_t wanted = options_.workers > 0 ? static_cast<size_t>(options_.workers)
                                             : std::max<size_t>(1, std::thread::hardware_concurrency());
  const size_t thread_count = std::min(wanted, programs.size());
  std::vector<std::thread> threads;
  for (size_t t = 1; t < thread_count; ++t) {
    try {
      threads.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // fewer threads than asked; the calling thread still works through the queue
    }
  }
  work();
  for (std::thread& thread : threads) thread.join();
  return results;
}

SandboxRunResult CodeSandbox::RunWith(SandboxIsolation isolation, std::string_view program) const {
  const Clock::time_point start = Clock::now();
  const bool bubblewrap = isolation == SandboxIsolation::kBubblewrap;
  Result<WorkDir> work_dir = WorkDir::Create();
  if (!work_dir.ok()) return ErrorResult("cannot create the work dir: " + work_dir.status().message());

  ChildPlan plan;
  plan.drop_privileges = ::geteuid() == 0;
  plan.uid = plan.drop_privileges ? options_.unprivileged_uid : ::getuid();
  plan.gid = plan.drop_privileges ? options_.unprivileged_uid : ::getgid();
  const Result<std::string> host_program = WriteProgram(*work_dir, program, plan);
  if (!host_program.ok()) return ErrorResult(host_program.status().message());
  if (bubblewrap) {
    SetBubblewrapCommand(options_, *host_program, plan);
  } else {
    SetDirectCommand(options_, work_dir->path(), *host_program, plan);
  }
  SetLimits(options_.limits, plan);

  Result<Pipe> out_pipe = MakePipe();
  Result<Pipe> err_pipe = MakePipe();
  Result<Pipe> report_pipe = MakePipe();
  Result<Pipe> info_pipe = bubblewrap ? MakePipe() : Result<Pipe>(Pipe{});
  for (const Result<Pipe>* p : {&out_pipe, &err_pipe, &report_pipe, &info_pipe}) {
    if (!p->ok()) return ErrorResult("cannot create a pipe: " + p->status().message());
  }
  plan.stdout_fd = out_pipe->write.get();
  plan.stderr_fd = err_pipe->write.get();
  plan.report_fd = report_pipe->write.get();
  plan.info_fd = bubblewrap ? info_pipe->write.get() : -1;
  plan.parent_pid = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) return ErrorResult(Errno("fork", errno));
  if (pid == 0) ExecChild(plan);
  for (Pipe* p : {&*out_pipe, &*err_pipe, &*report_pipe, &*info_pipe}) p->write.Reset();

  StreamTail out(out_pipe->read.get(), options_.limits.max_output_bytes);
  StreamTail err(err_pipe->read.get(), options_.limits.max_output_bytes);
  StreamTail info(info_pipe->read.get(), 4096);
  info.open = bubblewrap;
  const Supervision supervision = Supervise(pid, start + SecondsToDuration(options_.limits.wall_timeout_s), out, err,
                                            info);

  SandboxRunResult result;
  result.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.stdout_tail = out.Finish();
  result.stderr_tail = err.Finish();
  result.output_truncated = out.truncated || err.truncated;
  int report[2] = {0, 0};
  ::fcntl(report_pipe->read.get(), F_SETFL, O_NONBLOCK);
  if (::read(report_pipe->read.get(), report, sizeof(report)) == static_cast<ssize_t>(sizeof(report))) {
    result.outcome = SandboxOutcome::kError;
    result.message = Errno("cannot start " + plan.exe + " (" + ChildStageName(report[0]) + ")", report[1]);
    return result;
  }
  Classify(supervision, bubblewrap, options_.limits, result);
  return result;
}

}  // namespace fp4lab
