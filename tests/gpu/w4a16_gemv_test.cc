// The NVFP4 W4A16 decode GEMV (engine/cuda/w4a16_gemv.h), reached through the CUDA backend's Linear for
// nvfp4-w4a16 layers at M <= 16, against the CPU reference CpuLinear: M = 1, 3, 16 (and 9) on Llama-sized shapes
// (K = N = 4096; K = 14336 with odd N), tiny shapes, and block scales down in the E4M3 subnormal range. The output
// is poisoned with NaN first, so an unwritten element fails. Each output is held to a bound derived from its own
// operands (LinearBound below).
#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "engine/codecs.h"
#include "engine/nvfp4.h"
#include "gpu_test_util.h"
#ifdef FP4LAB_WITH_CUDA
#include "engine/cuda/w4a16_gemv.h"
#endif

namespace fp4lab {
namespace {

using gpu_testing::Get;
using gpu_testing::kF32Unit;
using gpu_testing::MakeBackend;
using gpu_testing::Normal;
using gpu_testing::Put;

struct Layer {
  int64_t n, k;
  bool bias;
  bool graded_rows;  // row j scaled by 2^-(j % 16): block scales reach E4M3 subnormals
};

LinearWeights MakeLayer(const Layer& s, uint32_t seed) {
  std::vector<float> w = Normal(static_cast<size_t>(s.n * s.k), seed, 1.0f / std::sqrt(float(s.k)));
  if (s.graded_rows) {
    for (int64_t j = 0; j < s.n; ++j) {
      for (int64_t i = 0; i < s.k; ++i) w[j * s.k + i] = std::ldexp(w[j * s.k + i], -static_cast<int>(j % 16));
    }
  }
  LinearWeights l;
  l.name = "model.layers.0.mlp.down_proj";
  l.out_features = s.n;
  l.in_features = s.k;
  l.scheme = LinearScheme::kNvfp4W4A16;
  if (s.bias) l.bias = Normal(static_cast<size_t>(s.n), seed + 1, 0.1f);
  auto q = QuantizeNvfp4Weight(l.name, w, s.n, s.k, WeightScale2FromAmax(AmaxOf(w)));
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  l.codes = q->packed;
  l.block_scales = q->scales;
  l.weight_scale_2 = q->weight_scale_2;
  return l;
}

// Per-output bound, as derived in cuda_linear_test.cc. Both sides add the products p_k = x_k w_k of f32 x and the
// exact weights w = e2m1 * e4m3 in f32; S = sum_k |p_k|, u = 2^-24:
//   CPU, left to right (products rounded or fused)     : |err| <= (K - 1) u S + u S
//   GPU, per-thread FMA chains, shuffle tree, warp sum : |err| <= (K - 1) u S  (any order of K - 1 additions; 2x
//                                                        allowed below, as for tensor cores in cuda_linear_test)
//   x 2^14 on the GPU is exact; * weight_scale_2, + bias: one rounding each per side: 2u (alpha S) + 2u (alpha S +
//   |bias|)
// bound = alpha S (3K + 4) u + 2u (alpha S + |bias|) >= alpha S (3K - 1) u + 2u (...).
std::vector<double> LinearBound(const LinearWeights& l, const std::vector<float>& x, int64_t rows) {
  const int64_t n = l.out_features, k = l.in_features;
  std::vector<uint16_t> products(static_cast<size_t>(n * k));
  EXPECT_TRUE(DequantizeNvfp4Unscaled({n, k, l.codes, l.block_scales}, products).ok());
  std::vector<float> w(products.size());
  DecodeBf16Row(products, w);
  std::vector<double> bound(static_cast<size_t>(rows * n));
  for (int64_t m = 0; m < rows; ++m) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t i = 0; i < k; ++i) s += std::fabs(double{x[m * k + i]} * w[j * k + i]);
      const double as = double{l.weight_scale_2} * s, bias = l.bias.empty() ? 0.0 : std::fabs(double{l.bias[j]});
      bound[m * n + j] = as * (3.0 * k + 4.0) * kF32Unit + 2.0 * kF32Unit * (as + bias);
    }
  }
  return bound;
}

