// A Backend that forwards every call to another backend (by default the CPU reference), for tests that change one
// or two ops and keep the rest: subclass it and override those.
#pragma once

#include <memory>
#include <string>

#include "engine/backend.h"

namespace fp4lab::testing {

class DelegatingBackend : public Backend {
 public:
  explicit DelegatingBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  Backend& inner() { return *inner_; }
  const Backend& inner() const { return *inner_; }

  std::string Name() const override { return inner_->Name(); }
  nlohmann::json Facts() const override { return inner_->Facts(); }
  Result<std::string> LinearPath(LinearScheme scheme) const override { return inner_->LinearPath(scheme); }
  FusedOps Fuses() const override { return inner_->Fuses(); }

  Result<std::unique_ptr<DeviceTensor>> Allocate(int64_t rows, int64_t cols) override {
    return inner_->Allocate(rows, cols);
  }
  Status Upload(std::span<const float> host, DeviceTensor& dst) override { return inner_->Upload(host, dst); }
  Status Download(const DeviceTensor& src, std::span<float> host) override { return inner_->Download(src, host); }
  Result<std::unique_ptr<DeviceLinear>> PrepareLinear(const LinearWeights& weights) override {
    return inner_->PrepareLinear(weights);
  }
  Result<std::unique_ptr<DeviceLinear>> PrepareFusedLinear(std::span<const LinearWeights> parts,
                                                           const std::string& name) override {
    return inner_->PrepareFusedLinear(parts, name);
  }
  bool GeneratesSyntheticWeights() const override { return inner_->GeneratesSyntheticWeights(); }
  Result<std::unique_ptr<DeviceIndices>> AllocateIndices(int64_t size) override {
    return inner_->AllocateIndices(size);
  }
  Status UploadIndices(std::span<const int32_t> host, DeviceIndices& dst) override {
    return inner_->UploadIndices(host, dst);
  }

  Status Embed(const DeviceLinear& table, const DeviceIndices& tokens, DeviceTensor& out) override {
    return inner_->Embed(table, tokens, out);
  }
  Status RmsNorm(const DeviceTensor& x, const DeviceTensor& weight, int64_t group, float eps, float weight_offset,
                 DeviceTensor& out) override {
    return inner_->RmsNorm(x, weight, group, eps, weight_offset, out);
  }
  Status Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y) override {
    return inner_->Linear(x, w, y);
  }
  Status Rope(DeviceTensor& x, int heads, int head_dim, const DeviceTensor& rope_table,
              const DeviceIndices& positions) override {
    return inner_->Rope(x, heads, head_dim, rope_table, positions);
  }
  Status RopeAndStoreKv(const DeviceTensor& qkv, int heads, int kv_heads, int head_dim, const DeviceTensor& rope_table,
                        const RowPlacement& rows, DeviceTensor& q, DeviceTensor& k_cache,
                        DeviceTensor& v_cache) override {
    return inner_->RopeAndStoreKv(qkv, heads, kv_heads, head_dim, rope_table, rows, q, k_cache, v_cache);
  }
  Status WriteKv(const DeviceTensor& k, const DeviceTensor& v, const RowPlacement& rows, DeviceTensor& k_cache,
                 DeviceTensor& v_cache) override {
    return inner_->WriteKv(k, v, rows, k_cache, v_cache);
  }
  Status RoundKvRowsToFp8(const RowPlacement& rows, KvScales scales, DeviceTensor& k_cache,
                          DeviceTensor& v_cache) override {
    return inner_->RoundKvRowsToFp8(rows, scales, k_cache, v_cache);
  }
  Status Attention(const DeviceTensor& q, const DeviceTensor& k_cache, const DeviceTensor& v_cache,
                   const RowPlacement& rows, const AttentionParams& params, DeviceTensor& out) override {
    return inner_->Attention(q, k_cache, v_cache, rows, params, out);
  }
  Status GatedMul(Activation act, const DeviceTensor& gate, const DeviceTensor& up, DeviceTensor& out) override {
    return inner_->GatedMul(act, gate, up, out);
  }
  Status GatedMulHalves(Activation act, const DeviceTensor& gate_up, DeviceTensor& out) override {
    return inner_->GatedMulHalves(act, gate_up, out);
  }
  Status AddInPlace(DeviceTensor& x, const DeviceTensor& y) override { return inner_->AddInPlace(x, y); }
  Status Scale(DeviceTensor& x, float factor) override { return inner_->Scale(x, factor); }
  Status SoftCap(DeviceTensor& x, float cap) override { return inner_->SoftCap(x, cap); }
  Status ScoreTokens(const DeviceTensor& logits, const DeviceIndices& rows, const DeviceIndices& targets,
                     DeviceTensor& out) override {
    return inner_->ScoreTokens(logits, rows, targets, out);
  }
  Status AddRmsNorm(DeviceTensor& x, const DeviceTensor& delta, const DeviceTensor& weight, int64_t group, float eps,
                    float weight_offset, DeviceTensor& out) override {
    return inner_->AddRmsNorm(x, delta, weight, group, eps, weight_offset, out);
  }
  Result<std::unique_ptr<DeviceExperts>> PrepareExperts(std::span<const ExpertLinears> experts,
                                                        const std::string& name) override {
    return inner_->PrepareExperts(experts, name);
  }
  Status RouteTopK(const DeviceTensor& logits, const RoutingParams& params, DeviceIndices& ids,
                   DeviceTensor& weights) override {
    return inner_->RouteTopK(logits, params, ids, weights);
  }
  Status Experts(const DeviceTensor& x, const DeviceExperts& experts, Activation act, const DeviceIndices& ids,
                 const DeviceTensor& weights, DeviceTensor& out, DeviceTensor* hidden) override {
    return inner_->Experts(x, experts, act, ids, weights, out, hidden);
  }
  Status Synchronize() override { return inner_->Synchronize(); }

  Status BeginRecording() override { return inner_->BeginRecording(); }
  Result<std::unique_ptr<DeviceProgram>> EndRecording() override { return inner_->EndRecording(); }
  bool IsCurrent(const DeviceProgram& program) const override { return inner_->IsCurrent(program); }
  Status Replay(const DeviceProgram& program) override { return inner_->Replay(program); }

 private:
  std::unique_ptr<Backend> inner_;
};

}  // namespace fp4lab::testing
