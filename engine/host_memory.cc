#include "engine/host_memory.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace fp4lab {

Result<int64_t> HostAvailableMemoryBytes() {
  constexpr char kPath[] = "/proc/meminfo";
  std::ifstream in(kPath);
  if (!in) return Status::IoError(std::string(kPath) + ": cannot open");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    int64_t kib = -1;
    std::string unit;
    fields >> kib >> unit;
    if (kib < 0 || unit != "kB") {
      return Status::IoError(std::string(kPath) + ": cannot parse '" + line + "' (expected 'MemAvailable: N kB')");
    }
    return kib * 1024;
  }
  return Status::IoError(std::string(kPath) + ": no MemAvailable line");
}

Result<int64_t> PeakResidentBytes() {
  struct rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) {
    return Status::IoError(std::string("getrusage: ") + std::strerror(errno));
  }
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

}  // namespace fp4lab
