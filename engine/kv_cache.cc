#include "engine/kv_cache.h"

namespace fp4lab {

Result<std::unique_ptr<KvCache>> AllocateKvCache(Backend& backend, int layers, int64_t capacity, int64_t kv_dim) {
  auto cache = std::make_unique<KvCache>();
  cache->capacity = capacity;
  for (int l = 0; l < layers; ++l) {
    FP4LAB_ASSIGN_OR_RETURN(auto k, backend.Allocate(capacity, kv_dim));
    FP4LAB_ASSIGN_OR_RETURN(auto v, backend.Allocate(capacity, kv_dim));
    cache->k.push_back(std::move(k));
    cache->v.push_back(std::move(v));
  }
  return cache;
}

}  // namespace fp4lab
