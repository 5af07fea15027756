// The NVFP4 W4A16 decode GEMV (engine/cuda/w4a16_gemv.h), launched directly (the backend's Linear sends most batches
// above 1 to the MMA GEMM, tested in w4a16_mma_gemm_test.cc), against the CPU reference CpuLinear: Llama-sized shapes
// at M = 1, 3, 8, 16 (K = N = 4096; K = 14336 with odd N) and N = 14336 at M = 1 (the M = 1 kernels T and A), every M
// from 1 to 16, K an odd number of 16-element blocks (K % 32 == 16), a K too long for the M = 1 kernel that keeps x in
// registers, fewer columns than one tile, tiny shapes, and block scales down in the E4M3 subnormal range; with and
// without bias. The output is poisoned with NaN first, so an unwritten element fails. Each output is held to a bound
// derived from its own operands (LinearBound below). Last, the programmatic dependent launch: the GEMV right after a
// kernel that rewrites its inputs late must use the new ones.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "engine/codecs.h"
#include "engine/nvfp4.h"
#include "gpu_test_util.h"
#ifdef FP4LAB_WITH_CUDA
#include <cuda_runtime.h>

#include "engine/cuda/cuda_context.h"
#include "engine/cuda/w4a16_gemv.h"
#include "pdl_test_util.h"
#endif

namespace fp4lab {
namespace {

using gpu_testing::Bits;
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

// Per-output bound. Both sides sum the K products p_k = x_k w_k of f32 x and the exact weights w = e2m1 * e4m3 (at
// most 6 significant bits, exact in f32); S = sum_k |p_k|, u = 2^-24, gamma(j) = j u / (1 - j u), alpha =
// weight_scale_2, b = bias.
//   CPU (CpuLinear): acc += x_k * w_k from k = 0: every product is rounded at most once (or fused) and then passes
//     through at most K - 1 additions, so |acc_cpu - sum p| <= gamma(K) S.
//   GPU (w4a16_gemv.h): a summation tree over the same products in which block scales and powers of two enter
//     exactly (inside FMAs, or as exact fp16 products), and every product passes through at most K + 8 roundings
//     (the header's contract), so |acc_gpu - sum p| <= gamma(K + 8) S. The GPU accumulator is y / (2^14 alpha) or
//     y / (2^7 alpha); scaling it back is exact.
//   Each side then rounds m = alpha * acc once and m + b once. With |acc| <= S (1 + gamma(K + 8)) on either side:
//     |m_gpu - m_cpu| <= alpha (gamma(K) + gamma(K + 8)) S + u alpha S (2 + G),   G = gamma(K) + gamma(K + 8)
//     |the two final roundings| <= u (1 + u) alpha S (2 + G) + 2 u |b|
//   bound = alpha S (G + u (2 + u) (2 + G)) + 2 u |b|.
//   Underflow: a rounding whose result is an f32 subnormal errs by up to 2^-150 absolute instead (additions of
//   subnormals are exact). The CPU has at most K such roundings in units of y / alpha, the GPU at most 2K (K
//   products, K / 16 scale FMAs) in units of 2^-14 y / alpha, each carried through later roundings by at most a
//   factor 2; the two final roundings add at most 2^-149 each: + alpha K 2^-133 + 2^-148.
std::vector<double> LinearBound(const LinearWeights& l, const std::vector<float>& x, int64_t rows) {
  const int64_t n = l.out_features, k = l.in_features;
  std::vector<uint16_t> products(static_cast<size_t>(n * k));
  EXPECT_TRUE(DequantizeNvfp4Unscaled({n, k, l.codes, l.block_scales}, products).ok());
  std::vector<float> w(products.size());
  DecodeBf16Row(products, w);
  const double u = kF32Unit;
  const auto gamma = [u](double j) { return j * u / (1.0 - j * u); };
  const double g = gamma(static_cast<double>(k)) + gamma(static_cast<double>(k + 8));
  std::vector<double> bound(static_cast<size_t>(rows * n));
  for (int64_t m = 0; m < rows; ++m) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t i = 0; i < k; ++i) s += std::fabs(double{x[m * k + i]} * w[j * k + i]);
      const double as = double{l.weight_scale_2} * s, bias = l.bias.empty() ? 0.0 : std::fabs(double{l.bias[j]});
      bound[m * n + j] = as * (g + u * (2.0 + u) * (2.0 + g)) + 2.0 * u * bias +
                         double{l.weight_scale_2} * static_cast<double>(k) * 0x1p-133 + 0x1p-148;
    }
  }
  return bound;
}

