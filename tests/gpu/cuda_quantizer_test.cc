// The device codecs against the CPU reference, bit for bit (engine/nvfp4.h, engine/fp8.h): the NVFP4 activation
// quantizer (codes, E4M3 block scales in the swizzled layout with zero padding, and the exact products the emulated
// GEMM consumes), the weight dequantizer of the emulation, and the FP8 activation fake-quantizer. Inputs mix wide
// random magnitudes with constructed exact ties (E2M1 rounding bounds and E4M3 midpoints), saturation, zero and
// underflowing blocks, NaN, Inf and signed zeros. No tolerance: any difference is a bug.
#include <cmath>
#include <cstring>
#include <iostream>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "engine/codecs.h"
#include "engine/fp8.h"
#include "engine/nvfp4.h"
#include "gpu_test_util.h"
#ifdef FP4LAB_WITH_CUDA
#include "engine/cuda/kernel_checks.h"
#endif

namespace fp4lab {
namespace {

using gpu_testing::Bits;

#ifdef FP4LAB_WITH_CUDA

constexpr float kE2M1Bounds[] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
constexpr float kE2M1Values[] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

// Activations x[rows, k] for a power-of-two input_scale (so that the constructed ties are exact in f32), block by
// block: 0 random (magnitude 2^e, e in [-30, 12]: saturating and underflowing scales included), 1 E2M1 ties at a
// random E4M3 scale, 2 an E4M3 scale tie (bamax / (6 * input_scale) halfway between two E4M3 values), 3 specials.
// Counts the constructed ties in *e2m1_ties and *scale_ties.
std::vector<float> QuantizerInput(int64_t rows, int64_t k, float input_scale, uint32_t seed, int* e2m1_ties,
                                  int* scale_ties) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> fraction(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-30, 12), kind(0, 3), bit(0, 1), bound(0, 6), value(0, 7);
  std::uniform_int_distribution<int> normal_code(0x08, 0x76), any_code(0x00, 0x7D);
  std::vector<float> x(static_cast<size_t>(rows * k));
  for (int64_t b = 0; b < rows * k / 16; ++b) {
    float* block = x.data() + b * 16;
    const float sign = bit(rng) ? -1.0f : 1.0f;
    switch (kind(rng)) {
      case 0: {
        const float magnitude = std::ldexp(1.0f, exponent(rng));
        for (int i = 0; i < 16; ++i) block[i] = normal(rng) * magnitude;
        break;
      }
      case 1: {
        // sa = s exactly (bamax = 6 * s * input_scale), then elements t * s * input_scale with t on the E2M1 grid or
        // on a rounding bound: x / (sa * input_scale) == t exactly.
        const float scale = E4M3ToF32(static_cast<uint8_t>(normal_code(rng))) * input_scale;
        block[0] = sign * 6.0f * scale;
        for (int i = 1; i < 16; ++i) {
          const float s = bit(rng) ? -1.0f : 1.0f;
          if (bit(rng)) {
            block[i] = s * kE2M1Bounds[bound(rng)] * scale;
            ++*e2m1_ties;
          } else {
            block[i] = s * kE2M1Values[value(rng)] * scale;
          }
        }
        break;
      }
      case 2: {
        // bamax / (6 * input_scale) = midpoint of two adjacent E4M3 values (subnormal ones included): RNE to even.
        const uint8_t c = static_cast<uint8_t>(any_code(rng));
        const float mid = (E4M3ToF32(c) + E4M3ToF32(static_cast<uint8_t>(c + 1))) / 2.0f;
        block[0] = sign * 6.0f * mid * input_scale;
        for (int i = 1; i < 16; ++i) block[i] = block[0] * fraction(rng);  // |x| < |block[0]|: bamax stays
        ++*scale_ties;
        break;
      }
      default: {
        const float specials[] = {NAN, INFINITY, -INFINITY, -0.0f, 1e-30f, -1e-30f, 0.0f, -1e-3f};
        for (int i = 0; i < 16; ++i) block[i] = i < 8 && bit(rng) ? specials[i] : normal(rng) * 0.01f;
        break;
      }
    }
  }
  return x;
}

void ExpectQuantizerMatchesCpu(int64_t rows, int64_t k, float input_scale, const std::vector<float>& x) {
  auto device = QuantizeNvfp4ActivationsOnDevice(0, x, rows, k, input_scale);
  ASSERT_TRUE(device.ok()) << device.status().ToString();
  const int64_t cols = k / 16;
  std::vector<uint8_t> packed(static_cast<size_t>(rows * k / 2)), scales(static_cast<size_t>(rows * cols));
  std::vector<float> products(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const std::span<const float> row(x.data() + r * k, static_cast<size_t>(k));
    ASSERT_TRUE(QuantizeNvfp4ActivationRow(row, input_scale, std::span(packed).subspan(r * k / 2, k / 2),
                                           std::span(scales).subspan(r * cols, cols)).ok());
    ASSERT_TRUE(FakeQuantizeNvfp4ActivationRow(row, input_scale, std::span(products).subspan(r * k, k)).ok());
  }
  std::vector<uint8_t> swizzled(static_cast<size_t>(SwizzledScaleBytes(rows, cols)));
  ASSERT_TRUE(SwizzleScales(scales, rows, cols, swizzled).ok());

  int64_t code_diffs = 0, scale_diffs = 0, product_diffs = 0;
  for (size_t i = 0; i < packed.size(); ++i) {
    if (packed[i] != device->packed[i]) {
      if (++code_diffs <= 5) ADD_FAILURE() << "packed byte " << i << ": cpu " << int{packed[i]} << " gpu "
                                           << int{device->packed[i]} << " (row " << 2 * i / k << ")";
    }
  }
  ASSERT_EQ(device->swizzled_scales.size(), swizzled.size());
  for (size_t i = 0; i < swizzled.size(); ++i) scale_diffs += swizzled[i] != device->swizzled_scales[i];
  ASSERT_EQ(device->products_f32.size(), products.size());
  for (size_t i = 0; i < products.size(); ++i) {
    if (Bits(products[i]) != Bits(device->products[i])) {
      if (++product_diffs <= 5) ADD_FAILURE() << "product " << i << ": cpu " << products[i] << " gpu "
                                              << device->products[i] << " (x = " << x[i] << ")";
    }
    if (Bits(products[i]) != Bits(device->products_f32[i])) {  // the f32 output of the decode-size path
      if (++product_diffs <= 5) ADD_FAILURE() << "f32 product " << i << ": cpu " << products[i] << " gpu "
                                              << device->products_f32[i] << " (x = " << x[i] << ")";
    }
  }
  EXPECT_EQ(code_diffs, 0) << "of " << packed.size() << " packed bytes";
  EXPECT_EQ(scale_diffs, 0) << "of " << swizzled.size() << " swizzled scale bytes (padding included)";
  EXPECT_EQ(product_diffs, 0) << "of " << 2 * products.size() << " products (bf16 and f32 outputs)";
  std::cout << "[quantizer] rows " << rows << " k " << k << " input_scale " << input_scale << ": " << packed.size()
            << " code bytes, " << swizzled.size() << " scale bytes, " << products.size()
            << " products compared, 0 allowed to differ\n";
}

TEST(CudaQuantizerTest, Nvfp4ActivationQuantizerIsBitIdenticalIncludingTies) {
  FP4LAB_REQUIRE_GPU();
  const float input_scale = 0x1p-6f;  // a power of two keeps the constructed ties exact
  int e2m1_ties = 0, scale_ties = 0;
  const std::vector<float> x = QuantizerInput(37, 256, input_scale, 7, &e2m1_ties, &scale_ties);
  // The input really holds ties, or the test would prove nothing about tie handling.
  EXPECT_GT(e2m1_ties, 500);
  EXPECT_GT(scale_ties, 50);
  std::cout << "[quantizer] " << e2m1_ties << " elements on E2M1 rounding bounds, " << scale_ties
            << " blocks with an E4M3 scale tie\n";
  ExpectQuantizerMatchesCpu(37, 256, input_scale, x);
}

TEST(CudaQuantizerTest, Nvfp4ActivationQuantizerMatchesAtAnArbitraryScaleAndPaddedLayout) {
  FP4LAB_REQUIRE_GPU();
  // 130 rows (two 128-row bands) and K = 80 (5 scale columns, padded to 8): the swizzle's padding is checked too.
  // input_scale is not a power of two, so every division rounds.
  int e2m1_ties = 0, scale_ties = 0;
  const float input_scale = 0.0123f;
  const std::vector<float> x = QuantizerInput(130, 80, input_scale, 11, &e2m1_ties, &scale_ties);
  ExpectQuantizerMatchesCpu(130, 80, input_scale, x);
}

TEST(CudaQuantizerTest, Nvfp4WeightDequantizationIsBitIdentical) {
  FP4LAB_REQUIRE_GPU();
  constexpr int64_t kRows = 50, kK = 96;
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> codes(kRows * kK / 2), scales(kRows * kK / 16);
  for (uint8_t& c : codes) c = static_cast<uint8_t>(byte(rng));
  // Every scale byte but the two NaN patterns (0x7F, 0xFF), which no checkpoint holds and whose NaN payloads the two
  // bf16 encoders spell differently.
  for (size_t i = 0; i < scales.size(); ++i) {
    uint8_t s = static_cast<uint8_t>(i % 254);
    scales[i] = static_cast<uint8_t>(s >= 0x7F ? s + 1 : s);
  }
  auto device = DequantizeNvfp4OnDevice(0, codes, scales, kRows, kK);
  ASSERT_TRUE(device.ok()) << device.status().ToString();
  std::vector<uint16_t> cpu(kRows * kK);
  ASSERT_TRUE(DequantizeNvfp4Unscaled({kRows, kK, codes, scales}, cpu).ok());
  int64_t diffs = 0;
  for (size_t i = 0; i < cpu.size(); ++i) diffs += cpu[i] != (*device)[i];
  EXPECT_EQ(diffs, 0) << "of " << cpu.size() << " dequantized weights";
}

TEST(CudaQuantizerTest, Fp8ActivationQuantizerIsBitIdenticalIncludingTies) {
  FP4LAB_REQUIRE_GPU();
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-16, 12), code(0x00, 0x7D), kind(0, 2), bit(0, 1);
  for (const float input_scale : {0x1p-4f, 0.0371f}) {
    std::vector<float> x(4096);
    int ties = 0;
    for (float& v : x) {
      const float sign = bit(rng) ? -1.0f : 1.0f;
      switch (kind(rng)) {
        case 0: v = normal(rng) * std::ldexp(1.0f, exponent(rng)); break;
        case 1: {  // x / input_scale = midpoint of two adjacent E4M3 values (exactly so for input_scale 2^-4)
          const uint8_t c = static_cast<uint8_t>(code(rng));
          v = sign * (E4M3ToF32(c) + E4M3ToF32(static_cast<uint8_t>(c + 1))) / 2.0f * input_scale;
          ++ties;
          break;
        }
        default: v = sign * 500.0f * input_scale * (1.0f + normal(rng) * normal(rng)); break;  // saturation
      }
    }
    x[0] = NAN;
    x[1] = -INFINITY;
    x[2] = -0.0f;
    auto device = FakeQuantizeFp8OnDevice(0, x, input_scale);
    ASSERT_TRUE(device.ok()) << device.status().ToString();
    std::vector<float> cpu(x.size());
    ASSERT_TRUE(FakeQuantizeFp8Activation(x, input_scale, cpu).ok());
    int64_t diffs = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const bool both_nan = std::isnan(cpu[i]) && std::isnan((*device)[i]);
      diffs += !both_nan && Bits(cpu[i]) != Bits((*device)[i]);
    }
    EXPECT_GT(ties, 1000);
    EXPECT_EQ(diffs, 0) << "input_scale " << input_scale << ", of " << x.size() << " values (" << ties << " ties)";
  }
}

#else

TEST(CudaQuantizerTest, NeedsCuda) { GTEST_SKIP() << gpu_testing::GpuSkipReason(); }

#endif

}  // namespace
}  // namespace fp4lab
