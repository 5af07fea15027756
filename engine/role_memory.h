// A loaded checkpoint's precision map by role: the parts of its tensor manifest (engine/arch/tensor_manifest.h:
// "embedding", "attention", "mlp" (the dense MLP), "experts", "router", "norms", "lm_head", "vision", ...), so it
// reads the same for every family, the mixture-of-experts ones included. Plus the KV cache of a run, which is no
// weight but is the other precision axis (engine/kv_cache_format.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/arch/tensor_manifest.h"
#include "engine/kv_cache_format.h"
#include "engine/weight_loader.h"

namespace fp4lab {

struct RoleMemory {
  std::string role;                                   // the manifest part
  std::map<std::string, int64_t> linears_by_scheme;  // scheme name ("bf16", "nvfp4", ...) -> Linear layers in it
  int64_t parameters = 0;
  int64_t bytes = 0;  // Linears: their stored bytes (LayerPrecision::bytes); embeddings and vectors: bf16, 2 B each
  std::map<std::string, int64_t> bytes_by_scheme;  // `bytes` split by scheme name (embeddings and vectors: "bf16")
};

// One entry per part, in first-appearance order of the manifest. An experts entry counts each expert's Linear
// under its own name (ManifestTensor::ExpertName). A Linear missing from `layer_map` (not loaded) counts as bf16.
std::vector<RoleMemory> MemoryByRole(const TensorManifest& manifest, const std::vector<LayerPrecision>& layer_map);

// The KV cache of a run in `format`: bytes one token (position) occupies over every layer's K and V, from the
// per-layer widths of ModelBlueprint::KvWidths (kv_heads * head_dim each).
int64_t KvCacheBytesPerToken(const std::vector<int64_t>& kv_widths, KvCacheFormat format);

}  // namespace fp4lab
