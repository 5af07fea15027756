// NVFP4 quantizers, dequantizers and the swizzled scale layout (engine/nvfp4.h). Expected bytes come from
// design/NVFP4.md section 10 (a hand vector both ModelOpt and compressed-tensors produce) and section 6 (the
// layout, re-derived here from vLLM's reshape/permute formulation); error bounds are derived from the format.
#include "engine/nvfp4.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "engine/codecs.h"

namespace fp4lab {
namespace {

using ::testing::HasSubstr;

// NVFP4.md section 10: one row, K = 32.
const std::vector<float> kHandRow = {0,      0.25f,  0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5,    6, -0.25f, -0.75f,
                                     -1.25f, -1.75f, -2.5f, -3.5f, -6,    2688, 1344, -672, 0, 0,      0,
                                     0,      0,      0,     0,     0,     0,    0,    0,    0, 0};
const std::vector<uint8_t> kHandWeight = {0x00, 0x22, 0x44, 0x66, 0x87, 0xAA, 0xCC, 0xFE,
                                          0x57, 0x0B, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
const std::vector<uint8_t> kHandScales = {0x38, 0x7E};

std::vector<uint16_t> ToBf16(const std::vector<float>& values) {
  std::vector<uint16_t> out;
  for (float v : values) out.push_back(F32ToBf16(v));
  return out;
}

// Half the distance between E2M1 grid points around magnitude |y| (y in units of the block scale): grid spacing
// is 0.5 on [0, 2], 1 on [2, 4], 2 on [4, 6]. Values saturated above 6 are covered by the last interval as long
// as |y| <= 7, which holds because the E4M3 block scale rounds bamax/6 down by at most a relative 2^-4.
double HalfStep(double magnitude) { return magnitude <= 2.0 ? 0.25 : magnitude <= 4.0 ? 0.5 : 1.0; }

std::vector<float> RandomNormal(size_t n, float stddev, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> out(n);
  for (float& v : out) v = Bf16ToF32(F32ToBf16(dist(rng)));  // bf16-representable, like checkpoint weights
  return out;
}

// ----------------------------------------------------------------------------------------------------------------
// Hand vector

TEST(Nvfp4WeightTest, HandVectorModelOptBytes) {
  EXPECT_EQ(AmaxOf(kHandRow), 2688.0f);
  const float ws2 = WeightScale2FromAmax(AmaxOf(kHandRow));
  EXPECT_EQ(ws2, 1.0f);
  auto q = QuantizeNvfp4Weight("hand", kHandRow, 1, 32, ws2);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->packed, kHandWeight);
  EXPECT_EQ(q->scales, kHandScales);
  EXPECT_EQ(q->weight_scale_2, 1.0f);

  const std::vector<uint16_t> bf16 = ToBf16(kHandRow);
  EXPECT_EQ(AmaxOfBf16(bf16), 2688.0f);
  auto qb = QuantizeNvfp4WeightBf16("hand", bf16, 1, 32, ws2);
  ASSERT_TRUE(qb.ok()) << qb.status().ToString();
  EXPECT_EQ(qb->packed, kHandWeight);
  EXPECT_EQ(qb->scales, kHandScales);
}

TEST(Nvfp4WeightTest, HandVectorCompressedTensorsBytes) {
  const float global = CtGlobalScaleFromAmax(AmaxOf(kHandRow));
  EXPECT_EQ(global, 1.0f);
  auto q = QuantizeNvfp4CtWeightBf16("hand", ToBf16(kHandRow), 1, 32, global);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->packed, kHandWeight);
  EXPECT_EQ(q->scales, kHandScales);
  EXPECT_EQ(q->weight_global_scale, 1.0f);
}

TEST(Nvfp4WeightTest, HandVectorDequantizes) {
  const Nvfp4View view{1, 32, kHandWeight, kHandScales};
  // Grid values each input rounds to (NVFP4.md section 1 table), times the block scale (1 and 448).
  const std::vector<float> expected = {0,    0,    1,    1, 2, 2, 4, 4, 6, 0, -1, -1, -2, -2, -4, -6,
                                       2688, 1344, -672, 0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0};
  std::vector<float> out(32);
  ASSERT_TRUE(DequantizeNvfp4Weight(view, 1.0f, out).ok());
  EXPECT_EQ(out, expected);
  ASSERT_TRUE(DequantizeNvfp4CtWeight(view, 1.0f, out).ok());
  EXPECT_EQ(out, expected);
  std::vector<uint16_t> unscaled(32);
  ASSERT_TRUE(DequantizeNvfp4Unscaled(view, unscaled).ok());
  for (size_t i = 0; i < 32; ++i) EXPECT_EQ(Bf16ToF32(unscaled[i]), expected[i]) << i;
}

// ----------------------------------------------------------------------------------------------------------------
// Scale rules

TEST(Nvfp4WeightTest, ZeroBlockScaleIsOneForModelOptAndEighthForCompressedTensors) {
  std::vector<float> w(32, 0.0f);
  w[16] = 3.0f;  // block 0 all zero, block 1 not
  auto mo = QuantizeNvfp4Weight("w", w, 1, 32, WeightScale2FromAmax(3.0f));
  ASSERT_TRUE(mo.ok());
  EXPECT_EQ(mo->scales[0], kE4M3One);
  EXPECT_EQ(mo->scales[1], kE4M3Max);
  auto ct = QuantizeNvfp4CtWeight("w", w, 1, 32, CtGlobalScaleFromAmax(3.0f));
  ASSERT_TRUE(ct.ok());
  EXPECT_EQ(E4M3ToF32(ct->scales[0]), 0.125f);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(mo->packed[i], 0) << i;
}

TEST(Nvfp4WeightTest, TinyBlockScaleIsClampedToSmallestSubnormal) {
  // ws2 = 1: block 1 has bamax 1e-3, so s = 1e-3 / 6 = 1.7e-4 < 2^-10 would cast to E4M3 zero (and the division
  // that follows would be by zero). The clamp makes it 2^-9 (0x01); 1e-3 / 2^-9 = 0.512 rounds to 0.5 (code 1).
  std::vector<float> w(32, 0.0f);
  w[0] = 2688.0f;
  w[16] = 1e-3f;
  auto q = QuantizeNvfp4Weight("w", w, 1, 32, 1.0f);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->scales[1], 0x01);
  EXPECT_EQ(q->packed[8], 0x01);
}

