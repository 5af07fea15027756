// The FP8 KV cache's numerics and names (engine/kv_cache_format.h) and the CPU reference op
// Backend::RoundKvRowsToFp8, checked against the independent FP8 activation codec of engine/fp8.h and hand-worked
// E4M3 values.
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "engine/cpu/cpu_backend.h"
#include "engine/fp8.h"
#include "engine/kv_cache_format.h"
#include "engine_test_util.h"

namespace fp4lab {
namespace {

using testing::Get;
using testing::Put;
using testing::PutIndices;

// Hand-worked E4M3 (3 mantissa bits): 0.3 = 1.2 * 2^-2 lies between 1.125 * 2^-2 = 0.28125 and 1.25 * 2^-2 = 0.3125
// and is nearer the second; 250 / 2 = 125 lies between 120 and 128 (step 8 in [64, 128)) and is nearer 128; 500
// exceeds 448 and saturates; 2^-10 * 3 = 0.0029296875 is 1.5 subnormal steps of 2^-9 and rounds to even (2 steps).
TEST(Fp8KvRoundTrip, HandWorkedValuesIncludingSaturationAndSubnormals) {
  EXPECT_EQ(Fp8KvRoundTrip(0.3f, 1.0f), 0.3125f);
  EXPECT_EQ(Fp8KvRoundTrip(-0.3f, 1.0f), -0.3125f);
  EXPECT_EQ(Fp8KvRoundTrip(250.0f, 2.0f), 256.0f);
  EXPECT_EQ(Fp8KvRoundTrip(500.0f, 1.0f), 448.0f);
  EXPECT_EQ(Fp8KvRoundTrip(-1e30f, 1.0f), -448.0f);
  EXPECT_EQ(Fp8KvRoundTrip(std::numeric_limits<float>::infinity(), 0.5f), 224.0f);
  EXPECT_EQ(Fp8KvRoundTrip(3.0f / 1024.0f, 1.0f), 4.0f / 1024.0f);
  EXPECT_EQ(Fp8KvRoundTrip(1e-4f, 1.0f), 0.0f);  // below half the smallest subnormal 2^-9
  EXPECT_TRUE(std::isnan(Fp8KvRoundTrip(std::nanf(""), 1.0f)));
}

// The same operation order as the W8A8 activation codec (x8 = E4M3(x / scale), then f32(x8) * scale), an
// independent implementation: equal bit for bit over values that cover every E4M3 binade, saturation and zero.
TEST(Fp8KvRoundTrip, EqualsTheFp8ActivationCodecBitForBit) {
  std::vector<float> x = testing::Normal(4096, 7, 40.0f);
  for (int e = -12; e <= 10; ++e) x.push_back(std::ldexp(1.37f, e));
  x.push_back(0.0f);
  x.push_back(-0.0f);
  x.push_back(1e6f);
  for (const float scale : {1.0f, 0.0371f, 3.5f}) {
    std::vector<uint8_t> codes(x.size());
    std::vector<float> expected(x.size());
    ASSERT_TRUE(QuantizeFp8Activation(x, scale, codes).ok());
    ASSERT_TRUE(DequantizeFp8(codes, scale, expected).ok());
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(std::bit_cast<uint32_t>(Fp8KvRoundTrip(x[i], scale)), std::bit_cast<uint32_t>(expected[i]))
          << "x = " << x[i] << ", scale = " << scale;
    }
  }
}

TEST(KvScales, FollowVllmRuleForMissingScales) {
  const KvScales none = KvScalesFromCheckpoint(std::nullopt, std::nullopt);
  EXPECT_EQ(none.k, 1.0f);
  EXPECT_EQ(none.v, 1.0f);
  const KvScales both = KvScalesFromCheckpoint(0.25f, 0.5f);
  EXPECT_EQ(both.k, 0.25f);
  EXPECT_EQ(both.v, 0.5f);
  const KvScales only_v = KvScalesFromCheckpoint(std::nullopt, 0.5f);
  EXPECT_EQ(only_v.k, 0.5f);
  EXPECT_EQ(only_v.v, 0.5f);
}

TEST(KvCacheFormat, ChoicesResolveAgainstTheCheckpointDeclaration) {
  QuantConfig plain;
  QuantConfig fp8_kv;
  fp8_kv.kv_cache_quant_algo = "FP8";
  QuantConfig nvfp4_kv;
  nvfp4_kv.kv_cache_quant_algo = "NVFP4";
  EXPECT_EQ(*ResolveKvCacheFormat("auto", plain, "ckpt"), KvCacheFormat::kBf16);
  EXPECT_EQ(*ResolveKvCacheFormat("auto", fp8_kv, "ckpt"), KvCacheFormat::kFp8);
  EXPECT_EQ(*ResolveKvCacheFormat("bf16", fp8_kv, "ckpt"), KvCacheFormat::kBf16);
  EXPECT_EQ(*ResolveKvCacheFormat("fp8", plain, "ckpt"), KvCacheFormat::kFp8);
  const auto unsupported = ResolveKvCacheFormat("auto", nvfp4_kv, "ckpt");
  ASSERT_FALSE(unsupported.ok());
  EXPECT_EQ(unsupported.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(unsupported.status().message().find("ckpt: kv_cache_quant_algo NVFP4"), std::string::npos);
  EXPECT_EQ(*ResolveKvCacheFormat("fp8", nvfp4_kv, "ckpt"), KvCacheFormat::kFp8);  // an explicit choice wins
  EXPECT_EQ(KvCacheChoiceError("fp16"), "unknown KV-cache format 'fp16' (valid: auto, bf16, fp8)");
  EXPECT_EQ(KvCacheChoiceError("auto"), "");
  const auto bad = ResolveKvCacheFormat("fp16", plain, "ckpt");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(KvCacheBytesPerElement(KvCacheFormat::kBf16), 2);
  EXPECT_EQ(KvCacheBytesPerElement(KvCacheFormat::kFp8), 1);
}

TEST(PrecisionLabel, NamesWeightsAndCacheAndRoundTrips) {
  for (const char* weights : {"bf16", "nvfp4", "nvfp4-w4a16", "fp8"}) {
    for (const KvCacheFormat kv : {KvCacheFormat::kBf16, KvCacheFormat::kFp8}) {
      const std::string label = PrecisionLabelFor(weights, kv);
      const auto parsed = ParsePrecisionLabel(label);
      ASSERT_TRUE(parsed.ok()) << label;
      EXPECT_EQ(parsed->weights, weights);
      EXPECT_EQ(parsed->kv.value_or(KvCacheFormat::kBf16), kv) << label;
    }
  }
  EXPECT_EQ(PrecisionLabelFor("nvfp4", KvCacheFormat::kFp8), "nvfp4+kv-fp8");
  EXPECT_EQ(PrecisionLabelFor("nvfp4", KvCacheFormat::kBf16), "nvfp4");
  EXPECT_FALSE(ParsePrecisionLabel("nvfp4").value().kv.has_value());
  EXPECT_EQ(ParsePrecisionLabel("nvfp4+kv-bf16").value().kv, KvCacheFormat::kBf16);
  EXPECT_FALSE(ParsePrecisionLabel("nvfp4+kv-int8").ok());
  EXPECT_FALSE(ParsePrecisionLabel("+kv-fp8").ok());
}

// The CPU op rounds exactly the placed rows, keys with k_scale and values with v_scale, and leaves the rest.
TEST(RoundKvRowsToFp8, RoundsOnlyThePlacedRowsWithEachScale) {
  auto cpu = CreateCpuBackend();
  constexpr int64_t kRows = 6, kCols = 8;
  const std::vector<float> k_host = testing::Normal(kRows * kCols, 1, 3.0f);
  const std::vector<float> v_host = testing::Normal(kRows * kCols, 2, 300.0f);  // some saturate at scale 0.5
  auto k = Put(*cpu, kRows, kCols, k_host);
  auto v = Put(*cpu, kRows, kCols, v_host);
  const std::vector<int32_t> placed = {4, 1};
  auto cache_rows = PutIndices(*cpu, placed);
  auto positions = PutIndices(*cpu, {0, 0});
  const RowPlacement rows{positions.get(), cache_rows.get(), false};
  const KvScales scales{0.0371f, 0.5f};
  ASSERT_TRUE(cpu->RoundKvRowsToFp8(rows, scales, *k, *v).ok());
  const std::vector<float> k_out = Get(*cpu, *k), v_out = Get(*cpu, *v);
  for (int64_t r = 0; r < kRows; ++r) {
    const bool is_placed = r == 1 || r == 4;
    for (int64_t c = 0; c < kCols; ++c) {
      const size_t i = static_cast<size_t>(r * kCols + c);
      EXPECT_EQ(k_out[i], is_placed ? Fp8KvRoundTrip(k_host[i], scales.k) : k_host[i]) << r << "," << c;
      EXPECT_EQ(v_out[i], is_placed ? Fp8KvRoundTrip(v_host[i], scales.v) : v_host[i]) << r << "," << c;
    }
  }
  auto out_of_range = PutIndices(*cpu, {6});
  auto one_position = PutIndices(*cpu, {0});
  const RowPlacement bad{one_position.get(), out_of_range.get(), false};
  EXPECT_EQ(cpu->RoundKvRowsToFp8(bad, scales, *k, *v).code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace fp4lab
