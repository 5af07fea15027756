// The code sandbox's host work directories alive in this process, so that a command interrupted by SIGINT,
// SIGTERM or SIGHUP removes them before it ends instead of leaving fp4lab-sandbox-* folders in TMPDIR.
#pragma once

#include <string>

namespace fp4lab {

// Called by the sandbox when it creates / removes a work directory. Thread-safe.
void TrackSandboxDir(const std::string& path);
void UntrackSandboxDir(const std::string& path);

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and starts a thread that waits for them; on one it
// removes every tracked directory and ends the process by that signal (exit status 128 + signal in a shell).
// Call once, from the main thread, before any other thread starts (threads inherit the blocked set). Children the
// sandbox starts unblock every signal before exec.
void RemoveSandboxDirsOnSignal();

}  // namespace fp4lab