TEST(Nvfp4WeightTest, SharedGlobalScaleFromGroupAmax) {
  // Two tensors sharing weight_scale_2 = max(amax) / 2688: the smaller one's block scales stay below 448.
  const std::vector<float> a = RandomNormal(64, 1.0f, 1);
  std::vector<float> b = RandomNormal(64, 0.1f, 2);
  const float ws2 = WeightScale2FromAmax(std::max(AmaxOf(a), AmaxOf(b)));
  auto qa = QuantizeNvfp4Weight("a", a, 2, 32, ws2);
  auto qb = QuantizeNvfp4Weight("b", b, 2, 32, ws2);
  ASSERT_TRUE(qa.ok() && qb.ok());
  EXPECT_EQ(qa->weight_scale_2, qb->weight_scale_2);
  // The block holding the group amax gets s = amax / (6 * amax / 2688) = 448 up to fp32 rounding -> 0x7E.
  size_t amax_index = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::fabs(a[i]) > std::fabs(a[amax_index])) amax_index = i;
  }
  EXPECT_EQ(qa->scales[amax_index / 16], kE4M3Max);
  // b's values are 10x smaller (stddev 0.1 vs 1), so its scales stay far below 448.
  for (uint8_t s : qb->scales) EXPECT_LT(E4M3ToF32(s), 448.0f);
}

// Finds a global scale b (21 significant bits, in [1, 2)) for which x = 0.75 * b (exact: 3b needs at most 23
// bits) divided by b is exactly the E2M1 tie 0.75 (-> 1.0, code 2), while x times the rounded reciprocal RN(1/b)
// falls below it (-> 0.5, code 1). RN(1/b) has a relative error up to 2^-24, so such b exist.
float ScaleWhereReciprocalBreaksTie() {
  for (int k = 1; k < (1 << 20); ++k) {
    const float b = 1.0f + std::ldexp(static_cast<float>(k), -20);
    if ((0.75f * b) * (1.0f / b) < 0.75f) return b;
  }
  return 0.0f;
}

