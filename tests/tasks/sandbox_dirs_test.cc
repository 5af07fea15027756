#include "tasks/sandbox_dirs.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace fp4lab {
namespace {

namespace fs = std::filesystem;

// Does in a loop what the code sandbox does with its work directories: create, write the program, remove, untrack.
[[noreturn]] void CreateAndRemoveForever(const std::string& base) {
  for (;;) {
    std::string dir = base + "/fp4lab-sandbox-XXXXXX";
    if (!MakeTrackedSandboxDir(dir)) continue;
    std::ofstream(dir + "/program.py") << "pass\n";
    std::error_code ec;
    fs::remove_all(dir, ec);
    UntrackSandboxDir(dir);
  }
}

// SIGTERM lands at a different point of two workers' create/write/remove cycles each round (a child process per
// round, since the sweep ends the process). Whatever the workers were doing, the process ends by SIGTERM and leaves
// no directory behind. Before directories were created under the sweep's lock, a signal between mkdtemp and the
// tracking left one behind.
TEST(SandboxDirs, SignalSweepLeavesNoDirectoryWhateverTheWorkersWereDoing) {
  const std::string base = testing::TempDir("sandbox_dirs_sweep");
  constexpr int kRounds = 60;
  for (int round = 0; round < kRounds; ++round) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      RemoveSandboxDirsOnSignal();  // before the workers start, as the commands do
      std::thread(CreateAndRemoveForever, base).detach();
      std::thread(CreateAndRemoveForever, base).detach();
      for (;;) ::pause();
    }
    // Let the workers cycle for 2..13 ms so the signal falls at varying points of the cycle.
    std::this_thread::sleep_for(std::chrono::microseconds(2000 + (round * 7919) % 11000));
    ASSERT_EQ(::kill(child, SIGTERM), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << "round " << round << ": status " << status;
    int left = 0;
    for (const auto& entry : fs::directory_iterator(base)) left += entry.path().filename().string().starts_with("fp4lab-sandbox-");
    ASSERT_EQ(left, 0) << "round " << round;
  }
}

}  // namespace
}  // namespace fp4lab
