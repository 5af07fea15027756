// fp4lab CLI entry point: all logic lives in the harness library (harness/cli.h).
#include "harness/cli.h"

int main(int argc, char** argv) { return fp4lab::RunCli(argc, argv); }
