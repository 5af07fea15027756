// Synthetic weights generated on the device (engine/cuda/synthetic_kernels.h) against the host generator
// (engine/synthetic_spec.h), byte for byte: every tensor of the tiny preset in every scheme, tensors that end
// inside a word, tensors large enough for the grid-stride loop to wrap, the device block-scale swizzle against
// SwizzleScales, CUDA Linears prepared from descriptions against the same Linears prepared from host bytes
// (identical device bytes and bit-identical outputs), and a preset engine on the device. No tolerance: any
// difference is a bug.
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "engine/arch/pre_norm_decoder.h"
#include "engine/engine.h"
#include "engine/memory_model.h"
#include "engine/nvfp4.h"
#include "engine/presets.h"
#include "engine/synthetic_spec.h"
#include "engine/synthetic_weights.h"
#include "engine/weight_loader.h"
#include "gpu_test_util.h"
#ifdef FP4LAB_WITH_CUDA
#include "engine/cuda/cuda_context.h"
#include "engine/cuda/synthetic_device.h"
#include "engine/cuda/synthetic_kernels.h"
#endif

namespace fp4lab {
namespace {

using gpu_testing::Get;
using gpu_testing::MakeBackend;
using gpu_testing::Normal;
using gpu_testing::Put;

constexpr LinearScheme kSchemes[] = {LinearScheme::kBf16, LinearScheme::kNvfp4, LinearScheme::kNvfp4W4A16,
                                     LinearScheme::kFp8};

DecoderConfig TinyConfig() {
  auto preset = FindPreset("tiny");
  EXPECT_TRUE(preset.ok()) << preset.status().ToString();
  auto config = ParseDecoderConfig(ConfigReader((*preset)->config, "tiny preset"), "llama", "silu");
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return *config;
}

std::unique_ptr<SyntheticWeights> MakeSource(const DecoderConfig& config, LinearScheme scheme, uint64_t seed) {
  auto source = SyntheticWeights::Create(PreNormBlueprint(config, nullptr).manifest(), {scheme, seed, "gpu test"});
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  return source.ok() ? std::move(source).value() : nullptr;
}

#ifdef FP4LAB_WITH_CUDA

using cuda::CudaContext;
using cuda::DeviceBuffer;

// "" when equal, else where the first difference is.
std::string FirstDifference(const std::vector<uint8_t>& actual, std::span<const uint8_t> expected) {
  if (actual.size() != expected.size()) {
    return "size " + std::to_string(actual.size()) + " != " + std::to_string(expected.size());
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    if (actual[i] != expected[i]) {
      return "byte " + std::to_string(i) + ": device " + std::to_string(actual[i]) + ", host " +
             std::to_string(expected[i]);
    }
  }
  return "";
}

constexpr uint8_t kGuard = 0xA5;
constexpr int64_t kGuardBytes = 8;

std::shared_ptr<CudaContext> MakeContext() {
  auto context = CudaContext::Create(0, 0);
  EXPECT_TRUE(context.ok()) << context.status().ToString();
  return context.ok() ? std::move(context).value() : nullptr;
}

// `bytes` + kGuardBytes device bytes, every one kGuard.
DeviceBuffer GuardedBuffer(const std::shared_ptr<CudaContext>& context, int64_t bytes) {
  auto buffer = DeviceBuffer::Allocate(context, bytes + kGuardBytes, "test buffer");
  EXPECT_TRUE(buffer.ok()) << buffer.status().ToString();
  if (!buffer.ok()) return DeviceBuffer();
  EXPECT_EQ(cudaMemset(buffer->data(), kGuard, static_cast<size_t>(bytes + kGuardBytes)), cudaSuccess);
  return std::move(buffer).value();
}

// The first `bytes` bytes of `buffer`; the kGuardBytes after them must still be kGuard (nothing written past the
// tensor's end).
std::vector<uint8_t> Download(const std::shared_ptr<CudaContext>& context, const DeviceBuffer& buffer, int64_t bytes) {
  std::vector<uint8_t> host(static_cast<size_t>(bytes + kGuardBytes));
  EXPECT_EQ(cudaStreamSynchronize(context->stream()), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), buffer.data(), host.size(), cudaMemcpyDeviceToHost), cudaSuccess);
  for (int64_t i = bytes; i < bytes + kGuardBytes; ++i) EXPECT_EQ(host[i], kGuard) << "written past the end at " << i;
  host.resize(static_cast<size_t>(bytes));
  return host;
}