TEST(Nvfp4WeightTest, DividesByTheBlockScaleInsteadOfMultiplyingByItsReciprocal) {
  const float b = ScaleWhereReciprocalBreaksTie();
  ASSERT_NE(b, 0.0f);
  // weight_scale_2 = b and bamax = 6b give s = 6b / (6 * b) = 1 (0x38), so the block scale is exactly b.
  std::vector<float> w(16, 0.0f);
  w[0] = 6.0f * b;
  w[1] = 0.75f * b;
  auto q = QuantizeNvfp4Weight("w", w, 1, 16, b);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->scales[0], kE4M3One);
  EXPECT_EQ(q->packed[0], PackE2M1(0x7, 0x2));  // 6b / b = 6; (0.75b) / b = 0.75 ties to 1.0
}

// ----------------------------------------------------------------------------------------------------------------
// Round-trip error bound

TEST(Nvfp4WeightTest, DequantizeErrorWithinHalfStepTimesBlockScale) {
  // |x - deq| <= HalfStep(|x| / block_scale) * block_scale, block_scale = f32(s8) * ws2, for every element: the
  // chosen code is the nearest grid point. Slack: y = x / block_scale and deq = code * block_scale each round
  // once in fp32 (relative 2^-24), so allow 2^-20 * (|x| + half step * block_scale) on top.
  const int64_t rows = 48, cols = 256;
  const std::vector<float> w = RandomNormal(rows * cols, 0.05f, 7);
  for (bool ct : {false, true}) {
    std::vector<float> deq(w.size());
    std::vector<uint8_t> scales;
    float ws2;
    if (ct) {
      const float global = CtGlobalScaleFromAmax(AmaxOf(w));
      auto q = QuantizeNvfp4CtWeight("w", w, rows, cols, global);
      ASSERT_TRUE(q.ok());
      ASSERT_TRUE(DequantizeNvfp4CtWeight(q->View(), global, deq).ok());
      scales = q->scales;
      ws2 = 1.0f / global;
    } else {
      ws2 = WeightScale2FromAmax(AmaxOf(w));
      auto q = QuantizeNvfp4Weight("w", w, rows, cols, ws2);
      ASSERT_TRUE(q.ok());
      ASSERT_TRUE(DequantizeNvfp4Weight(q->View(), ws2, deq).ok());
      scales = q->scales;
    }
    for (size_t i = 0; i < w.size(); ++i) {
      const double block_scale = static_cast<double>(E4M3ToF32(scales[i / 16])) * ws2;
      const double bound = HalfStep(std::fabs(w[i]) / block_scale) * block_scale;
      ASSERT_LE(std::fabs(w[i] - deq[i]), bound + std::ldexp(std::fabs(w[i]) + bound, -20))
          << (ct ? "ct " : "modelopt ") << "element " << i << " x=" << w[i] << " deq=" << deq[i];
    }
  }
}

// ----------------------------------------------------------------------------------------------------------------
// Exact unscaled products

TEST(Nvfp4WeightTest, UnscaledProductIsExactInBf16ForAll16x256Pairs) {
  // rows = 256 (one per E4M3 byte), cols = 16 (one block holding the 16 E2M1 codes): every pair exactly once.
  std::vector<uint8_t> packed(256 * 8), scales(256);
  for (int s = 0; s < 256; ++s) {
    scales[s] = static_cast<uint8_t>(s);
    for (int i = 0; i < 8; ++i)
      packed[s * 8 + i] = PackE2M1(static_cast<uint8_t>(2 * i), static_cast<uint8_t>(2 * i + 1));
  }
  const Nvfp4View view{256, 16, packed, scales};
  std::vector<uint16_t> out(256 * 16);
  ASSERT_TRUE(DequantizeNvfp4Unscaled(view, out).ok());
  std::vector<float> f32(256 * 16);
  ASSERT_TRUE(DequantizeNvfp4Weight(view, 1.0f, f32).ok());
  for (int s = 0; s < 256; ++s) {
    for (int code = 0; code < 16; ++code) {
      const double exact =
          static_cast<double>(E2M1ToF32(static_cast<uint8_t>(code))) * E4M3ToF32(static_cast<uint8_t>(s));
      const float got = Bf16ToF32(out[s * 16 + code]);
      if (std::isnan(exact)) {
        EXPECT_TRUE(std::isnan(got)) << s << " " << code;
        continue;
      }
      EXPECT_EQ(static_cast<double>(got), exact) << "scale 0x" << std::hex << s << " code " << code;
      EXPECT_EQ(static_cast<double>(f32[s * 16 + code]), exact);
    }
  }
}

