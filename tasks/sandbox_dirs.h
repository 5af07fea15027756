// The code sandbox's host work directories alive in this process, so that a command interrupted by SIGINT,
// SIGTERM or SIGHUP removes them before it ends instead of leaving fp4lab-sandbox-* folders in TMPDIR.
#pragma once

#include <string>

namespace fp4lab {

// Creates a work directory with mkdtemp(3) from `pattern` (a path ending in XXXXXX, replaced in place) and tracks
// it, both under the lock the signal sweep holds, so that no sandbox directory exists untracked. Returns false with
// errno set when mkdtemp fails. Thread-safe.
bool MakeTrackedSandboxDir(std::string& pattern);

// Called by the sandbox after it removed a work directory. Thread-safe.
void UntrackSandboxDir(const std::string& path);

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and starts a thread that waits for them; on one it
// removes every tracked directory and ends the process by that signal (exit status 128 + signal in a shell).
// Call once, from the main thread, before any other thread starts (threads inherit the blocked set). Children the
// sandbox starts unblock every signal before exec.
void RemoveSandboxDirsOnSignal();

}  // namespace fp4lab
