// Host memory facts for fitting checks and the CPU backend's memory figures (Linux).
#pragma once

#include <cstdint>

#include "engine/status.h"

namespace fp4lab {

// Bytes the kernel reports as available for new allocations without swapping ("MemAvailable" in /proc/meminfo).
// IoError if /proc/meminfo cannot be read or has no such line.
Result<int64_t> HostAvailableMemoryBytes();

// Peak resident set size of this process so far, in bytes (getrusage(RUSAGE_SELF).ru_maxrss, which Linux reports
// in KiB). Covers every allocation of the process, not one model. IoError if getrusage fails.
Result<int64_t> PeakResidentBytes();

}  // namespace fp4lab
