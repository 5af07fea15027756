#include "engine/batch_memory.h"

#include <algorithm>
#include <limits>

#include "engine/device_memory.h"

namespace fp4lab {

Result<int64_t> BatchMemoryBudget(const Backend& backend, int64_t weight_bytes, int64_t override_bytes) {
  if (override_bytes > 0) return override_bytes;
  Result<MemoryBudget> available = AvailableMemory(backend, weight_bytes);
  if (available.status().code() == StatusCode::kUnimplemented) return std::numeric_limits<int64_t>::max();
  if (!available.ok()) return available.status();
  return std::max<int64_t>(0, available->available_bytes / 2);
}

int64_t ScorePassBytes(const ModelBlueprint& blueprint, int64_t rows, int64_t sequences, int64_t longest,
                       bool host_logits) {
  const int64_t activations = 4 * rows * blueprint.ActivationFloatsPerRow();
  const int64_t logits = host_logits ? 4 * rows * int64_t{blueprint.config().vocab_size} : 0;
  return activations + blueprint.KvCacheBytes(sequences * longest) + logits;
}

int GenerationSlots(const ModelBlueprint& blueprint, int64_t budget, int64_t capacity, int64_t longest_prompt,
                    int64_t requests) {
  const int64_t per_row = 4 * blueprint.ActivationFloatsPerRow();
  const int64_t per_slot = blueprint.KvCacheBytes(capacity) + per_row + 4 * int64_t{blueprint.config().vocab_size};
  const int64_t room = budget - longest_prompt * per_row;
  const int64_t fits = room > 0 ? room / per_slot : 0;
  const int64_t most = std::max<int64_t>(1, std::min<int64_t>(requests, kMaxGenerationSlots));
  return static_cast<int>(std::clamp<int64_t>(fits, 1, most));
}

}  // namespace fp4lab
