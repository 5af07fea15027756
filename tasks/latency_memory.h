// Memory figures of the latency task (tasks/latency.h): what one forward pass needs (analytic, from the model's
// blueprint), what the backend's device has available, the peak it reached, and stored weight bytes by role.
//
// Device facts read from Backend::Facts() (a backend that does not report a key gets the fallback stated): those of
// engine/device_memory.h (AvailableMemory), and
//   "memory_peak_bytes"  the most device bytes the backend held at once since it was created; fallback: not
//                        measured. "memory_peak_scope" says what that count covers (quoted in the source).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/device_memory.h"
#include "engine/arch/architecture.h"
#include "engine/status.h"
#include "engine/weight_loader.h"

namespace fp4lab {

// f32 activation buffers of one Model::Forward over `tokens` tokens (ModelBlueprint::ActivationFloatsPerRow) plus
// the logits [n, V] the caller allocates, which that count includes. Backend-internal scratch is not included.
int64_t ForwardWorkspaceBytes(const ModelBlueprint& blueprint, int64_t tokens);

struct PeakMemory {
  std::optional<int64_t> bytes;  // absent when the backend cannot report it
  std::string source;            // what the figure is, or why it is absent
};
PeakMemory MeasurePeakMemory(const Backend& backend);

// {"<role>": {"<scheme>": bytes}} over the parts of the model's tensor manifest ("embedding", "attention", "mlp",
// "experts", "norms", "lm_head", ...; engine/role_memory.h): Linears at their stored bytes from the layer map,
// everything else bf16.
nlohmann::json WeightBytesByRole(const TensorManifest& manifest, const std::vector<LayerPrecision>& layers);

}  // namespace fp4lab
