#include "engine/kv_cache.h"

#include <atomic>

namespace fp4lab {

Result<std::unique_ptr<KvCache>> AllocateKvCache(Backend& backend, int layers, int64_t capacity, int sequences,
                                                 int64_t kv_dim) {
  static std::atomic<uint64_t> next_id{1};
  auto cache = std::make_unique<KvCache>();
  cache->capacity = capacity;
  cache->lengths.assign(static_cast<size_t>(sequences), 0);
  cache->id = next_id.fetch_add(1);
  for (int l = 0; l < layers; ++l) {
    FP4LAB_ASSIGN_OR_RETURN(auto k, backend.Allocate(capacity * sequences, kv_dim));
    FP4LAB_ASSIGN_OR_RETURN(auto v, backend.Allocate(capacity * sequences, kv_dim));
    cache->k.push_back(std::move(k));
    cache->v.push_back(std::move(v));
  }
  return cache;
}

}  // namespace fp4lab