// The device's bytes of `t`.
std::vector<uint8_t> DeviceGenerated(const std::shared_ptr<CudaContext>& context, const SyntheticTensor& t) {
  DeviceBuffer buffer = GuardedBuffer(context, t.Bytes());
  const Status status = cuda::GenerateSyntheticTensor(*context, t, buffer.data());
  EXPECT_TRUE(status.ok()) << status.ToString();
  return Download(context, buffer, t.Bytes());
}

std::vector<uint8_t> HostGenerated(const SyntheticTensor& t) {
  std::vector<uint8_t> bytes(static_cast<size_t>(t.Bytes()));
  GenerateSyntheticBytes(t, bytes);
  return bytes;
}

#endif  // FP4LAB_WITH_CUDA

// Every tensor the tiny preset has in each scheme (bf16 normals and ones, E2M1 codes, block scales, FP8 normals,
// F32 scalars), for two seeds, generated on the device from its description equals the bytes Find() serves.
TEST(SyntheticGpuTest, EveryTinyPresetTensorEqualsTheHostBytes) {
  FP4LAB_REQUIRE_GPU();
#ifdef FP4LAB_WITH_CUDA
  auto context = MakeContext();
  ASSERT_NE(context, nullptr);
  const DecoderConfig config = TinyConfig();
  for (LinearScheme scheme : kSchemes) {
    for (uint64_t seed : {uint64_t{0}, uint64_t{77}}) {
      SCOPED_TRACE(std::string(LinearSchemeName(scheme)) + " seed " + std::to_string(seed));
      auto source = MakeSource(config, scheme, seed);
      ASSERT_NE(source, nullptr);
      for (const std::string& name : source->names()) {
        const SyntheticTensorInfo* info = source->Describe(name);
        const TensorView* host = source->Find(name);
        ASSERT_NE(info, nullptr);
        ASSERT_NE(host, nullptr);
        EXPECT_EQ(FirstDifference(DeviceGenerated(context, info->payload), host->bytes), "") << name;
      }
    }
  }
#endif
}

// Sizes that end inside a word (the tail stored byte by byte, nothing past the end) and tensors with more words
// than one grid covers (GridFor caps it at 65536 blocks of 256 threads = 2^24 threads, so each thread wraps).
TEST(SyntheticGpuTest, OddAndLargeSizesEqualTheHostBytes) {
  FP4LAB_REQUIRE_GPU();
#ifdef FP4LAB_WITH_CUDA
  auto context = MakeContext();
  ASSERT_NE(context, nullptr);
  constexpr int64_t kOneGrid = int64_t{1} << 24;
  for (SyntheticFill fill : {SyntheticFill::kNormalBf16, SyntheticFill::kConstantBf16, SyntheticFill::kE2M1Codes,
                             SyntheticFill::kBlockScales, SyntheticFill::kFp8Normal}) {
    const int64_t elements_per_word = SyntheticBytesPerWord(fill) / SyntheticElementBytes(fill);
    for (int64_t elements : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{5}, int64_t{7}, int64_t{9}, int64_t{4097},
                             (kOneGrid + 1000) * elements_per_word + 1}) {
      SCOPED_TRACE("fill " + std::to_string(static_cast<int>(fill)) + ", " + std::to_string(elements) + " elements");
      const SyntheticTensor t{SyntheticKey(5, "odd"), fill, 0.03125f, elements};
      EXPECT_EQ(FirstDifference(DeviceGenerated(context, t), HostGenerated(t)), "");
    }
  }
  const SyntheticTensor scalar{SyntheticKey(5, "scalar"), SyntheticFill::kScalarF32, 0.0059523810f, 1};
  EXPECT_EQ(FirstDifference(DeviceGenerated(context, scalar), HostGenerated(scalar)), "");
#endif
}