// Runs the layer on the CPU backend and through LaunchW4A16Gemv for each row count (the kernel itself: the backend
// sends most of these batches to the MMA GEMM, engine/cuda/w4a16_dispatch.h); returns the worst err / bound.
double CheckLayer(Backend& cpu, const Layer& s, const std::vector<int64_t>& row_counts, uint32_t seed) {
#ifdef FP4LAB_WITH_CUDA
  const LinearWeights l = MakeLayer(s, seed);
  auto cpu_lin = cpu.PrepareLinear(l);
  auto context = cuda::CudaContext::Create(0, 0);
  EXPECT_TRUE(cpu_lin.ok() && context.ok());
  if (!cpu_lin.ok() || !context.ok()) return INFINITY;
  const cuda::DeviceBuffer codes = gpu_testing::ToDevice(*context, l.codes);
  const cuda::DeviceBuffer scales = gpu_testing::ToDevice(*context, l.block_scales);
  const cuda::DeviceBuffer bias = gpu_testing::ToDevice(*context, l.bias);
  double worst = 0.0;
  for (const int64_t rows : row_counts) {
    std::vector<float> x = Normal(static_cast<size_t>(rows * s.k), seed + 100 + static_cast<uint32_t>(rows));
    for (size_t i = 0; i < x.size(); i += 97) x[i] *= 8.0f;  // outliers
    const std::vector<float> poison(static_cast<size_t>(rows * s.n), std::numeric_limits<float>::quiet_NaN());
    auto xt = Put(cpu, rows, s.k, x);
    auto yt = Put(cpu, rows, s.n, poison);
    if (!xt || !yt) return INFINITY;
    const Status st = cpu.Linear(*xt, **cpu_lin, *yt);
    EXPECT_TRUE(st.ok()) << st.ToString();
    const std::vector<float> y_cpu = Get(cpu, *yt);
    const cuda::DeviceBuffer x_gpu = gpu_testing::ToDevice(*context, x);
    const cuda::DeviceBuffer y_gpu = gpu_testing::ToDevice(*context, poison);
    EXPECT_EQ(cuda::LaunchW4A16Gemv(x_gpu.as<float>(), rows, codes.as<uint8_t>(), scales.as<uint8_t>(), s.n, s.k,
                                    l.weight_scale_2, s.bias ? bias.as<float>() : nullptr, y_gpu.as<float>(),
                                    (*context)->stream()),
              cudaSuccess);
    const std::vector<float> y = gpu_testing::FromDevice(**context, y_gpu, 0, poison.size());
    const std::vector<double> bound = LinearBound(l, x, rows);
    int failures = 0;
    for (size_t i = 0; i < bound.size(); ++i) {
      const double err = std::fabs(double{y[i]} - y_cpu[i]);
      worst = std::max(worst, err / bound[i]);
      if (!(err <= bound[i]) && ++failures <= 3) {
        ADD_FAILURE() << "[M " << rows << ", N " << s.n << ", K " << s.k << "] output " << i << ": cpu " << y_cpu[i]
                      << " gpu " << y[i] << " |err| " << err << " > bound " << bound[i];
      }
    }
    EXPECT_EQ(failures, 0) << "M " << rows << ", N " << s.n << ", K " << s.k;
  }
  return worst;
#else
  (void)cpu, (void)s, (void)row_counts, (void)seed;
  return 0.0;  // no CUDA backend in this build: every test here skips before calling this
#endif
}

TEST(W4A16GemvTest, SupportsDecodeBatchesWithWholeBlocks) {
#ifdef FP4LAB_WITH_CUDA
  EXPECT_TRUE(cuda::W4A16GemvSupports(1, 4096));
  EXPECT_TRUE(cuda::W4A16GemvSupports(16, 32));
  EXPECT_TRUE(cuda::W4A16GemvSupports(1, 4096 + 16));  // an odd number of 16-element blocks
  EXPECT_TRUE(cuda::W4A16GemvSupports(8, 16));
  EXPECT_FALSE(cuda::W4A16GemvSupports(0, 4096));
  EXPECT_FALSE(cuda::W4A16GemvSupports(17, 4096));     // larger M: the bf16 GEMM path
  EXPECT_FALSE(cuda::W4A16GemvSupports(1, 4096 + 8));  // k % 16 != 0: not whole E4M3 blocks
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
  worst = std::max(worst, CheckLayer(*cpu, {4096, 4096, false, false}, {1, 3, 8, 16}, 11));
  worst = std::max(worst, CheckLayer(*cpu, {1001, 14336, true, false}, {1, 3, 8, 16}, 12));  // odd N
  // M = 1 takes kernel T (whole tile prefetched into shared memory) above when each block's tile fits, kernel A
  // (register stages) here, where it does not (on a GPU of up to ~200 SMs).
  worst = std::max(worst, CheckLayer(*cpu, {14336, 4096, false, false}, {1}, 16));
  std::cout << "[W4A16 GEMV on " << gpu->Name() << ", Llama shapes] max |err| / bound = " << worst << "\n";
}

TEST(W4A16GemvTest, MatchesCpuReferenceAtEveryRowCount) {
  FP4LAB_REQUIRE_GPU();
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  // Each M has its own kernel instantiation (or padded row count); K % 32 == 0 and K % 32 == 16.
  std::vector<int64_t> all_rows;
  for (int64_t m = 1; m <= 16; ++m) all_rows.push_back(m);
  double worst = 0.0;
  worst = std::max(worst, CheckLayer(*cpu, {77, 512, true, false}, all_rows, 17));
  worst = std::max(worst, CheckLayer(*cpu, {77, 528, false, false}, all_rows, 18));
  std::cout << "[W4A16 GEMV on " << gpu->Name() << ", M = 1..16] max |err| / bound = " << worst << "\n";
}

