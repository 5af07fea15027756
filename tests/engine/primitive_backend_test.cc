// Fused ops are optional (Backend::Fuses): a backend that implements only the primitives runs every family, and
// gives bit for bit the logits of the CPU backend, which fuses q|k|v, gate|up and add + norm. Each fused op's contract
// is "bit-identical to the primitives it stands for", so any difference is a bug in a fallback or a fused op.
#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "engine/arch/architecture.h"
#include "engine/file_util.h"
#include "engine/kv_cache.h"
#include "engine/quant_config.h"
#include "engine/safetensors.h"
#include "engine/weight_loader.h"
#include "engine_test_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

// The CPU backend behind only the primitive ops: Fuses() is the default (none), and the fused ops keep Backend's
// defaults (Unimplemented, or AddInPlace then RmsNorm).
class PrimitiveOnlyBackend : public Backend {
 public:
  explicit PrimitiveOnlyBackend(std::unique_ptr<Backend> cpu) : cpu_(std::move(cpu)) {}
  std::string Name() const override { return "primitives-only " + cpu_->Name(); }
  nlohmann::json Facts() const override { return cpu_->Facts(); }
  Result<std::string> LinearPath(LinearScheme scheme) const override { return cpu_->LinearPath(scheme); }
  Result<std::unique_ptr<DeviceTensor>> Allocate(int64_t rows, int64_t cols) override {
    return cpu_->Allocate(rows, cols);
  }
  Status Upload(std::span<const float> host, DeviceTensor& dst) override { return cpu_->Upload(host, dst); }
  Status Download(const DeviceTensor& src, std::span<float> host) override { return cpu_->Download(src, host); }
  Result<std::unique_ptr<DeviceLinear>> PrepareLinear(const LinearWeights& weights) override {
    return cpu_->PrepareLinear(weights);
  }
  Result<std::unique_ptr<DeviceIndices>> AllocateIndices(int64_t size) override { return cpu_->AllocateIndices(size); }
  Status UploadIndices(std::span<const int32_t> host, DeviceIndices& dst) override {
    return cpu_->UploadIndices(host, dst);
  }
  Status Embed(const DeviceLinear& table, const DeviceIndices& tokens, DeviceTensor& out) override {
    return cpu_->Embed(table, tokens, out);
  }
  Status RmsNorm(const DeviceTensor& x, const DeviceTensor& weight, int64_t group, float eps, float weight_offset,
                 DeviceTensor& out) override {
    return cpu_->RmsNorm(x, weight, group, eps, weight_offset, out);
  }
  Status UnscaledRmsNorm(const DeviceTensor& x, int64_t group, float eps, DeviceTensor& out) override {
    return cpu_->UnscaledRmsNorm(x, group, eps, out);
  }
  Status Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y) override { return cpu_->Linear(x, w, y); }
  Status Rope(DeviceTensor& x, int heads, int head_dim, const DeviceTensor& rope_table,
              const DeviceIndices& positions) override {
    return cpu_->Rope(x, heads, head_dim, rope_table, positions);
  }
  Status WriteKv(const DeviceTensor& k, const DeviceTensor& v, const RowPlacement& rows, DeviceTensor& k_cache,
                 DeviceTensor& v_cache) override {
    return cpu_->WriteKv(k, v, rows, k_cache, v_cache);
  }
  Status Attention(const DeviceTensor& q, const DeviceTensor& k_cache, const DeviceTensor& v_cache,
                   const RowPlacement& rows, const AttentionParams& params, DeviceTensor& out) override {
    return cpu_->Attention(q, k_cache, v_cache, rows, params, out);
  }
  Status GatedMul(Activation act, const DeviceTensor& gate, const DeviceTensor& up, DeviceTensor& out) override {
    return cpu_->GatedMul(act, gate, up, out);
  }
  Status AddInPlace(DeviceTensor& x, const DeviceTensor& y) override { return cpu_->AddInPlace(x, y); }
  Status Scale(DeviceTensor& x, float factor) override { return cpu_->Scale(x, factor); }
  Status SoftCap(DeviceTensor& x, float cap) override { return cpu_->SoftCap(x, cap); }
  Status ScoreTokens(const DeviceTensor& logits, const DeviceIndices& rows, const DeviceIndices& targets,
                     DeviceTensor& out) override {
    return cpu_->ScoreTokens(logits, rows, targets, out);
  }
  Result<std::unique_ptr<DeviceExperts>> PrepareExperts(std::span<const ExpertLinears> experts,
                                                        const std::string& name) override {
    return cpu_->PrepareExperts(experts, name);
  }
  Status RouteTopK(const DeviceTensor& logits, const RoutingParams& params, DeviceIndices& ids,
                   DeviceTensor& weights) override {
    return cpu_->RouteTopK(logits, params, ids, weights);
  }
  Status Experts(const DeviceTensor& x, const DeviceExperts& experts, Activation act, const DeviceIndices& ids,
                 const DeviceTensor& weights, DeviceTensor& out, DeviceTensor* hidden) override {
    return cpu_->Experts(x, experts, act, ids, weights, out, hidden);
  }
  Status RoundKvRowsToFp8(const RowPlacement& rows, KvScales scales, DeviceTensor& k_cache,
                          DeviceTensor& v_cache) override {
    return cpu_->RoundKvRowsToFp8(rows, scales, k_cache, v_cache);
  }
  Status Synchronize() override { return cpu_->Synchronize(); }
  Status BeginRecording() override { return cpu_->BeginRecording(); }
  Result<std::unique_ptr<DeviceProgram>> EndRecording() override { return cpu_->EndRecording(); }
  bool IsCurrent(const DeviceProgram& program) const override { return cpu_->IsCurrent(program); }
  Status Replay(const DeviceProgram& program) override { return cpu_->Replay(program); }

 private:
  std::unique_ptr<Backend> cpu_;
};

