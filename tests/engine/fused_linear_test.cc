// Fused Linears (q|k|v, gate|up) on the CPU reference: a stacked layer computes, row for row, exactly what its parts
// compute alone (each output is the same dot product in the same order), keeps the parts' stored bytes, and parts
// that cannot share one GEMM are refused with the reason. The fused ops that consume a stacked output
// (RopeAndStoreKv, SiluMulHalves) equal the unfused op sequences bit for bit, and so does the residual add fused
// with the RMSNorm after it (AddRmsNorm).
#include <cmath>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "engine/backend.h"
#include "engine/codecs.h"
#include "engine/arch/rope.h"
#include "engine/nvfp4.h"
#include "engine_test_util.h"

namespace fp4lab {
namespace {

using testing::Get;
using testing::Normal;
using testing::Put;
using testing::PutIndices;

// An NVFP4 layer [n, k] quantized with a shared global scale (as a fused checkpoint group has), with a bias.
LinearWeights Nvfp4Layer(const std::string& name, int64_t n, int64_t k, float weight_scale_2, uint32_t seed) {
  const std::vector<float> w = Normal(static_cast<size_t>(n * k), seed, 1.0f / std::sqrt(float(k)));
  auto q = QuantizeNvfp4Weight(name, w, n, k, weight_scale_2);
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  LinearWeights l;
  l.name = name;
  l.out_features = n;
  l.in_features = k;
  l.scheme = LinearScheme::kNvfp4W4A16;
  l.codes = q->packed;
  l.block_scales = q->scales;
  l.weight_scale_2 = q->weight_scale_2;
  l.bias = Normal(static_cast<size_t>(n), seed + 1, 0.1f);
  return l;
}

std::vector<float> RunLinear(Backend& b, const DeviceLinear& lin, const std::vector<float>& x, int64_t rows) {
  auto xt = b.Allocate(rows, lin.in_features());
  auto yt = b.Allocate(rows, lin.out_features());
  EXPECT_TRUE(xt.ok() && yt.ok());
  EXPECT_TRUE(b.Upload(x, **xt).ok());
  EXPECT_TRUE(b.Linear(**xt, lin, **yt).ok());
  std::vector<float> y(static_cast<size_t>((*yt)->size()));
  EXPECT_TRUE(b.Download(**yt, y).ok());
  return y;
}

TEST(FusedLinearTest, StackedLayerEqualsItsPartsBitForBit) {
  auto cpu = CreateBackend("cpu");
  ASSERT_TRUE(cpu.ok());
  constexpr int64_t kK = 64, kRows = 3;
  const float ws2 = WeightScale2FromAmax(1.0f);
  const std::vector<LinearWeights> parts = {Nvfp4Layer("q_proj", 48, kK, ws2, 1), Nvfp4Layer("k_proj", 16, kK, ws2, 2),
                                            Nvfp4Layer("v_proj", 16, kK, ws2, 3)};
  auto fused = (*cpu)->PrepareFusedLinear(parts, "qkv_proj");
  ASSERT_TRUE(fused.ok()) << fused.status().ToString();
  EXPECT_EQ((*fused)->name(), "qkv_proj");
  EXPECT_EQ((*fused)->out_features(), 80);
  int64_t stored = 0;
  for (const LinearWeights& p : parts) stored += p.StoredBytes();
  EXPECT_EQ((*fused)->DeviceBytes(), stored);

  const std::vector<float> x = Normal(static_cast<size_t>(kRows * kK), 9);
  const std::vector<float> y = RunLinear(**cpu, **fused, x, kRows);
  int64_t col0 = 0;
  for (const LinearWeights& p : parts) {
    auto alone = (*cpu)->PrepareLinear(p);
    ASSERT_TRUE(alone.ok());
    const std::vector<float> part_y = RunLinear(**cpu, **alone, x, kRows);
    for (int64_t r = 0; r < kRows; ++r) {
      EXPECT_EQ(std::memcmp(&y[r * 80 + col0], &part_y[r * p.out_features], p.out_features * sizeof(float)), 0)
          << p.name << " row " << r;
    }
    col0 += p.out_features;
  }
}

TEST(FusedLinearTest, PartsThatCannotShareOneGemmAreRefusedWithTheReason) {
  const float ws2 = WeightScale2FromAmax(1.0f);
  std::vector<LinearWeights> parts = {Nvfp4Layer("gate_proj", 16, 32, ws2, 1), Nvfp4Layer("up_proj", 16, 32, ws2, 2)};
  EXPECT_TRUE(CheckFusable(parts).ok());
  parts[1].weight_scale_2 = ws2 * 2.0f;  // a checkpoint whose group does not share its global scale
  Status s = CheckFusable(parts);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("gate_proj and up_proj have different global scales"), std::string::npos) << s.message();
  auto cpu = CreateBackend("cpu");
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ((*cpu)->PrepareFusedLinear(parts, "gate_up_proj").status().code(), StatusCode::kFailedPrecondition);
  parts[1] = Nvfp4Layer("up_proj", 16, 48, ws2, 2);
  EXPECT_NE(CheckFusable(parts).message().find("different in_features"), std::string::npos);
  parts[1] = Nvfp4Layer("up_proj", 16, 32, ws2, 2);
  parts[1].bias.clear();
  EXPECT_NE(CheckFusable(parts).message().find("only one has a bias"), std::string::npos);
}

TEST(FusedLinearTest, FusedOpsEqualTheUnfusedSequence) {
  auto backend = CreateBackend("cpu");
  ASSERT_TRUE(backend.ok());
  Backend& b = **backend;
  constexpr int kHeads = 4, kKvHeads = 2, kHeadDim = 8, kRows = 3, kCacheRows = 10;
  constexpr int64_t kQ = kHeads * kHeadDim, kKv = kKvHeads * kHeadDim;
  const std::vector<float> qkv = Normal(kRows * (kQ + 2 * kKv), 4);
  std::vector<float> q(kRows * kQ), k(kRows * kKv), v(kRows * kKv);
  for (int r = 0; r < kRows; ++r) {
    const float* row = qkv.data() + r * (kQ + 2 * kKv);
    std::copy(row, row + kQ, q.begin() + r * kQ);
    std::copy(row + kQ, row + kQ + kKv, k.begin() + r * kKv);
    std::copy(row + kQ + kKv, row + kQ + 2 * kKv, v.begin() + r * kKv);
  }
  std::vector<float> inv_freq(kHeadDim / 2);
  for (int i = 0; i < kHeadDim / 2; ++i) inv_freq[i] = std::pow(10000.0f, -2.0f * i / kHeadDim);
  auto table = Put(b, 20, kHeadDim, RopeTable(inv_freq, 20));
  auto positions = PutIndices(b, {5, 0, 17});
  auto cache_rows = PutIndices(b, {5, 7, 9});
  const RowPlacement rows{positions.get(), cache_rows.get(), false};
  const std::vector<float> zeros(kCacheRows * kKv, 0.0f);

  // Fused.
  auto fused_qkv = Put(b, kRows, kQ + 2 * kKv, qkv);
  auto fused_q = Put(b, kRows, kQ, std::vector<float>(kRows * kQ, 0.0f));
  auto fused_k_cache = Put(b, kCacheRows, kKv, zeros), fused_v_cache = Put(b, kCacheRows, kKv, zeros);
  ASSERT_TRUE(b.RopeAndStoreKv(*fused_qkv, kHeads, kKvHeads, kHeadDim, *table, rows, *fused_q, *fused_k_cache,
                               *fused_v_cache).ok());
  // Unfused.
  auto q_t = Put(b, kRows, kQ, q), k_t = Put(b, kRows, kKv, k), v_t = Put(b, kRows, kKv, v);
  auto k_cache = Put(b, kCacheRows, kKv, zeros), v_cache = Put(b, kCacheRows, kKv, zeros);
  ASSERT_TRUE(b.Rope(*q_t, kHeads, kHeadDim, *table, *positions).ok());
  ASSERT_TRUE(b.Rope(*k_t, kKvHeads, kHeadDim, *table, *positions).ok());
  ASSERT_TRUE(b.WriteKv(*k_t, *v_t, rows, *k_cache, *v_cache).ok());
  EXPECT_EQ(Get(b, *fused_q), Get(b, *q_t));
  EXPECT_EQ(Get(b, *fused_k_cache), Get(b, *k_cache));
  EXPECT_EQ(Get(b, *fused_v_cache), Get(b, *v_cache));

  const std::vector<float> gate_up = Normal(kRows * 2 * 5, 6, 3.0f);
  std::vector<float> gate(kRows * 5), up(kRows * 5);
  for (int r = 0; r < kRows; ++r) {
    std::copy(gate_up.begin() + r * 10, gate_up.begin() + r * 10 + 5, gate.begin() + r * 5);
    std::copy(gate_up.begin() + r * 10 + 5, gate_up.begin() + r * 10 + 10, up.begin() + r * 5);
  }
  auto gu_t = Put(b, kRows, 10, gate_up), out_t = Put(b, kRows, 5, std::vector<float>(kRows * 5, 0.0f));
  auto gate_t = Put(b, kRows, 5, gate), up_t = Put(b, kRows, 5, up);
  ASSERT_TRUE(b.GatedMulHalves(Activation::kSilu, *gu_t, *out_t).ok());
  ASSERT_TRUE(b.GatedMul(Activation::kSilu, *gate_t, *up_t, *gate_t).ok());
  EXPECT_EQ(Get(b, *out_t), Get(b, *gate_t));
  EXPECT_EQ(b.GatedMulHalves(Activation::kSilu, *gu_t, *gu_t).code(), StatusCode::kInternal);  // [3, 10] is not [3, 2 * 10]
}

// Bitwise equality (EXPECT_EQ on floats would let -0 equal +0 and fail on equal NaNs).
void ExpectSameBits(const std::vector<float>& expected, const std::vector<float>& actual, const std::string& what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  EXPECT_EQ(std::memcmp(expected.data(), actual.data(), expected.size() * sizeof(float)), 0) << what;
}

// AddRmsNorm against AddInPlace then RmsNorm: several rows, groups that split a row (8 of 64) or span it, of sizes
// that are not multiples of a CUDA block (8 .. 8200), offsets 0 and 1, out a NaN-poisoned tensor (every element must
// be written) or aliasing delta (as the Llama forward calls it). x must hold x + delta, the host's f32 sum.
TEST(FusedLinearTest, AddRmsNormEqualsAddInPlaceThenRmsNorm) {
  auto backend = CreateBackend("cpu");
  ASSERT_TRUE(backend.ok());
  Backend& b = **backend;
  struct Case {
    int64_t rows, width, group;
  };
  for (const Case& c : {Case{5, 64, 8}, Case{7, 100, 100}, Case{3, 1000, 1000}, Case{2, 4096, 4096},
                        Case{3, 5000, 5000}, Case{2, 8200, 8200}}) {
    const size_t n = static_cast<size_t>(c.rows * c.width);
    const std::vector<float> x = Normal(n, 21, 2.0f), delta = Normal(n, 22), w = Normal(c.group, 23);
    std::vector<float> sum(n);
    for (size_t i = 0; i < n; ++i) sum[i] = x[i] + delta[i];
    auto w_t = Put(b, 1, c.group, w);
    for (float offset : {0.0f, 1.0f}) {
      for (bool out_is_delta : {false, true}) {
        const std::string what = "group " + std::to_string(c.group) + " offset " + std::to_string(offset) +
                                 (out_is_delta ? " out = delta" : " out separate");
        auto x1 = Put(b, c.rows, c.width, x), d1 = Put(b, c.rows, c.width, delta);
        auto out1 = Put(b, c.rows, c.width, std::vector<float>(n, 0.0f));
        ASSERT_TRUE(b.AddInPlace(*x1, *d1).ok());
        ASSERT_TRUE(b.RmsNorm(*x1, *w_t, c.group, 1e-5f, offset, *out1).ok());
        auto x2 = Put(b, c.rows, c.width, x), d2 = Put(b, c.rows, c.width, delta);
        auto out2 = Put(b, c.rows, c.width, std::vector<float>(n, NAN));
        DeviceTensor& out = out_is_delta ? *d2 : *out2;
        const Status s = b.AddRmsNorm(*x2, *d2, *w_t, c.group, 1e-5f, offset, out);
        ASSERT_TRUE(s.ok()) << what << ": " << s.ToString();
        ExpectSameBits(sum, Get(b, *x2), what + ": x");
        ExpectSameBits(Get(b, *out1), Get(b, out), what + ": out");
        if (!out_is_delta) ExpectSameBits(delta, Get(b, *d2), what + ": delta unchanged");
      }
    }
  }
  auto x = Put(b, 2, 8, Normal(16, 1)), d = Put(b, 2, 8, Normal(16, 2)), out = Put(b, 2, 8, Normal(16, 3));
  auto other = Put(b, 3, 8, Normal(24, 4)), w = Put(b, 1, 8, Normal(8, 5));
  EXPECT_EQ(b.AddRmsNorm(*x, *d, *w, 8, 1e-5f, 0.0f, *x).code(), StatusCode::kInternal);      // out aliases x
  EXPECT_EQ(b.AddRmsNorm(*x, *other, *w, 8, 1e-5f, 0.0f, *out).code(), StatusCode::kInternal);  // sizes differ
  EXPECT_EQ(b.AddRmsNorm(*x, *d, *w, 4, 1e-5f, 0.0f, *out).code(), StatusCode::kInternal);    // w is not [1, 4]
}

}  // namespace
}  // namespace fp4lab
