#include "engine/role_memory.h"

#include <algorithm>

namespace fp4lab {

std::vector<RoleMemory> MemoryByRole(const TensorManifest& manifest, const std::vector<LayerPrecision>& layer_map) {
  std::map<std::string, const LayerPrecision*> by_layer;
  for (const LayerPrecision& l : layer_map) by_layer[l.layer] = &l;
  std::vector<RoleMemory> roles;
  for (const ManifestTensor& t : manifest.tensors) {
    auto role = std::find_if(roles.begin(), roles.end(), [&](const RoleMemory& r) { return r.role == t.part; });
    if (role == roles.end()) role = roles.insert(roles.end(), RoleMemory{t.part, {}, 0, 0, {}});
    role->parameters += t.Parameters();
    const auto add_bytes = [&](LinearScheme scheme, int64_t bytes) {
      role->bytes += bytes;
      role->bytes_by_scheme[LinearSchemeName(scheme)] += bytes;
    };
    if (t.kind != TensorKind::kLinear) {
      add_bytes(LinearScheme::kBf16, 2 * t.Parameters());
      continue;
    }
    // An experts entry stands for one Linear per expert, each in the layer map under its own name.
    const int64_t linears = t.experts > 0 ? t.experts : 1;
    for (int64_t e = 0; e < linears; ++e) {
      const auto loaded = by_layer.find(t.experts > 0 ? t.ExpertName(e) : t.name);
      if (loaded == by_layer.end()) {
        role->linears_by_scheme[LinearSchemeName(LinearScheme::kBf16)]++;
        add_bytes(LinearScheme::kBf16, 2 * t.Parameters() / linears);
      } else {
        role->linears_by_scheme[LinearSchemeName(loaded->second->scheme)]++;
        add_bytes(loaded->second->scheme, loaded->second->bytes);
      }
    }
  }
  return roles;
}

int64_t KvCacheBytesPerToken(const std::vector<int64_t>& kv_widths, KvCacheFormat format) {
  int64_t elements = 0;
  for (const int64_t width : kv_widths) elements += 2 * width;
  return elements * KvCacheBytesPerElement(format);
}

}  // namespace fp4lab