// ----------------------------------------------------------------------------------------------------------------
// Errors

TEST(Nvfp4WeightTest, RejectsKNotMultipleOf16) {
  const std::vector<float> w(24, 1.0f);
  auto q = QuantizeNvfp4Weight("model.layers.0.mlp.down_proj.weight", w, 1, 24, 1.0f);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(q.status().message(), HasSubstr("model.layers.0.mlp.down_proj.weight"));
  EXPECT_THAT(q.status().message(), HasSubstr("multiple of 16"));
}

TEST(Nvfp4WeightTest, RejectsNanAndInfNamingTheFlatIndex) {
  std::vector<float> w(64, 1.0f);
  w[37] = std::numeric_limits<float>::quiet_NaN();
  auto q = QuantizeNvfp4Weight("q_proj.weight", w, 2, 32, 1.0f);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(q.status().message(), HasSubstr("q_proj.weight"));
  EXPECT_THAT(q.status().message(), HasSubstr("flat index 37"));
  EXPECT_THAT(q.status().message(), HasSubstr("NaN"));

  std::vector<uint16_t> bf16(64, F32ToBf16(1.0f));
  bf16[5] = 0xFF80;  // -Inf
  auto qb = QuantizeNvfp4CtWeightBf16("k_proj.weight", bf16, 2, 32, 1.0f);
  ASSERT_FALSE(qb.ok());
  EXPECT_THAT(qb.status().message(), HasSubstr("flat index 5"));
  EXPECT_THAT(qb.status().message(), HasSubstr("Inf"));
}

TEST(Nvfp4WeightTest, RejectsBadGlobalScaleAndSize) {
  const std::vector<float> w(32, 0.0f);
  EXPECT_FALSE(QuantizeNvfp4Weight("w", w, 1, 32, 0.0f).ok());  // all-zero tensor: amax 0 -> ws2 0
  EXPECT_FALSE(QuantizeNvfp4Weight("w", w, 1, 32, std::numeric_limits<float>::infinity()).ok());
  EXPECT_FALSE(QuantizeNvfp4CtWeight("w", w, 1, 32, -1.0f).ok());
  auto q = QuantizeNvfp4Weight("w", w, 2, 32, 1.0f);
  ASSERT_FALSE(q.ok());
  EXPECT_THAT(q.status().message(), HasSubstr("needs 64"));
}

TEST(Nvfp4WeightTest, DequantizeRejectsMismatchedSpans) {
  const std::vector<uint8_t> packed(8), scales(1);
  std::vector<float> out(16);
  EXPECT_TRUE(DequantizeNvfp4Weight({1, 16, packed, scales}, 1.0f, out).ok());
  EXPECT_FALSE(DequantizeNvfp4Weight({1, 32, packed, scales}, 1.0f, out).ok());
  std::vector<float> short_out(15);
  EXPECT_FALSE(DequantizeNvfp4Weight({1, 16, packed, scales}, 1.0f, short_out).ok());
  EXPECT_FALSE(ValidateNvfp4View({1, 8, packed, scales}).ok());
}

// ----------------------------------------------------------------------------------------------------------------
// Activations

TEST(Nvfp4ActivationTest, HandVectorWithUnitInputScale) {
  // input_scale = 1: sa = e4m3(bamax / 6) = 1.0 and 448 for the two blocks, the same bytes as the weight path.
  std::vector<uint8_t> packed(16), scales(2);
  ASSERT_TRUE(QuantizeNvfp4ActivationRow(kHandRow, 1.0f, packed, scales).ok());
  EXPECT_EQ(packed, kHandWeight);
  EXPECT_EQ(scales, kHandScales);
  std::vector<float> products(32);
  ASSERT_TRUE(FakeQuantizeNvfp4ActivationRow(kHandRow, 1.0f, products).ok());
  const std::vector<float> expected = {0,    0,    1,    1, 2, 2, 4, 4, 6, 0, -1, -1, -2, -2, -4, -6,
                                       2688, 1344, -672, 0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0};
  EXPECT_EQ(products, expected);
}

