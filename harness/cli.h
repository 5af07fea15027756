// The fp4lab command line. RunCli parses argv, runs one command and returns the process exit code:
//   0  success
//   1  the command ran and found a failure it exists to report (a gate rule failed, code execution failures
//      are NOT this: they are results)
//   2  bad input: a flag, a file, a field, a missing run or metric (the message names which)
//   3  runtime failure: I/O, device, internal error
// Messages go to stderr as one line "fp4lab <command>: error: <message>".
#pragma once

namespace fp4lab {

int RunCli(int argc, char** argv);

}  // namespace fp4lab
