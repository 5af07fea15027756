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
#include "delegating_backend.h"
#include "engine_test_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

// The CPU backend behind only the primitive ops: Fuses() offers none, and the fused ops fall back to Backend's
// defaults (Unimplemented, or AddInPlace then RmsNorm).
class PrimitiveOnlyBackend : public testing::DelegatingBackend {
 public:
  using DelegatingBackend::DelegatingBackend;
  std::string Name() const override { return "primitives-only " + inner().Name(); }
  FusedOps Fuses() const override { return {}; }
  Result<std::unique_ptr<DeviceLinear>> PrepareFusedLinear(std::span<const LinearWeights> parts,
                                                           const std::string& name) override {
    return Backend::PrepareFusedLinear(parts, name);
  }
  Status RopeAndStoreKv(const DeviceTensor& qkv, int heads, int kv_heads, int head_dim, const DeviceTensor& rope_table,
                        const RowPlacement& rows, DeviceTensor& q, DeviceTensor& k_cache,
                        DeviceTensor& v_cache) override {
    return Backend::RopeAndStoreKv(qkv, heads, kv_heads, head_dim, rope_table, rows, q, k_cache, v_cache);
  }
  Status GatedMulHalves(Activation act, const DeviceTensor& gate_up, DeviceTensor& out) override {
    return Backend::GatedMulHalves(act, gate_up, out);
  }
  Status AddRmsNorm(DeviceTensor& x, const DeviceTensor& delta, const DeviceTensor& weight, int64_t group, float eps,
                    float weight_offset, DeviceTensor& out) override {
    return Backend::AddRmsNorm(x, delta, weight, group, eps, weight_offset, out);
  }
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

INSTANTIATE_TEST_SUITE_P(Families, PrimitiveBackendTest,
                         ::testing::Values("llama_tiny", "qwen3_tiny", "gemma3_tiny", "qwen3moe_tiny"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace fp4lab