TEST(SyntheticGpuTest, MisalignedDestinationIsRefused) {
  FP4LAB_REQUIRE_GPU();
#ifdef FP4LAB_WITH_CUDA
  auto context = MakeContext();
  ASSERT_NE(context, nullptr);
  DeviceBuffer buffer = GuardedBuffer(context, 64);
  const SyntheticTensor t{SyntheticKey(1, "t"), SyntheticFill::kE2M1Codes, 0.0f, 16};
  const Status status = cuda::GenerateSyntheticTensor(*context, t, buffer.as<uint8_t>() + 1);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("LaunchFillSynthetic"), std::string::npos) << status.message();
#endif
}

// The device swizzle equals SwizzleScales, padding zeros included (the buffer starts as 0xA5 garbage), for shapes
// with rows not a multiple of 128 and columns not a multiple of 4, and for a Llama-like one.
TEST(SyntheticGpuTest, DeviceSwizzleEqualsSwizzleScales) {
  FP4LAB_REQUIRE_GPU();
#ifdef FP4LAB_WITH_CUDA
  auto context = MakeContext();
  ASSERT_NE(context, nullptr);
  std::mt19937 rng(3);
  for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{300, 9}, {1, 1}, {128, 4}, {1024, 256}}) {
    SCOPED_TRACE(std::to_string(rows) + " x " + std::to_string(cols));
    std::vector<uint8_t> linear(static_cast<size_t>(rows * cols));
    for (uint8_t& s : linear) s = static_cast<uint8_t>(rng() % 0x7F);
    std::vector<uint8_t> expected(static_cast<size_t>(SwizzledScaleBytes(rows, cols)));
    ASSERT_TRUE(SwizzleScales(linear, rows, cols, expected).ok());
    auto device_linear = DeviceBuffer::Allocate(context, rows * cols, "linear scales");
    ASSERT_TRUE(device_linear.ok()) << device_linear.status().ToString();
    ASSERT_EQ(cudaMemcpy(device_linear->data(), linear.data(), linear.size(), cudaMemcpyHostToDevice), cudaSuccess);
    const int64_t swizzled_bytes = static_cast<int64_t>(expected.size());
    DeviceBuffer swizzled = GuardedBuffer(context, swizzled_bytes);
    ASSERT_EQ(cuda::LaunchSwizzleScales(device_linear->as<uint8_t>(), rows, cols, swizzled.as<uint8_t>(),
                                        context->stream()),
              cudaSuccess);
    EXPECT_EQ(FirstDifference(Download(context, swizzled, swizzled_bytes), expected), "");
  }
#endif
}

