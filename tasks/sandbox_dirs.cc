#include "tasks/sandbox_dirs.h"

#include <pthread.h>
#include <signal.h>

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

void TrackSandboxDir(const std::string& path) {
  std::lock_guard<std::mutex> lock(DirsMutex());
  Dirs().insert(path);
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
        for (const std::string& dir : Dirs()) std::filesystem::remove_all(dir, ec);
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
