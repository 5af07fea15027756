#include "tasks/code_sandbox.h"

#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace fp4lab {
namespace {

// Pids whose parent is this test process. The test process is a child subreaper (see SetUp), so orphaned
// descendants of a sandbox would be re-parented here and show up too.
std::vector<int> ChildrenOfThisProcess() {
  std::vector<int> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.starts_with("PPid:") && std::stoi(line.substr(5)) == ::getpid()) children.push_back(std::stoi(name));
    }
  }
  return children;
}

SandboxOptions FastOptions() {
  SandboxOptions options;
  options.allow_code_exec = true;
  options.limits.wall_timeout_s = 2.0;  // long enough for python startup (~30 ms) on a loaded 2-core machine
  options.limits.cpu_seconds = 2;
  options.limits.address_space_bytes = uint64_t{512} << 20;
  options.workers = 2;
  return options;
}

class CodeSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }
  void TearDown() override {
    for (int pid : ChildrenOfThisProcess()) {
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
      ADD_FAILURE() << "a sandboxed process outlived Run(): " << text;
    }
  }
};

TEST_F(CodeSandboxTest, RefusesWithoutExplicitOptIn) {
  SandboxOptions options = FastOptions();
  options.allow_code_exec = false;
  const auto sandbox = CodeSandbox::Create(options);
  ASSERT_FALSE(sandbox.ok());
  EXPECT_EQ(sandbox.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(sandbox.status().message().find("--allow-code-exec"), std::string::npos);
}

TEST_F(CodeSandboxTest, UsesBubblewrapWhereItWorks) {
  const auto sandbox = CodeSandbox::Create(FastOptions());
  ASSERT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  if (::access("/usr/bin/bwrap", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/bwrap on this machine";
  EXPECT_EQ(sandbox->isolation(), SandboxIsolation::kBubblewrap) << sandbox->isolation_note();
  EXPECT_EQ(SandboxIsolationName(sandbox->isolation()), "bubblewrap");
}

TEST_F(CodeSandboxTest, ClassifiesOutcomesAndCapturesOutput) {
  const auto sandbox = CodeSandbox::Create(FastOptions());
  ASSERT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  const std::vector<std::string> programs = {
      "print('hello')\n",
      "assert 1 + 1 == 3\n",
      "raise ValueError('boom')\n",
      "import sys\nsys.exit(3)\n",
      "while True:\n    pass\n",
  };
  const std::vector<SandboxRunResult> results = sandbox->RunAll(programs);
  ASSERT_EQ(results.size(), programs.size());

  EXPECT_EQ(results[0].outcome, SandboxOutcome::kPassed) << results[0].message << results[0].stderr_tail;
  EXPECT_EQ(results[0].stdout_tail, "hello\n");
  EXPECT_EQ(results[0].exit_code, 0);

  EXPECT_EQ(results[1].outcome, SandboxOutcome::kFailed);
  EXPECT_EQ(results[1].message, "AssertionError");

  EXPECT_EQ(results[2].outcome, SandboxOutcome::kFailed);
  EXPECT_EQ(results[2].message, "ValueError: boom");

  EXPECT_EQ(results[3].outcome, SandboxOutcome::kFailed);
  EXPECT_EQ(results[3].exit_code, 3);
  EXPECT_EQ(results[3].message, "exit status 3");

  EXPECT_EQ(results[4].outcome, SandboxOutcome::kTimedOut);
  EXPECT_GE(results[4].wall_seconds, 2.0);
  EXPECT_LT(results[4].wall_seconds, 4.0);  // timeout + the 1 s kill grace + the 0.25 s drain bound
}

TEST_F(CodeSandboxTest, OutputIsBoundedAndMessagesAreShort) {
  SandboxOptions options = FastOptions();
  options.limits.max_output_bytes = 1000;
  const auto sandbox = CodeSandbox::Create(options);
  ASSERT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  const SandboxRunResult result = sandbox->Run(
      "import sys\nsys.stdout.write('x' * 200000 + 'END')\nraise RuntimeError('y' * 600)\n");
  EXPECT_EQ(result.outcome, SandboxOutcome::kFailed);
  EXPECT_TRUE(result.output_truncated);
  EXPECT_LE(result.stdout_tail.size(), 1000u);
  EXPECT_TRUE(result.stdout_tail.ends_with("xEND"));
  EXPECT_LE(result.message.size(), 300u);
  EXPECT_TRUE(result.message.starts_with("RuntimeError: yyy"));
}

TEST_F(CodeSandboxTest, EnvironmentIsClearedAndCodeIsNotRoot) {
  ASSERT_EQ(::setenv("FP4LAB_SANDBOX_CANARY", "secret", 1), 0);
  const auto sandbox = CodeSandbox::Create(FastOptions());
  ASSERT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  const SandboxRunResult result = sandbox->Run(
      "import os, sys\n"
      "assert 'FP4LAB_SANDBOX_CANARY' not in os.environ, 'environment leaked'\n"
      "assert os.environ['PATH'] == '/usr/bin:/bin', os.environ['PATH']\n"
      "assert os.getuid() != 0 and os.geteuid() != 0, 'runs as root'\n"
      "assert sys.flags.isolated == 1\n");
  ::unsetenv("FP4LAB_SANDBOX_CANARY");
  EXPECT_EQ(result.outcome, SandboxOutcome::kPassed) << result.message;
}

TEST_F(CodeSandboxTest, BubblewrapHidesHostFilesAndProcesses) {
  const auto sandbox = CodeSandbox::Create(FastOptions());
  ASSERT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  if (sandbox->isolation() != SandboxIsolation::kBubblewrap) GTEST_SKIP() << sandbox->isolation_note();
  const std::string repo = FP4LAB_SOURCE_DIR;
  const SandboxRunResult result = sandbox->Run(
      "import os\n"
      "assert not os.path.exists('" + repo + "'), 'repository visible'\n"
      "assert os.getcwd() == '/tmp/work'\n"
      "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
      "assert pids == ['1'], pids\n"  // the interpreter is alone in its pid namespace
      "open('scratch.txt', 'w').write('ok')\n");
  EXPECT_EQ(result.outcome, SandboxOutcome::kPassed) << result.message;
}

TEST_F(CodeSandboxTest, RlimitsOnlyFallbackWhenBubblewrapIsMissing) {
  SandboxOptions options = FastOptions();
  options.bwrap = "/nonexistent/bwrap";
  const auto sandbox = CodeSandbox::Create(options);
  ASSERT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  EXPECT_EQ(sandbox->isolation(), SandboxIsolation::kRlimitsOnly);
  EXPECT_EQ(SandboxIsolationName(sandbox->isolation()), "rlimits-only");
  EXPECT_NE(sandbox->isolation_note().find("/nonexistent/bwrap"), std::string::npos);
  const std::vector<std::string> programs = {"pass\n", "assert False, 'nope'\n", "while True:\n    pass\n",
                                             "import os\nassert os.getuid() != 0\nopen('f.txt', 'w').write('x')\n"};
  const std::vector<SandboxRunResult> results = sandbox->RunAll(programs);
  EXPECT_EQ(results[0].outcome, SandboxOutcome::kPassed) << results[0].message;
  EXPECT_EQ(results[1].outcome, SandboxOutcome::kFailed);
  EXPECT_EQ(results[1].message, "AssertionError: nope");
  EXPECT_EQ(results[2].outcome, SandboxOutcome::kTimedOut);
  EXPECT_EQ(results[3].outcome, SandboxOutcome::kPassed) << results[3].message;  // the work dir is writable

  options.policy = IsolationPolicy::kRequireBubblewrap;
  const auto required = CodeSandbox::Create(options);
  ASSERT_FALSE(required.ok());
  EXPECT_EQ(required.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(CodeSandboxTest, RejectsMissingInterpreterAndBadLimits) {
  SandboxOptions options = FastOptions();
  options.python = "/nonexistent/python3";
  const auto no_python = CodeSandbox::Create(options);
  ASSERT_FALSE(no_python.ok());
  EXPECT_EQ(no_python.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(no_python.status().message().find("/nonexistent/python3"), std::string::npos);

  options = FastOptions();
  options.limits.wall_timeout_s = 0;
  EXPECT_EQ(CodeSandbox::Create(options).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fp4lab
