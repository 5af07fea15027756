// Memory figures of the latency task (tasks/latency.h): what one forward pass needs (analytic, from the buffers
// engine/arch/llama.cc and the caller allocate), what the backend's device has available, the peak it reached,
// and stored weight bytes by layer kind.
//
// Device facts read from Backend::Facts() (a backend that does not report a key gets the fallback stated):
//   "kind"               "cpu" for the CPU reference: device memory IS host memory (MemAvailable, peak RSS).
//   "memory_free_bytes"  free device memory now (e.g. cudaMemGetInfo); fallback: "memory_limit_bytes" or
//                        "memory_bytes" minus the model's weight bytes (other allocations not counted).
//   "memory_peak_bytes"  the most device bytes the backend held at once since it was created; fallback: not
//                        measured. "memory_peak_scope" says what that count covers (quoted in the source).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/arch/architecture.h"
#include "engine/status.h"
#include "engine/weight_loader.h"

namespace fp4lab {

// f32 activation buffers of one Model::Forward over `tokens` tokens (ModelBlueprint::ActivationFloatsPerRow) plus
// the logits [n, V] the caller allocates, which that count includes. Backend-internal scratch is not included.
int64_t ForwardWorkspaceBytes(const ModelBlueprint& blueprint, int64_t tokens);

struct MemoryBudget {
  int64_t available_bytes = 0;
  std::string source;        // how the figure was obtained, e.g. "host MemAvailable (/proc/meminfo)"
  bool host_is_device = false;  // the CPU backend: host buffers come out of the same budget
};

// The bytes `backend` can still allocate (see the facts above). `model_weight_bytes` is used by the fallback.
// IoError when the host figure cannot be read.
Result<MemoryBudget> AvailableMemory(const Backend& backend, int64_t model_weight_bytes);

struct PeakMemory {
  std::optional<int64_t> bytes;  // absent when the backend cannot report it
  std::string source;            // what the figure is, or why it is absent
};
PeakMemory MeasurePeakMemory(const Backend& backend);

// {"<kind>": {"<scheme>": bytes}} with kinds "embedding" (the bf16 table, V * D * 2), "attention" (self_attn.*),
// "mlp" (mlp.*), "lm_head" and "other", from the layer map's stored bytes.
nlohmann::json WeightBytesByKind(const ModelConfig& config, const std::vector<LayerPrecision>& layers);

}  // namespace fp4lab