TEST(Nvfp4ActivationTest, SaturatesBeyondTheCalibratedRange) {
  // input_scale = 1 calibrates amax 2688; 6000 exceeds it: sa = e4m3(1000) saturates at 448 and 6000/448 = 13.4
  // saturates at E2M1 6.
  std::vector<float> x(16, 0.0f);
  x[3] = 6000.0f;
  x[4] = -6000.0f;
  std::vector<uint8_t> packed(8), scales(1);
  ASSERT_TRUE(QuantizeNvfp4ActivationRow(x, 1.0f, packed, scales).ok());
  EXPECT_EQ(scales[0], kE4M3Max);
  EXPECT_EQ(UnpackE2M1Hi(packed[1]), 0x7);
  EXPECT_EQ(UnpackE2M1Lo(packed[2]), 0xF);
}

TEST(Nvfp4ActivationTest, ProductsMatchCodesAndStayWithinHalfStep) {
  const int k = 512;
  const std::vector<float> x = RandomNormal(k, 2.0f, 11);
  const float input_scale = WeightScale2FromAmax(AmaxOf(x));  // calibrated on this very row: no saturation
  std::vector<uint8_t> packed(k / 2), scales(k / 16);
  std::vector<float> products(k);
  ASSERT_TRUE(QuantizeNvfp4ActivationRow(x, input_scale, packed, scales).ok());
  ASSERT_TRUE(FakeQuantizeNvfp4ActivationRow(x, input_scale, products).ok());
  for (int i = 0; i < k; ++i) {
    const uint8_t code = i % 2 == 0 ? UnpackE2M1Lo(packed[i / 2]) : UnpackE2M1Hi(packed[i / 2]);
    const float sa = E4M3ToF32(scales[i / 16]);
    ASSERT_EQ(products[i], E2M1ToF32(code) * sa) << i;
    // Same derivation as the weight bound, with block scale sa * input_scale.
    const double block_scale = static_cast<double>(sa) * input_scale;
    const double bound = HalfStep(std::fabs(x[i]) / block_scale) * block_scale;
    ASSERT_LE(std::fabs(x[i] - products[i] * static_cast<double>(input_scale)),
              bound + std::ldexp(std::fabs(x[i]) + bound, -20))
        << i;
  }
}

TEST(Nvfp4ActivationTest, DividesByTheBlockScaleInsteadOfMultiplyingByItsReciprocal) {
  const float b = ScaleWhereReciprocalBreaksTie();
  ASSERT_NE(b, 0.0f);
  // input_scale = b and bamax = 6b give sa = e4m3(6b / (6 * b)) = 1, so the block scale is exactly b.
  std::vector<float> x(16, 0.0f);
  x[0] = 6.0f * b;
  x[1] = 0.75f * b;
  std::vector<uint8_t> packed(8), scales(1);
  ASSERT_TRUE(QuantizeNvfp4ActivationRow(x, b, packed, scales).ok());
  EXPECT_EQ(scales[0], kE4M3One);
  EXPECT_EQ(packed[0], PackE2M1(0x7, 0x2));
}

TEST(Nvfp4ActivationTest, ZeroBlockGivesZeroCodes) {
  std::vector<float> x(16, 0.0f);
  std::vector<uint8_t> packed(8, 0xFF), scales(1, 0xFF);
  ASSERT_TRUE(QuantizeNvfp4ActivationRow(x, 0.5f, packed, scales).ok());
  EXPECT_EQ(scales[0], 0x00);
  EXPECT_EQ(packed, std::vector<uint8_t>(8, 0));
}

TEST(Nvfp4ActivationTest, RejectsBadArguments) {
  std::vector<float> x(24, 1.0f), products(24);
  EXPECT_FALSE(FakeQuantizeNvfp4ActivationRow(x, 1.0f, products).ok());  // K % 16 != 0
  std::vector<float> x16(16, 1.0f), p16(16);
  EXPECT_FALSE(FakeQuantizeNvfp4ActivationRow(x16, 0.0f, p16).ok());
  EXPECT_FALSE(FakeQuantizeNvfp4ActivationRow(x16, std::numeric_limits<float>::quiet_NaN(), p16).ok());
  std::vector<uint8_t> packed(7), scales(1);
  EXPECT_FALSE(QuantizeNvfp4ActivationRow(x16, 1.0f, packed, scales).ok());
}