// The layers of the tiny preset that exercise every payload kind: the embedding (Dense, bf16 in every scheme), a
// fused q/k/v member, down_proj and the untied lm_head (bf16, excluded from quantization).
std::vector<LinearWeights> LoadLayers(WeightLoader& loader) {
  std::vector<LinearWeights> out;
  const auto keep = [&](Result<LinearWeights> w) {
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    if (w.ok()) out.push_back(std::move(w).value());
  };
  const std::string p = "model.layers.1.";
  const std::vector<std::string> qkv = {p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"};
  keep(loader.Dense("model.embed_tokens.weight", "embedding"));
  keep(loader.Linear(qkv[1], qkv));
  keep(loader.Linear(p + "mlp.down_proj", {}));
  if (loader.Has("lm_head.weight")) keep(loader.Linear("lm_head", {}));
  return out;
}

// A Linear prepared on the CUDA backend from its description holds the same device bytes and computes bit-identical
// outputs to the same Linear prepared from host bytes: same buffers, same kernels, same inputs (rows 1 and 5 take
// the decode paths, 40 the GEMM paths). On a device with native NVFP4 this covers the device swizzle too.
TEST(SyntheticGpuTest, LinearsPreparedFromDescriptionsMatchThosePreparedFromHostBytes) {
  FP4LAB_REQUIRE_GPU();
  auto gpu = MakeBackend("cuda");
  ASSERT_NE(gpu, nullptr);
  ASSERT_TRUE(gpu->GeneratesSyntheticWeights());
  const DecoderConfig config = TinyConfig();
  for (LinearScheme scheme : kSchemes) {
    SCOPED_TRACE(LinearSchemeName(scheme));
    auto host_source = MakeSource(config, scheme, 8);
    auto device_source = MakeSource(config, scheme, 8);
    WeightLoader host_loader(*host_source, scheme, SyntheticPayloads::kOnHost);
    WeightLoader device_loader(*device_source, scheme, SyntheticPayloads::kOnDevice);
    const std::vector<LinearWeights> host_layers = LoadLayers(host_loader);
    const std::vector<LinearWeights> device_layers = LoadLayers(device_loader);
    ASSERT_EQ(device_layers.size(), host_layers.size());
    for (size_t i = 0; i < host_layers.size(); ++i) {
      const LinearWeights& h = host_layers[i];
      const LinearWeights& d = device_layers[i];
      SCOPED_TRACE(h.name);
      ASSERT_TRUE(d.synthetic.has_value());
      auto from_host = gpu->PrepareLinear(h);
      auto from_description = gpu->PrepareLinear(d);
      ASSERT_TRUE(from_host.ok()) << from_host.status().ToString();
      ASSERT_TRUE(from_description.ok()) << from_description.status().ToString();
      EXPECT_EQ((*from_description)->DeviceBytes(), (*from_host)->DeviceBytes());
      EXPECT_EQ((*from_description)->scheme(), (*from_host)->scheme());
      for (int64_t rows : {1, 5, 40}) {
        const std::vector<float> x = Normal(static_cast<size_t>(rows * h.in_features), 100 + rows);
        auto x_dev = Put(*gpu, rows, h.in_features, x);
        auto y_host = gpu->Allocate(rows, h.out_features);
        auto y_desc = gpu->Allocate(rows, h.out_features);
        ASSERT_TRUE(y_host.ok() && y_desc.ok());
        ASSERT_TRUE(gpu->Linear(*x_dev, **from_host, **y_host).ok());
        ASSERT_TRUE(gpu->Linear(*x_dev, **from_description, **y_desc).ok());
        const std::vector<float> a = Get(*gpu, **y_host), b = Get(*gpu, **y_desc);
        EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << rows << " rows";
      }
    }
  }
}

// The preset engine on the device: payloads generated there, the weight bytes of the config-only prediction, finite
// logits. The prediction also counts the RMSNorm vectors (2 B per element; the backend keeps them as activation
// tensors, as in tests/engine/synthetic_weights_test.cc) and the global scales, which CUDA keeps on the host
// (engine/cuda/cuda_linear.h): 4 B each, two per nvfp4 and fp8 Linear, one per nvfp4-w4a16 Linear.
TEST(SyntheticGpuTest, PresetEngineGeneratesOnTheDeviceWithPredictedWeightBytes) {
  FP4LAB_REQUIRE_GPU();
  for (LinearScheme scheme : kSchemes) {
    SCOPED_TRACE(LinearSchemeName(scheme));
    EngineOptions options;
    options.device = "cuda";
    options.precision = LinearSchemeName(scheme);
    auto engine = Engine::OpenPreset("tiny", options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    EXPECT_EQ((*engine)->Provenance()["synthetic"]["generated_on"], "device");
    const ModelConfig& c = (*engine)->config();
    const int64_t norm_bytes = 2 * (2 * int64_t{c.num_layers} * c.hidden_size + c.hidden_size);
    int64_t host_scale_bytes = 0;
    for (const LayerPrecision& layer : (*engine)->layer_map()) {
      if (layer.scheme == LinearScheme::kNvfp4 || layer.scheme == LinearScheme::kFp8) host_scale_bytes += 8;
      if (layer.scheme == LinearScheme::kNvfp4W4A16) host_scale_bytes += 4;
    }
    EXPECT_EQ((*engine)->model().WeightDeviceBytes() + norm_bytes + host_scale_bytes,
              PredictWeightMemory(InventoryFromManifest((*engine)->blueprint().manifest(), c.model_type), scheme).bytes);
    auto logits = (*engine)->Logits(std::vector<TokenId>{1, 17, 300, 2047});
    ASSERT_TRUE(logits.ok()) << logits.status().ToString();
    for (float v : *logits) ASSERT_TRUE(std::isfinite(v));
  }
}

}  // namespace
}  // namespace fp4lab
