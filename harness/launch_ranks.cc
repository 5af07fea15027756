#include "harness/launch_ranks.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "harness/comma_list.h"

namespace fp4lab {
namespace {

namespace fs = std::filesystem;

// The newest progress line of a rank's log ("[task/precision] 16/40 items, 5.1 items/s, ETA 5 s"), else its last line.
std::string LatestProgress(const std::string& log) {
  const std::string tail = TailOfFile(log, 12);
  std::stringstream ss(tail);
  std::string line, progress, last;
  while (std::getline(ss, line)) {
    last = line;
    if (!line.empty() && line[0] == '[') progress = line;
  }
  return progress.empty() ? last : progress;
}

}  // namespace

Result<std::vector<std::string>> ChooseGpus(const std::string& gpus_flag) {
  const char* env = std::getenv("CUDA_VISIBLE_DEVICES");
  std::vector<std::string> visible;
  if (env != nullptr) {
    visible = SplitCommaList(env);
  } else {
    std::error_code ec;
    int count = 0;
    for (auto it = fs::directory_iterator("/proc/driver/nvidia/gpus", ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      ++count;
    }
    for (int i = 0; i < count; ++i) visible.push_back(std::to_string(i));
  }
  if (gpus_flag.empty()) {
    if (visible.empty()) {
      return Status::InvalidArgument("no GPU visible (CUDA_VISIBLE_DEVICES " + std::string(env ? "is empty" : "unset") +
                                     ", no /proc/driver/nvidia/gpus); pass --gpus LIST, or --procs N to run N "
                                     "processes on the CPU");
    }
    return visible;
  }
  std::vector<std::string> chosen;
  for (const std::string& item : SplitCommaList(gpus_flag)) {
    const bool digits = item.size() < 6 && item.find_first_not_of("0123456789") == std::string::npos;
    const int index = digits ? std::stoi(item) : -1;
    if (index < 0 || (env != nullptr && index >= static_cast<int>(visible.size()))) {
      return Status::InvalidArgument("--gpus " + gpus_flag + ": '" + item + "' is not the index of a visible GPU" +
                                     (env ? " (CUDA_VISIBLE_DEVICES=" + std::string(env) + ")" : ""));
    }
    if (std::find(chosen.begin(), chosen.end(), env ? visible[index] : item) != chosen.end()) {
      return Status::InvalidArgument("--gpus " + gpus_flag + ": GPU " + item + " is listed twice");
    }
    chosen.push_back(env ? visible[index] : item);
  }
  if (chosen.empty()) return Status::InvalidArgument("--gpus: list at least one GPU index");
  return chosen;
}

void PrintRankView(const std::vector<LaunchRank>& ranks, bool tty, int& lines_printed) {
  if (tty && lines_printed > 0) std::fprintf(stderr, "\033[%dA", lines_printed);
  lines_printed = 0;
  for (const LaunchRank& r : ranks) {
    std::string state;
    if (!r.exit) {
      state = "running  " + LatestProgress(r.log);
    } else if (r.exit->ok()) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "done in %.1f s", r.seconds);
      state = buf;
    } else {
      state = "FAILED (" + r.exit->Describe() + ")";
    }
    std::string device = r.device + (r.visible_gpu.empty() ? "" : " (GPU " + r.visible_gpu + ")");
    std::fprintf(stderr, "%srank %d/%zu %-16s %s\n", tty ? "\033[2K" : "", r.index, ranks.size(), device.c_str(),
                 state.c_str());
    ++lines_printed;
  }
  std::fflush(stderr);
}

}  // namespace fp4lab