// ----------------------------------------------------------------------------------------------------------------
// Swizzle

// vLLM swizzle_blockscale: pad to [Rp, Cp], reshape (Rp/128, 4, 32, Cp/4, 4), permute (0, 3, 2, 1, 4), flatten.
// Row r = r0*128 + r1*32 + r2 and column c = c0*4 + c1 land at index (r0, c0, r2, r1, c1) of a
// (Rp/128, Cp/4, 32, 4, 4) tensor.
int64_t VllmSwizzledIndex(int64_t r, int64_t c, int64_t cols) {
  const int64_t padded_cols = (cols + 3) / 4 * 4;
  const int64_t r0 = r / 128, r1 = (r % 128) / 32, r2 = r % 32, c0 = c / 4, c1 = c % 4;
  return (((r0 * (padded_cols / 4) + c0) * 32 + r2) * 4 + r1) * 4 + c1;
}

TEST(Nvfp4SwizzleTest, OffsetsMatchVllmPermutationAndAreABijection) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 2}, {128, 4}, {130, 7}, {300, 22}, {257, 1}}) {
    const int64_t bytes = SwizzledScaleBytes(rows, cols);
    EXPECT_EQ(bytes, (rows + 127) / 128 * 128 * ((cols + 3) / 4 * 4));
    std::vector<int> hits(bytes, 0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t offset = SwizzledScaleOffset(r, c, cols);
        ASSERT_EQ(offset, VllmSwizzledIndex(r, c, cols)) << rows << "x" << cols << " at " << r << "," << c;
        ASSERT_GE(offset, 0);
        ASSERT_LT(offset, bytes);
        ++hits[offset];
      }
    }
    for (int h : hits) ASSERT_LE(h, 1);
  }
}

TEST(Nvfp4SwizzleTest, SingleRowTwoColumns) {
  // NVFP4.md section 10: R = 1, C = 2 -> a 128 x 4 = 512-byte buffer whose bytes 0 and 1 hold the two scales.
  std::vector<uint8_t> swizzled(SwizzledScaleBytes(1, 2), 0xAB);
  ASSERT_EQ(swizzled.size(), 512u);
  ASSERT_TRUE(SwizzleScales(kHandScales, 1, 2, swizzled).ok());
  EXPECT_EQ(swizzled[0], 0x38);
  EXPECT_EQ(swizzled[1], 0x7E);
  for (size_t i = 2; i < swizzled.size(); ++i) ASSERT_EQ(swizzled[i], 0) << i;  // padding is zeroed
}

TEST(Nvfp4SwizzleTest, RoundTripsRaggedShapes) {
  std::mt19937 rng(3);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {127, 3}, {129, 5}, {300, 22}, {0, 4}, {256, 8}}) {
    std::vector<uint8_t> linear(rows * cols);
    for (uint8_t& b : linear) b = static_cast<uint8_t>(rng() % 255 + 1);  // nonzero, to tell data from padding
    std::vector<uint8_t> swizzled(SwizzledScaleBytes(rows, cols));
    ASSERT_TRUE(SwizzleScales(linear, rows, cols, swizzled).ok());
    int64_t nonzero = 0;
    for (uint8_t b : swizzled) nonzero += (b != 0);
    EXPECT_EQ(nonzero, rows * cols);  // every value placed once, everything else padding
    std::vector<uint8_t> back(rows * cols);
    ASSERT_TRUE(UnswizzleScales(swizzled, rows, cols, back).ok());
    EXPECT_EQ(back, linear) << rows << "x" << cols;
  }
}

TEST(Nvfp4SwizzleTest, RejectsWrongBufferSizes) {
  std::vector<uint8_t> linear(6), swizzled(SwizzledScaleBytes(2, 3));
  EXPECT_TRUE(SwizzleScales(linear, 2, 3, swizzled).ok());
  std::vector<uint8_t> small(511);
  EXPECT_FALSE(SwizzleScales(linear, 2, 3, small).ok());
  EXPECT_FALSE(UnswizzleScales(swizzled, 3, 3, linear).ok());
  EXPECT_FALSE(SwizzleScales(linear, -2, -3, swizzled).ok());
}

}  // namespace
}  // namespace fp4lab
