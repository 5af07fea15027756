#include "tasks/sandbox_dirs.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>  // mkdtemp

#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

namespace fp4lab {

namespace {

std::mutex& DirsMutex() {
  static std::mutex mutex;
  return mutex;
}

std::set<std::string>& Dirs() {
  static std::set<std::string> dirs;
  return dirs;
}

sigset_t CleanupSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

// A worker that was writing its program when the sweep listed the directory adds at most that one file before the
// directory is gone (opening a file in a removed directory fails), so a second pass always suffices; the third is
// spare.
constexpr int kSweepPasses = 3;

bool MakeTrackedSandboxDir(std::string& pattern) {
  std::lock_guard<std::mutex> lock(DirsMutex());
  if (::mkdtemp(pattern.data()) == nullptr) return false;
  Dirs().insert(pattern);
  return true;
}

void UntrackSandboxDir(const std::string& path) {
  std::lock_guard<std::mutex> lock(DirsMutex());
  Dirs().erase(path);
}

void RemoveSandboxDirsOnSignal() {
  static std::once_flag once;
  std::call_once(once, [] {
    const sigset_t set = CleanupSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([set] {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) return;
      {
        // Held until the process ends: no sandbox creates a directory after this sweep.
        DirsMutex().lock();
        std::error_code ec;
        for (const std::string& dir : Dirs()) {
          for (int pass = 0; pass < kSweepPasses && std::filesystem::exists(dir, ec); ++pass) {
            std::filesystem::remove_all(dir, ec);
          }
        }
      }
      // End the process the way the signal would have: default action, delivered to this thread.
      ::signal(sig, SIG_DFL);
      sigset_t just_this;
      sigemptyset(&just_this);
      sigaddset(&just_this, sig);
      pthread_sigmask(SIG_UNBLOCK, &just_this, nullptr);
      ::raise(sig);
    }).detach();
  });
}

}  // namespace fp4lab