// Runs the layer on both backends for each row count; returns the worst err / bound.
double CheckLayer(Backend& cpu, Backend& gpu, const Layer& s, const std::vector<int64_t>& row_counts,
                  uint32_t seed) {
  const LinearWeights l = MakeLayer(s, seed);
  auto cpu_lin = cpu.PrepareLinear(l);
  auto gpu_lin = gpu.PrepareLinear(l);
  EXPECT_TRUE(cpu_lin.ok() && gpu_lin.ok());
  if (!cpu_lin.ok() || !gpu_lin.ok()) return INFINITY;
  double worst = 0.0;
  for (const int64_t rows : row_counts) {
    std::vector<float> x = Normal(static_cast<size_t>(rows * s.k), seed + 100 + static_cast<uint32_t>(rows));
    for (size_t i = 0; i < x.size(); i += 97) x[i] *= 8.0f;  // outliers
    const std::vector<float> poison(static_cast<size_t>(rows * s.n), std::numeric_limits<float>::quiet_NaN());
    std::vector<float> y[2];
    Backend* backends[2] = {&cpu, &gpu};
    const DeviceLinear* lins[2] = {cpu_lin->get(), gpu_lin->get()};
    for (int b = 0; b < 2; ++b) {
      auto xt = Put(*backends[b], rows, s.k, x);
      auto yt = Put(*backends[b], rows, s.n, poison);
      if (!xt || !yt) return INFINITY;
      const Status st = backends[b]->Linear(*xt, *lins[b], *yt);
      EXPECT_TRUE(st.ok()) << st.ToString();
      y[b] = Get(*backends[b], *yt);
    }
    const std::vector<double> bound = LinearBound(l, x, rows);
    int failures = 0;
    for (size_t i = 0; i < bound.size(); ++i) {
      const double err = std::fabs(double{y[1][i]} - y[0][i]);
      worst = std::max(worst, err / bound[i]);
      if (!(err <= bound[i]) && ++failures <= 3) {
        ADD_FAILURE() << "[M " << rows << ", N " << s.n << ", K " << s.k << "] output " << i << ": cpu " << y[0][i]
                      << " gpu " << y[1][i] << " |err| " << err << " > bound " << bound[i];
      }
    }
    EXPECT_EQ(failures, 0) << "M " << rows << ", N " << s.n << ", K " << s.k;
  }
  return worst;
}

TEST(W4A16GemvTest, SupportsDecodeBatchesWithWholeChunks) {
#ifdef FP4LAB_WITH_CUDA
  EXPECT_TRUE(cuda::W4A16GemvSupports(1, 4096));
  EXPECT_TRUE(cuda::W4A16GemvSupports(16, 32));
  EXPECT_FALSE(cuda::W4A16GemvSupports(0, 4096));
  EXPECT_FALSE(cuda::W4A16GemvSupports(17, 4096));  // larger M: the GEMM kernel
  EXPECT_FALSE(cuda::W4A16GemvSupports(1, 4096 + 16));  // k % 32 != 0: rows are not 16-byte aligned
#else
  GTEST_SKIP() << "this build has no CUDA backend (configure with -DFP4LAB_CUDA=ON)";
#endif
}

TEST(W4A16GemvTest, MatchesCpuReferenceOnLlamaShapes) {
  FP4LAB_REQUIRE_GPU();
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  ASSERT_EQ(*gpu->LinearPath(LinearScheme::kNvfp4W4A16), "weight-only");
  double worst = 0.0;
  worst = std::max(worst, CheckLayer(*cpu, *gpu, {4096, 4096, false, false}, {1, 3, 16}, 11));
  worst = std::max(worst, CheckLayer(*cpu, *gpu, {1001, 14336, true, false}, {1, 3, 16}, 12));  // odd N
  std::cout << "[W4A16 GEMV on " << gpu->Name() << ", Llama shapes] max |err| / bound = " << worst << "\n";
}

TEST(W4A16GemvTest, MatchesCpuReferenceOnSmallAndGradedShapes) {
  FP4LAB_REQUIRE_GPU();
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  double worst = 0.0;
  // Fewer chunks than threads, N not a multiple of the columns per block, padded row counts (3 -> 4, 9 -> 16).
  worst = std::max(worst, CheckLayer(*cpu, *gpu, {333, 96, true, false}, {1, 2, 3, 9, 16}, 13));
  worst = std::max(worst, CheckLayer(*cpu, *gpu, {7, 4096, false, false}, {1, 5, 16}, 14));
  // Block scales from 448 down through E4M3 subnormals (products down to 2^-10 before the global scale).
  worst = std::max(worst, CheckLayer(*cpu, *gpu, {96, 512, true, true}, {1, 3, 16}, 15));
  // k % 32 != 0 and M > 16 take the GEMM kernel: still correct through the same Linear.
  worst = std::max(worst, CheckLayer(*cpu, *gpu, {64, 80, true, false}, {1, 17}, 16));
  std::cout << "[W4A16 GEMV on " << gpu->Name() << ", small shapes] max |err| / bound = " << worst << "\n";
}

}  // namespace
}  // namespace fp4lab
