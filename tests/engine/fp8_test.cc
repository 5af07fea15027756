// Per-tensor FP8 E4M3 quantization (engine/fp8.h). Expected codes follow from the E4M3 definition (bias 7, max
// 448); error bounds from its 3-bit mantissa.
#include "engine/fp8.h"

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

TEST(Fp8Test, KnownCodesWithUnitScale) {
  EXPECT_EQ(Fp8ScaleFromAmax(448.0f), 1.0f);
  const std::vector<float> w = {448.0f, -448.0f, 1.0f, 0.5f, 0.0f, 1000.0f};
  auto q = QuantizeFp8Weight("w", w, 1.0f);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  // 448 = 2^8 * 1.75 -> e = 15, m = 6: 0x7E; 1.0 -> e = 7: 0x38; 0.5 -> e = 6: 0x30; 1000 saturates.
  EXPECT_EQ(*q, (std::vector<uint8_t>{0x7E, 0xFE, 0x38, 0x30, 0x00, 0x7E}));
  std::vector<float> deq(w.size());
  ASSERT_TRUE(DequantizeFp8(*q, 1.0f, deq).ok());
  EXPECT_EQ(deq, (std::vector<float>{448.0f, -448.0f, 1.0f, 0.5f, 0.0f, 448.0f}));
}

TEST(Fp8Test, WeightRoundTripWithinHalfUlp) {
  // y = w / scale lies in [-448, 448]. E4M3 has 3 mantissa bits: for |y| >= 2^-6 the nearest code is within a
  // relative 2^-4 of |y|; below 2^-6 (subnormals, spacing 2^-9) within 2^-10 absolute. Scaled back by `scale`,
  // plus 2^-20 relative slack for the two fp32 operations (w / scale and f32(q) * scale).
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<uint16_t> w(4096);
  for (uint16_t& v : w) v = F32ToBf16(dist(rng));
  float amax = 0.0f;
  for (uint16_t v : w) amax = std::max(amax, std::fabs(Bf16ToF32(v)));
  const float scale = Fp8ScaleFromAmax(amax);
  auto q = QuantizeFp8WeightBf16("w", w, scale);
  ASSERT_TRUE(q.ok());
  std::vector<float> deq(w.size());
  ASSERT_TRUE(DequantizeFp8(*q, scale, deq).ok());
  for (size_t i = 0; i < w.size(); ++i) {
    const double x = Bf16ToF32(w[i]);
    const double y = std::fabs(x) / scale;
    const double bound = (y >= std::ldexp(1.0, -6) ? y * std::ldexp(1.0, -4) : std::ldexp(1.0, -10)) * scale;
    ASSERT_LE(std::fabs(x - deq[i]), bound + std::ldexp(std::fabs(x), -20)) << i;
  }
}

TEST(Fp8Test, RejectsNonFiniteWeightsAndBadScales) {
  std::vector<float> w(10, 1.0f);
  w[7] = std::numeric_limits<float>::infinity();
  auto q = QuantizeFp8Weight("model.layers.0.self_attn.q_proj.weight", w, 1.0f);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(q.status().message(), HasSubstr("q_proj.weight"));
  EXPECT_THAT(q.status().message(), HasSubstr("flat index 7"));
  EXPECT_FALSE(QuantizeFp8Weight("w", std::vector<float>(4, 1.0f), 0.0f).ok());
  std::vector<float> out(3);
  EXPECT_FALSE(DequantizeFp8(std::vector<uint8_t>(4), 1.0f, out).ok());
}

TEST(Fp8Test, ActivationsSaturateAndFakeQuantMatchesCodes) {
  const std::vector<float> x = {0.75f, -3.0f, 1000.0f, -1e6f, 0.0f, 0.3f};
  const float input_scale = 0.5f;
  std::vector<uint8_t> x8(x.size());
  ASSERT_TRUE(QuantizeFp8Activation(x, input_scale, x8).ok());
  // x / 0.5 = 1.5 (0x3C), -6 (0xCC), 2000 and -2e6 saturate (0x7E, 0xFE), 0, 0.6 -> nearest E4M3 0.625 = 2^-1 * 1.25
  // (0x32).
  EXPECT_EQ(x8, (std::vector<uint8_t>{0x3C, 0xCC, 0x7E, 0xFE, 0x00, 0x32}));
  std::vector<float> fake(x.size());
  ASSERT_TRUE(FakeQuantizeFp8Activation(x, input_scale, fake).ok());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(fake[i], E4M3ToF32(x8[i])) << i;
  EXPECT_FALSE(QuantizeFp8Activation(x, -1.0f, x8).ok());
  std::vector<uint8_t> short_out(2);
  EXPECT_FALSE(QuantizeFp8Activation(x, 1.0f, short_out).ok());
}

}  // namespace
}  // namespace fp4lab
