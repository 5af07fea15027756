// KvCache: per-layer key and value buffers on a backend's device, filled by the forward pass.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/backend.h"

namespace fp4lab {

// Holds `sequences` independent sequences of up to `capacity` positions each: sequence s owns rows
// [s * capacity, (s + 1) * capacity) of every layer's buffers, and position p of it is row s * capacity + p.
// Because a sequence's rows do not depend on how many sequences there are, a caller may narrow a cache to its first
// n sequences for a call (lengths.resize(n), then back): batched generation decodes only the slots up to its last
// live request that way.
struct KvCache {
  int64_t capacity = 0;          // positions per sequence
  std::vector<int64_t> lengths;  // per sequence: positions written so far (its next token goes to lengths[s])
  uint64_t id = 0;               // unique per allocation in this process (keys recorded decode programs)
  std::vector<std::unique_ptr<DeviceTensor>> k;  // per layer [sequences * capacity, that layer's kv width]
  std::vector<std::unique_ptr<DeviceTensor>> v;  // per layer, same shape

  int sequences() const { return static_cast<int>(lengths.size()); }
  // Forgets every sequence (lengths to 0); the buffers are kept.
  void Clear() { std::fill(lengths.begin(), lengths.end(), 0); }

  // f32 bytes held by the cache.
  int64_t Bytes() const {
    int64_t total = 0;
    for (const auto& t : k) total += t->size() * 4;
    for (const auto& t : v) total += t->size() * 4;
    return total;
  }
};

// Allocates, for each layer l, K and V buffers of [sequences * capacity, kv_widths[l]] on `backend`, every sequence
// empty. REQUIRES capacity >= 1, sequences >= 1.
Result<std::unique_ptr<KvCache>> AllocateKvCache(Backend& backend, std::span<const int64_t> kv_widths,
                                                 int64_t capacity, int sequences);

}  // namespace fp4lab