// Logits [tokens, vocab] of the checkpoint in `dir` over `tokens`, loaded in bf16 onto `backend`.
std::vector<float> Logits(const std::string& dir, Backend& backend, const std::vector<int32_t>& tokens) {
  const std::string config_path = dir + "/config.json";
  auto config = ReadJsonFile(config_path);
  EXPECT_TRUE(config.ok());
  auto blueprint = ParseModelBlueprint(*config, config_path);
  EXPECT_TRUE(blueprint.ok()) << blueprint.status().ToString();
  auto quant = ParseQuantConfig(*config, config_path, nullptr, "");
  EXPECT_TRUE(quant.ok()) << quant.status().ToString();
  auto reader = SafetensorsReader::Open(dir);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  WeightLoader loader(**reader, *quant, LinearScheme::kBf16, {});
  auto model = (*blueprint)->Load(loader, backend);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  const int64_t n = static_cast<int64_t>(tokens.size());
  auto cache = (*model)->NewCache(n, 1);
  auto logits = backend.Allocate(n, (*blueprint)->config().vocab_size);
  EXPECT_TRUE(cache.ok() && logits.ok());
  const Status forward = (*model)->Forward(tokens, **cache, 0, **logits);
  EXPECT_TRUE(forward.ok()) << forward.ToString();
  std::vector<float> host(static_cast<size_t>((*logits)->size()));
  EXPECT_TRUE(backend.Download(**logits, host).ok());
  return host;
}

class PrimitiveBackendTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PrimitiveBackendTest, EveryFamilyRunsOnPrimitivesAloneBitForBit) {
  auto cpu = CreateBackend("cpu");
  auto inner = CreateBackend("cpu");
  ASSERT_TRUE(cpu.ok() && inner.ok());
  ASSERT_TRUE((*cpu)->Fuses().stacked_linears && (*cpu)->Fuses().add_rms_norm);  // the comparison's premise
  PrimitiveOnlyBackend primitives(std::move(inner).value());
  const std::string dir = testing::FixturePath(GetParam());
  const std::vector<int32_t> tokens = {1, 17, 42, 5, 99, 3, 250, 8, 61, 12, 7, 33};
  const std::vector<float> fused = Logits(dir, **cpu, tokens);
  const std::vector<float> unfused = Logits(dir, primitives, tokens);
  ASSERT_FALSE(fused.empty());
  EXPECT_EQ(fused, unfused);
}

INSTANTIATE_TEST_SUITE_P(Families, PrimitiveBackendTest, ::testing::Values("llama_tiny", "qwen3_tiny", "gemma3_tiny"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace fp4lab
