// Bit-exact tests of the scalar codecs (engine/codecs.h). Expected values come from the format definitions
// (OCP MX v1.0, IEEE 754, design/NVFP4.md sections 1-2), evaluated here independently with std::ldexp in double
// or by brute-force nearest search, never from the functions under test.
#include "engine/codecs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace fp4lab {
namespace {

uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }
float FromBits(uint32_t bits) { return std::bit_cast<float>(bits); }

// E4M3 "fn" value from its definition: bias 7, 3 mantissa bits, subnormals m * 2^-9, 0x7F/0xFF NaN.
double E4M3Reference(int code) {
  const int sign = code >> 7, exponent = (code >> 3) & 0xF, mantissa = code & 7;
  if (exponent == 15 && mantissa == 7) return std::numeric_limits<double>::quiet_NaN();
  const double magnitude = exponent == 0 ? std::ldexp(mantissa, -9) : std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
  return sign ? -magnitude : magnitude;
}

// E2M1 value from OCP MX: bits s e1 e0 m, bias 1; e > 0: 2^(e-1) * (1 + m/2); e == 0: 0.5 * m.
double E2M1Reference(int code) {
  const int sign = code >> 3, exponent = (code >> 1) & 3, mantissa = code & 1;
  const double magnitude = exponent == 0 ? 0.5 * mantissa : std::ldexp(1.0 + mantissa / 2.0, exponent - 1);
  return sign ? -magnitude : magnitude;
}

// IEEE binary16 value from its definition.
double F16Reference(int bits) {
  const int sign = bits >> 15, exponent = (bits >> 10) & 0x1F, mantissa = bits & 0x3FF;
  double magnitude;
  if (exponent == 31) {
    magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(mantissa, -24);
  } else {
    magnitude = std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
  }
  return sign ? -magnitude : magnitude;
}

// ----------------------------------------------------------------------------------------------------------------
// bf16

TEST(Bf16Test, EveryPatternDecodesToItsTopHalfAndRoundTrips) {
  for (uint32_t b = 0; b <= 0xFFFF; ++b) {
    const float f = Bf16ToF32(static_cast<uint16_t>(b));
    ASSERT_EQ(Bits(f), b << 16);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Bf16ToF32(F32ToBf16(f)))) << std::hex << b;
    } else {
      EXPECT_EQ(F32ToBf16(f), b) << std::hex << b;
    }
  }
}

TEST(Bf16Test, RoundsToNearestTiesToEven) {
  // 0x3F80 = 1.0 (even mantissa), 0x3F81 (odd). Dropped half 0x8000 is the exact midpoint.
  EXPECT_EQ(F32ToBf16(FromBits(0x3F808000)), 0x3F80);               // tie -> even (down)
  EXPECT_EQ(F32ToBf16(FromBits(0x3F818000)), 0x3F82);               // tie -> even (up)
  EXPECT_EQ(F32ToBf16(FromBits(0x3F808001)), 0x3F81);               // above the midpoint
  EXPECT_EQ(F32ToBf16(FromBits(0x3F807FFF)), 0x3F80);               // below the midpoint
  EXPECT_EQ(F32ToBf16(FromBits(0xBF818000)), 0xBF82);               // sign is symmetric
  EXPECT_EQ(F32ToBf16(FromBits(0x3FFF8000)), 0x4000);               // carry into the exponent
  EXPECT_EQ(F32ToBf16(std::numeric_limits<float>::max()), 0x7F80);  // beyond the last midpoint: +Inf
  EXPECT_EQ(F32ToBf16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(F32ToBf16(-0.0f), 0x8000);
}

TEST(Bf16Test, NanStaysNanAndBecomesQuiet) {
  const uint16_t from_signaling = F32ToBf16(FromBits(0x7F800001));  // payload only in the dropped bits
  EXPECT_TRUE(std::isnan(Bf16ToF32(from_signaling)));
  EXPECT_NE(from_signaling & 0x0040, 0);  // quiet bit
  const uint16_t negative = F32ToBf16(FromBits(0xFFA00000));
  EXPECT_TRUE(std::isnan(Bf16ToF32(negative)));
  EXPECT_EQ(negative & 0x8000, 0x8000);
}

// ----------------------------------------------------------------------------------------------------------------
// fp16

TEST(F16Test, EveryPatternMatchesTheIeeeDefinition) {
  for (int b = 0; b <= 0xFFFF; ++b) {
    const float got = F16ToF32(static_cast<uint16_t>(b));
    const double want = F16Reference(b);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << std::hex << b;
    } else {
      EXPECT_EQ(static_cast<double>(got), want) << std::hex << b;
      EXPECT_EQ(std::signbit(got), (b & 0x8000) != 0) << std::hex << b;
    }
  }
  EXPECT_EQ(F16ToF32(0x3C00), 1.0f);
  EXPECT_EQ(F16ToF32(0x7BFF), 65504.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));
}

