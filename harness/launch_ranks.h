// The processes `fp4lab launch` starts, one per GPU or CPU process: which GPUs to use, and the view of their
// progress (one line per rank) that launch redraws while they run.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "engine/status.h"
#include "harness/child_process.h"

namespace fp4lab {

// One rank of a launch: shard `index` of the launch's rank count.
struct LaunchRank {
  int index = 0;             // its shard index
  std::string device;        // what the rank's `run --device` gets
  std::string visible_gpu;   // its CUDA_VISIBLE_DEVICES ("" on the CPU)
  std::string db, log;
  std::optional<ChildProcess> process;
  std::optional<ChildExit> exit;
  std::chrono::steady_clock::time_point started;
  double seconds = 0;
};

// The GPUs to use, as CUDA_VISIBLE_DEVICES entries: --gpus (`gpus_flag`, e.g. "0,1") indexes the GPUs this process
// sees (the entries of CUDA_VISIBLE_DEVICES when set, else the driver's, /proc/driver/nvidia/gpus); without --gpus,
// every visible GPU. InvalidArgument for an index that is not visible, a repeated one, or no GPU at all.
Result<std::vector<std::string>> ChooseGpus(const std::string& gpus_flag);

// Prints one line per rank to stderr: device, state, and the rank's latest progress line from its log (items done,
// items/s and ETA of its current task). On a terminal the previous view (`lines_printed` lines) is redrawn in place.
void PrintRankView(const std::vector<LaunchRank>& ranks, bool tty, int& lines_printed);

}  // namespace fp4lab
