// Device memory available to fp4lab, read from a backend's facts (Backend::Facts()), for fitting checks (the latency
// task's shapes) and batch sizing (engine/batch_memory.h).
//
// Device facts read (a backend that does not report a key gets the fallback stated):
//   "kind"               "cpu" for the CPU reference: device memory IS host memory (MemAvailable).
//   "memory_free_bytes"  free device memory now (e.g. cudaMemGetInfo); fallback: "memory_limit_bytes" or
//                        "memory_bytes" minus the model's weight bytes (other allocations not counted).
#pragma once

#include <cstdint>
#include <string>

#include "engine/backend.h"
#include "engine/status.h"

namespace fp4lab {

struct MemoryBudget {
  int64_t available_bytes = 0;
  std::string source;        // how the figure was obtained, e.g. "host MemAvailable (/proc/meminfo)"
  bool host_is_device = false;  // the CPU backend: host buffers come out of the same budget
};

// The bytes `backend` can still allocate (see the facts above). `model_weight_bytes` is used by the fallback.
// IoError when the host figure cannot be read; Unimplemented when the backend reports no memory figure at all.
Result<MemoryBudget> AvailableMemory(const Backend& backend, int64_t model_weight_bytes);

}  // namespace fp4lab