// ----------------------------------------------------------------------------------------------------------------
// E4M3

TEST(E4M3Test, EveryCodeDecodesPerDefinitionAndRoundTrips) {
  for (int code = 0; code < 256; ++code) {
    const float value = E4M3ToF32(static_cast<uint8_t>(code));
    const double want = E4M3Reference(code);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(value)) << code;
      continue;
    }
    EXPECT_EQ(static_cast<double>(value), want) << code;
    EXPECT_EQ(F32ToE4M3(value), code) << code;  // includes -0.0 -> 0x80
  }
  EXPECT_EQ(E4M3ToF32(kE4M3One), 1.0f);
  EXPECT_EQ(E4M3ToF32(kE4M3Max), 448.0f);
  EXPECT_EQ(E4M3ToF32(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(E4M3ToF32(0x01), std::ldexp(1.0f, -9));
}

TEST(E4M3Test, MidpointsRoundToEvenCodeAndNeighboursToNearest) {
  // Every pair of adjacent non-negative finite codes (c, c+1), subnormal, normal and across binades. The midpoint
  // of two E4M3 values has at most 5 significant bits, so it is exact in float.
  for (int c = 0; c < kE4M3Max; ++c) {
    const float lo = E4M3ToF32(static_cast<uint8_t>(c));
    const float hi = E4M3ToF32(static_cast<uint8_t>(c + 1));
    const float mid = (lo + hi) / 2;
    ASSERT_EQ(static_cast<double>(mid), (E4M3Reference(c) + E4M3Reference(c + 1)) / 2);
    const int even = (c % 2 == 0) ? c : c + 1;  // the mantissa LSB is the code LSB
    EXPECT_EQ(F32ToE4M3(mid), even) << "midpoint of codes " << c << " and " << c + 1;
    EXPECT_EQ(F32ToE4M3(std::nextafter(mid, 0.0f)), c) << c;
    EXPECT_EQ(F32ToE4M3(std::nextafter(mid, 1000.0f)), c + 1) << c;
    EXPECT_EQ(F32ToE4M3(-mid), 0x80 | even) << c;
  }
  // Below half the smallest subnormal (2^-10) everything rounds to zero, including float subnormals.
  EXPECT_EQ(F32ToE4M3(std::ldexp(1.0f, -10)), 0x00);
  EXPECT_EQ(F32ToE4M3(std::nextafter(std::ldexp(1.0f, -10), 1.0f)), 0x01);
  EXPECT_EQ(F32ToE4M3(std::numeric_limits<float>::denorm_min()), 0x00);
  EXPECT_EQ(F32ToE4M3(std::ldexp(1.0f, -30)), 0x00);
}

TEST(E4M3Test, SaturatesAndMapsNanTo7F) {
  EXPECT_EQ(F32ToE4M3(448.0f), 0x7E);
  EXPECT_EQ(F32ToE4M3(449.0f), 0x7E);
  EXPECT_EQ(F32ToE4M3(464.0f), 0x7E);  // midpoint 448/480: even code anyway
  EXPECT_EQ(F32ToE4M3(470.0f), 0x7E);  // plain RNE gives 480 = the NaN pattern; satfinite clamps
  EXPECT_EQ(F32ToE4M3(1e30f), 0x7E);
  EXPECT_EQ(F32ToE4M3(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(F32ToE4M3(-std::numeric_limits<float>::infinity()), 0xFE);
  EXPECT_EQ(F32ToE4M3(-500.0f), 0xFE);
  EXPECT_EQ(F32ToE4M3(std::numeric_limits<float>::quiet_NaN()), kE4M3Nan);
  EXPECT_EQ(F32ToE4M3(-std::numeric_limits<float>::quiet_NaN()), kE4M3Nan);
}

// ----------------------------------------------------------------------------------------------------------------
// E2M1

TEST(E2M1Test, DecodeTableMatchesOcpDefinition) {
  for (int code = 0; code < 16; ++code) {
    EXPECT_EQ(static_cast<double>(E2M1ToF32(static_cast<uint8_t>(code))), E2M1Reference(code)) << code;
  }
  EXPECT_FALSE(std::signbit(E2M1ToF32(0x8)));  // ModelOpt's table: 0x8 -> +0
  EXPECT_EQ(E2M1ToF32(0xF7), 6.0f);            // only the low nibble is read
}

TEST(E2M1Test, EveryTieAndSaturationCase) {
  struct Case {
    float x;
    uint8_t code;
  };
  const Case cases[] = {
      {0.0f, 0x0},    {0.25f, 0x0}, {0.2500001f, 0x1}, {0.5f, 0x1},  {0.75f, 0x2},
      {1.0f, 0x2},    {1.25f, 0x2}, {1.5f, 0x3},       {1.75f, 0x4}, {2.0f, 0x4},
      {2.5f, 0x4},    {3.0f, 0x5},  {3.5f, 0x6},       {4.0f, 0x6},  {5.0f, 0x6},
      {5.0001f, 0x7}, {6.0f, 0x7},  {6.1f, 0x7},       {1e9f, 0x7},  {std::numeric_limits<float>::infinity(), 0x7},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(F32ToE2M1(c.x), c.code) << c.x;
    if (c.x != 0.0f) {
      EXPECT_EQ(F32ToE2M1(-c.x), c.code | 0x8) << -c.x;
    }
  }
}

TEST(E2M1Test, SignRules) {
  // ModelOpt: sign = (x < 0).
  EXPECT_EQ(F32ToE2M1(-0.0f), 0x0);
  EXPECT_EQ(F32ToE2M1(-0.1f), 0x8);
  EXPECT_EQ(F32ToE2M1(-0.25f), 0x8);
  EXPECT_EQ(F32ToE2M1(std::numeric_limits<float>::quiet_NaN()), 0x7);
  EXPECT_EQ(F32ToE2M1(-std::numeric_limits<float>::quiet_NaN()), 0x7);
  // compressed-tensors: sign = signbit(x).
  EXPECT_EQ(F32ToE2M1SignBit(-0.0f), 0x8);
  EXPECT_EQ(F32ToE2M1SignBit(0.0f), 0x0);
  EXPECT_EQ(F32ToE2M1SignBit(-0.1f), 0x8);
  EXPECT_EQ(F32ToE2M1SignBit(-5.0f), 0xE);
  EXPECT_EQ(F32ToE2M1SignBit(std::numeric_limits<float>::quiet_NaN()), 0x7);
}

TEST(E2M1Test, MatchesBruteForceNearestTiesToEvenOnADenseGrid) {
  // Every multiple of 2^-10 in [0, 8]: exact in float, and it hits every tie (all ties are multiples of 0.25).
  for (int i = 0; i <= 8 * 1024; ++i) {
    const double x = i / 1024.0;
    int best = 0;
    for (int code = 1; code < 8; ++code) {
      const double d = std::fabs(x - E2M1Reference(code)), d_best = std::fabs(x - E2M1Reference(best));
      if (d < d_best || (d == d_best && code % 2 == 0)) best = code;
    }
    ASSERT_EQ(F32ToE2M1(static_cast<float>(x)), best) << x;
    ASSERT_EQ(F32ToE2M1SignBit(static_cast<float>(x)), best) << x;
  }
}

TEST(E2M1Test, PackingPutsTheLowerIndexInTheLowNibble) {
  EXPECT_EQ(PackE2M1(0x7, 0x8), 0x87);
  EXPECT_EQ(PackE2M1(0xF7, 0x1), 0x17);  // high bits of inputs are ignored
  EXPECT_EQ(UnpackE2M1Lo(0x87), 0x7);
  EXPECT_EQ(UnpackE2M1Hi(0x87), 0x8);
  for (int lo = 0; lo < 16; ++lo) {
    for (int hi = 0; hi < 16; ++hi) {
      const uint8_t byte = PackE2M1(static_cast<uint8_t>(lo), static_cast<uint8_t>(hi));
      EXPECT_EQ(UnpackE2M1Lo(byte), lo);
      EXPECT_EQ(UnpackE2M1Hi(byte), hi);
    }
  }
}

// ----------------------------------------------------------------------------------------------------------------
// Bulk helpers

TEST(BulkCodecsTest, RowsMatchScalarCodecs) {
  const std::vector<float> values = {1.0f, -2.5f, 3.14159f, 0.0f, 65504.0f};
  std::vector<uint16_t> bf16(values.size());
  EncodeBf16Row(values, bf16);
  std::vector<float> decoded(values.size());
  DecodeBf16Row(bf16, decoded);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(bf16[i], F32ToBf16(values[i]));
    EXPECT_EQ(decoded[i], Bf16ToF32(bf16[i]));
  }
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x0001};
  std::vector<float> f16_out(3);
  DecodeF16Row(f16, f16_out);
  EXPECT_EQ(f16_out, (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24)}));
  const std::vector<uint8_t> e4m3 = {0x38, 0x7E, 0x01};
  std::vector<float> e4m3_out(3);
  DecodeE4M3Row(e4m3, e4m3_out);
  EXPECT_EQ(e4m3_out, (std::vector<float>{1.0f, 448.0f, std::ldexp(1.0f, -9)}));
  const std::vector<uint8_t> packed = {0x87, 0xFE};
  std::vector<float> e2m1_out(4);
  DecodeE2M1Row(packed, e2m1_out);
  EXPECT_EQ(e2m1_out, (std::vector<float>{6.0f, 0.0f, -4.0f, -6.0f}));
}

}  // namespace
}  // namespace fp4lab
