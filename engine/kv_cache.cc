#include "engine/kv_cache.h"

#include <atomic>

namespace fp4lab {

Result<std::unique_ptr<KvCache>> AllocateKvCache(Backend& backend, std::span<const int64_t> kv_widths,
                                                 int64_t capacity, int sequences) {
  static std::atomic<uint64_t> next_id{1};
  auto cache = std::make_unique<KvCache>();
  cache->capacity = capacity;
  cache->lengths.assign(static_cast<size_t>(sequences), 0);
  cache->id = next_id.fetch_add(1);
  for (const int64_t kv_width : kv_widths) {
    FP4LAB_ASSIGN_OR_RETURN(auto k, backend.Allocate(capacity * sequences, kv_width));
    FP4LAB_ASSIGN_OR_RETURN(auto v, backend.Allocate(capacity * sequences, kv_width));
    cache->k.push_back(std::move(k));
    cache->v.push_back(std::move(v));
  }
  return cache;
}

}  // namespace fp4lab
