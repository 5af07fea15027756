// KvCache: per-layer key and value buffers on a backend's device, filled by the forward pass.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/backend.h"

namespace fp4lab {

struct KvCache {
  int64_t capacity = 0;  // positions the buffers hold
  int64_t length = 0;    // positions written so far (the next token goes to position `length`)
  std::vector<std::unique_ptr<DeviceTensor>> k;  // per layer [capacity, kv_heads * head_dim]
  std::vector<std::unique_ptr<DeviceTensor>> v;  // per layer, same shape

  // f32 bytes held by the cache.
  int64_t Bytes() const {
    int64_t total = 0;
    for (const auto& t : k) total += t->size() * 4;
    for (const auto& t : v) total += t->size() * 4;
    return total;
  }
};

// Allocates `layers` K and V buffers of [capacity, kv_dim] on `backend`.
Result<std::unique_ptr<KvCache>> AllocateKvCache(Backend& backend, int layers, int64_t capacity, int64_t kv_dim);

}  // namespace fp4lab
