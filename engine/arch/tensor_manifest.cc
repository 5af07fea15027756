#include "engine/arch/tensor_manifest.h"

namespace fp4lab {

int64_t ManifestTensor::Elements() const {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

std::string ExpertTensorName(const std::string& pattern, int64_t e) {
  const size_t star = pattern.find('*');
  return pattern.substr(0, star) + std::to_string(e) + pattern.substr(star + 1);
}

std::string ManifestTensor::ExpertName(int64_t e) const { return ExpertTensorName(name, e); }

int64_t TensorManifest::ParameterCount() const {
  int64_t total = 0;
  for (const ManifestTensor& t : tensors) total += t.Parameters();
  return total;
}

const ManifestTensor* TensorManifest::Find(const std::string& name) const {
  for (const ManifestTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<std::string> TensorManifest::FusedGroup(const std::string& name) const {
  const ManifestTensor* self = Find(name);
  if (self == nullptr || self->fused_as.empty()) return {name};
  std::vector<std::string> group;
  for (const ManifestTensor& t : tensors) {
    if (t.kind == TensorKind::kLinear && t.fused_as == self->fused_as) group.push_back(t.name);
  }
  return group;
}

void TensorManifest::AddLinear(const std::string& name, const std::string& part, int64_t out, int64_t in,
                               const std::string& fused_as, bool bias) {
  ManifestTensor t;
  t.name = name;
  t.kind = TensorKind::kLinear;
  t.part = part;
  t.shape = {out, in};
  t.bias = bias;
  t.fused_as = fused_as;
  if (part == "lm_head") t.keep_bf16 = "lm_head (excluded by default, as ModelOpt exports it)";
  tensors.push_back(std::move(t));
}

void TensorManifest::AddRouter(const std::string& name, int64_t experts, int64_t in) {
  AddLinear(name, "router", experts, in);
  tensors.back().keep_bf16 = "router (never quantized: ModelOpt excludes routers, vLLM loads them unquantized)";
}

void TensorManifest::AddExperts(const std::string& pattern, int64_t count, int64_t out, int64_t in,
                                const std::string& fused_as) {
  AddLinear(pattern, "experts", out, in, fused_as);
  tensors.back().experts = count;
}

void TensorManifest::AddEmbedding(const std::string& name, int64_t rows, int64_t cols) {
  ManifestTensor t;
  t.name = name;
  t.kind = TensorKind::kEmbedding;
  t.part = "embedding";
  t.shape = {rows, cols};
  tensors.push_back(std::move(t));
}

void TensorManifest::AddVector(const std::string& name, const std::string& part, int64_t size,
                               float synthetic_value) {
  ManifestTensor t;
  t.name = name;
  t.kind = TensorKind::kVector;
  t.part = part;
  t.shape = {size};
  t.synthetic_value = synthetic_value;
  tensors.push_back(std::move(t));
}

}  // namespace fp4lab
