// The FP8 KV cache op on the GPU (Backend::RoundKvRowsToFp8, engine/cuda/kv_fp8_kernels.cu) against the CPU
// reference: the device repeats the reference's three f32 operations (IEEE division, the RNE saturating E4M3
// conversion of engine/codecs.h, one multiply) one for one, so every element must match bit for bit, saturated and
// subnormal ones included, and only the placed rows may change.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "engine/kv_cache_format.h"
#include "gpu_test_util.h"

namespace fp4lab {
namespace {

using gpu_testing::Bits;
using gpu_testing::Get;
using gpu_testing::MakeBackend;
using gpu_testing::Normal;
using gpu_testing::Put;
using gpu_testing::PutIndices;

TEST(KvFp8Gpu, RoundKvRowsToFp8IsBitIdenticalToTheCpu) {
  FP4LAB_REQUIRE_GPU();
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  constexpr int64_t kRows = 40, kKCols = 96, kVCols = 64;  // K and V of different widths (Gemma 4's K=V layers)
  std::vector<float> k = Normal(kRows * kKCols, 11, 30.0f), v = Normal(kRows * kVCols, 12, 0.01f);
  k[3] = 1e6f;                // saturates
  k[4] = -INFINITY;           // saturates to -448 * scale
  v[5] = 3.0f / 1024 * 0.25f;  // an E4M3 subnormal tie at scale 0.25
  v[6] = -0.0f;
  const std::vector<int32_t> placed = {7, 0, 39, 22, 23};
  const std::vector<int32_t> positions(placed.size(), 0);
  for (const KvScales scales : {KvScales{1.0f, 1.0f}, KvScales{0.0371f, 0.25f}}) {
    std::vector<float> results[2][2];  // [backend][k, v]
    Backend* backends[2] = {cpu.get(), gpu.get()};
    for (int b = 0; b < 2; ++b) {
      auto kt = Put(*backends[b], kRows, kKCols, k);
      auto vt = Put(*backends[b], kRows, kVCols, v);
      auto rows = PutIndices(*backends[b], placed);
      auto pos = PutIndices(*backends[b], positions);
      const RowPlacement placement{pos.get(), rows.get(), false};
      const Status s = backends[b]->RoundKvRowsToFp8(placement, scales, *kt, *vt);
      ASSERT_TRUE(s.ok()) << backends[b]->Name() << ": " << s.ToString();
      results[b][0] = Get(*backends[b], *kt);
      results[b][1] = Get(*backends[b], *vt);
    }
    for (int t = 0; t < 2; ++t) {
      const std::vector<float>& before = t == 0 ? k : v;
      size_t changed = 0;
      for (size_t i = 0; i < before.size(); ++i) {
        ASSERT_EQ(Bits(results[0][t][i]), Bits(results[1][t][i]))
            << (t == 0 ? "k" : "v") << "[" << i << "] scale " << (t == 0 ? scales.k : scales.v);
        changed += Bits(results[1][t][i]) != Bits(before[i]);
      }
      EXPECT_GT(changed, 0u);
    }
  }
}

}  // namespace
}  // namespace fp4lab