TEST(W4A16GemvTest, MatchesCpuReferenceWithAnOddNumberOfBlocksPerRow) {
  FP4LAB_REQUIRE_GPU();
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  // K % 32 == 16: rows are only 8-byte aligned, the kernels read 16-element pieces. Odd N, bias present and absent,
  // batched-decode row counts.
  const std::vector<int64_t> rows = {1, 5, 8, 13, 16};
  double worst = 0.0;
  worst = std::max(worst, CheckLayer(*cpu, {65, 48, true, false}, rows, 19));
  worst = std::max(worst, CheckLayer(*cpu, {333, 272, false, false}, rows, 20));
  worst = std::max(worst, CheckLayer(*cpu, {257, 4112, true, false}, rows, 21));
  worst = std::max(worst, CheckLayer(*cpu, {5, 16, true, true}, rows, 22));  // one block per row
  std::cout << "[W4A16 GEMV on " << gpu->Name() << ", K % 32 == 16] max |err| / bound = " << worst << "\n";
}

TEST(W4A16GemvTest, MatchesCpuReferenceOnSmallAndGradedShapes) {
  FP4LAB_REQUIRE_GPU();
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  double worst = 0.0;
  // Fewer pieces than lanes, N not a multiple of any tile, padded row counts (3 -> 3, 9 -> 12).
  worst = std::max(worst, CheckLayer(*cpu, {333, 96, true, false}, {1, 2, 3, 9, 16}, 13));
  // Fewer columns than one M = 1 tile (the other kernel takes M = 1 then).
  worst = std::max(worst, CheckLayer(*cpu, {7, 4096, false, false}, {1, 5, 16}, 14));
  // Block scales from 448 down through E4M3 subnormals (products down to 2^-10 before the global scale).
  worst = std::max(worst, CheckLayer(*cpu, {96, 512, true, true}, {1, 3, 8, 16}, 15));
  // K beyond what the M = 1 kernel holds in registers (512 pieces of 32): M = 1 takes the other kernel.
  worst = std::max(worst, CheckLayer(*cpu, {40, 16416, true, false}, {1, 2}, 23));
  // (M > 16 does not reach the GEMV: it runs a bf16 GEMM, held to its own bound in cuda_linear_test.cc.)
  std::cout << "[W4A16 GEMV on " << gpu->Name() << ", small shapes] max |err| / bound = " << worst << "\n";
}

#ifdef FP4LAB_WITH_CUDA

// Programmatic dependent launch (w4a16_gemv.h): the GEMV of layer `s` at M = m right after a kernel that rewrites
// its inputs late (gpu_testing::ExpectGemvWaitsForLateProducer in pdl_test_util.h).
void CheckAfterLateProducer(const std::shared_ptr<cuda::CudaContext>& context, const Layer& s, int64_t m,
                            uint32_t seed) {
  const LinearWeights l = MakeLayer(s, seed);
  const cuda::DeviceBuffer codes = gpu_testing::ToDevice(context, l.codes);
  const cuda::DeviceBuffer scales = gpu_testing::ToDevice(context, l.block_scales);
  gpu_testing::ExpectGemvWaitsForLateProducer(
      context, m, s.n, s.k, s.bias ? l.bias : std::vector<float>{}, seed,
      [&](const float* x, const float* bias, float* y, cudaStream_t stream, bool allow_overlap) {
        return cuda::LaunchW4A16Gemv(x, m, codes.as<uint8_t>(), scales.as<uint8_t>(), s.n, s.k, l.weight_scale_2,
                                     bias, y, stream, allow_overlap);
      });
}

#endif  // FP4LAB_WITH_CUDA

TEST(W4A16GemvTest, WaitsForThePreviousKernelBeforeTouchingActivations) {
  FP4LAB_REQUIRE_GPU();
#ifdef FP4LAB_WITH_CUDA
  int major = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0), cudaSuccess);
  if (major < 9) {
    GTEST_SKIP() << "programmatic dependent launch needs compute capability 9.0 (this device: " << major << ".x)";
  }
  auto context = cuda::CudaContext::Create(0, 0);
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  for (const bool graph : {false, true}) {
    SCOPED_TRACE(graph ? "captured graph" : "stream");
    gpu_testing::ExpectOverlap(*context, graph);
  }
  // Kernel T (M = 1, whole tile prefetched by bulk copies before the wait); kernel A (M = 1, a tile too large for
  // kernel T, on a GPU of up to ~200 SMs); kernel B at M = 1 (K beyond kernel A), at M = 3 and at M = 16 with K % 32
  // == 16.
  CheckAfterLateProducer(*context, {4096, 4096, true, false}, 1, 31);
  CheckAfterLateProducer(*context, {8192, 4096, true, false}, 1, 35);
  CheckAfterLateProducer(*context, {40, 16416, true, false}, 1, 32);
  CheckAfterLateProducer(*context, {1001, 4096, false, false}, 3, 33);
  CheckAfterLateProducer(*context, {333, 272, true, false}, 16, 34);
#endif
}

}  // namespace
}  // namespace fp4lab
