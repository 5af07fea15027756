// The NVFP4 W4A16 tensor-core GEMM (engine/cuda/w4a16_mma_gemm.h), launched directly with the plan the backend uses,
// at M = 2, 3, 8, 16, 32, 64, 128, 256 on Llama-3.1-8B layer shapes (K = 4096 and 14336; N = 4096, or a slice of rows
// where the CPU side would take seconds) and on odd shapes (N not a multiple of the 32 rows of a warp, M not a multiple
// of the 8 tokens of an MMA tile, one K tile). Two checks:
//   - exact: integer-valued x and weights whose every partial sum is exact in f32 (all 16 codes, including the 0.5
//     code that the kernel builds as a bf16 subnormal, normal and subnormal E4M3 scales, a power-of-two global
//     scale): any summation order gives the exact sum, so the kernel must equal an exact double reference bit for
//     bit, which catches a wrong K permutation, a lost product or a wrong scale that a rounding bound could hide;
//   - bound: quantized N(0, 1/K) weights, x ~ N(0, 1) with outliers, bias, against the CPU reference CpuLinear within
//     the bound derived below.
// Every output is poisoned with NaN first, so an unwritten element fails. Last, the backend switch FP4LAB_W4A16_GEMM
// (the GEMM by default or with "mma"; "dequant" turns it off).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/codecs.h"
#include "engine/nvfp4.h"
#include "gpu_test_util.h"
#ifdef FP4LAB_WITH_CUDA
#include <cuda_runtime.h>

#include "engine/cuda/cuda_context.h"
#include "engine/cuda/w4a16_dispatch.h"
#include "engine/cuda/w4a16_mma_gemm.h"
#include "pdl_test_util.h"
#endif

namespace fp4lab {
namespace {

using gpu_testing::Get;
using gpu_testing::kBf16Unit;
using gpu_testing::kF32Unit;
using gpu_testing::MakeBackend;
using gpu_testing::Normal;
using gpu_testing::Put;

struct Case {
  int64_t n, k;
  std::vector<int64_t> rows;
};

// The Llama-3.1-8B cases (N x K of q|k|v, o, gate|up and down, rows sliced where M N K would make the CPU side slow)
// and the odd ones.
const std::vector<Case> kLlamaCases = {{4096, 4096, {2, 3, 8, 16, 32}},
                                       {1001, 14336, {2, 8, 32}},
                                       {6144, 4096, {8}},
                                       {333, 4096, {64, 128, 256}},
                                       {96, 14336, {64, 256}}};
const std::vector<Case> kOddCases = {{77, 128, {1, 2, 3, 5, 7, 9, 17, 33, 65, 130, 257}},
                                     {5, 256, {2, 8, 13}},
                                     {130, 384, {3, 64, 100}},
                                     {31, 1024, {16, 40}}};

// The dequantized weights e2m1 * e4m3 (exact in f32), [n, k].
std::vector<float> UnscaledWeights(const LinearWeights& l) {
  const int64_t n = l.out_features, k = l.in_features;
  std::vector<uint16_t> products(static_cast<size_t>(n * k));
  EXPECT_TRUE(DequantizeNvfp4Unscaled({n, k, l.codes, l.block_scales}, products).ok());
  std::vector<float> w(products.size());
  DecodeBf16Row(products, w);
  return w;
}

#ifdef FP4LAB_WITH_CUDA

// y = the GEMM on the device for x[rows, k] (poisoned output first); empty on a failure (reported).
std::vector<float> RunGemm(const std::shared_ptr<cuda::CudaContext>& context, const LinearWeights& l,
                           const std::vector<float>& x, int64_t rows) {
  const int64_t n = l.out_features, k = l.in_features;
  cuda::W4A16GemmPlan plan;
  EXPECT_EQ(cuda::PlanW4A16Gemm(rows, n, k, &plan), cudaSuccess);
  const cuda::DeviceBuffer codes = gpu_testing::ToDevice(context, l.codes);
  const cuda::DeviceBuffer scales = gpu_testing::ToDevice(context, l.block_scales);
  const cuda::DeviceBuffer bias = gpu_testing::ToDevice(context, l.bias);
  const cuda::DeviceBuffer x_gpu = gpu_testing::ToDevice(context, x);
  const std::vector<float> poison(static_cast<size_t>(rows * n), std::numeric_limits<float>::quiet_NaN());
  const cuda::DeviceBuffer y = gpu_testing::ToDevice(context, poison);
  // Scratch poisoned too: the kernel must write every packed activation and partial sum it reads.
  const cuda::DeviceBuffer packed =
      gpu_testing::ToDevice(context, std::vector<uint8_t>(static_cast<size_t>(plan.packed_x_bytes), 0xFF));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const cuda::DeviceBuffer partials =
      gpu_testing::ToDevice(context, std::vector<float>(static_cast<size_t>(plan.partial_bytes / 4), nan));
  const cudaError_t err =
      cuda::LaunchW4A16Gemm(x_gpu.as<float>(), rows, codes.as<uint8_t>(), scales.as<uint8_t>(), n, k, l.weight_scale_2,
                            l.bias.empty() ? nullptr : bias.as<float>(), y.as<float>(), plan, packed.data(),
                            partials.as<float>(), context->stream());
  EXPECT_EQ(err, cudaSuccess) << cudaGetErrorString(err);
  if (err != cudaSuccess) return {};
  return gpu_testing::FromDevice(*context, y, 0, poison.size());
}

// Integer-valued operands: codes uniform over all 16, scales uniform over E4M3 bytes [scale_lo, scale_hi], x integers
// in [-2, 2], weight_scale_2 = 2^-3, no bias. With scales in [1, 1.875] (0x38..0x3F) every weight is a multiple of
// 2^-4 of magnitude <= 11.25, so |partial sums| <= 22.5 K < 2^19 at K = 14336: < 2^23 units of 2^-4, exact in f32 in
// any order (and in the tensor cores' aligned sums, which keep at least 24 bits). With subnormal scales (0x00..0x07,
// zero included) the unit is 2^-10 and |w| <= 6 * 7 * 2^-9, the same argument. Returns the worst |gpu - exact| (0
// when every output is exact); reports mismatches.
double CheckExact(const std::shared_ptr<cuda::CudaContext>& context, const Case& c, int scale_lo, int scale_hi,
                  uint32_t seed) {
  std::mt19937 rng(seed);
  LinearWeights l;
  l.name = "model.layers.0.mlp.down_proj";
  l.out_features = c.n;
  l.in_features = c.k;
  l.scheme = LinearScheme::kNvfp4W4A16;
  l.weight_scale_2 = 0.125f;
  l.codes.resize(static_cast<size_t>(c.n * c.k / 2));
  l.block_scales.resize(static_cast<size_t>(c.n * c.k / 16));
  std::uniform_int_distribution<int> byte(0, 255), scale(scale_lo, scale_hi), integer(-2, 2);
  for (uint8_t& b : l.codes) b = static_cast<uint8_t>(byte(rng));
  for (uint8_t& b : l.block_scales) b = static_cast<uint8_t>(scale(rng));
  const std::vector<float> w = UnscaledWeights(l);
  double worst = 0.0;
  for (const int64_t rows : c.rows) {
    std::vector<float> x(static_cast<size_t>(rows * c.k));
    for (float& v : x) v = static_cast<float>(integer(rng));
    const std::vector<float> y = RunGemm(context, l, x, rows);
    if (y.size() != static_cast<size_t>(rows * c.n)) return INFINITY;
    int failures = 0;
    for (int64_t m = 0; m < rows; ++m) {
      for (int64_t j = 0; j < c.n; ++j) {
        double exact = 0.0;
        for (int64_t i = 0; i < c.k; ++i) exact += double{x[m * c.k + i]} * w[j * c.k + i];
        exact *= l.weight_scale_2;
        const double got = y[m * c.n + j];
        worst = std::max(worst, std::fabs(got - exact));
        if (!(got == exact) && ++failures <= 3) {
          ADD_FAILURE() << "[M " << rows << ", N " << c.n << ", K " << c.k << "] y[" << m << ", " << j << "] = " << got
                        << ", exact " << exact;
        }
      }
    }
    EXPECT_EQ(failures, 0) << "M " << rows << ", N " << c.n << ", K " << c.k;
  }
  return worst;
}

#endif  // FP4LAB_WITH_CUDA

LinearWeights QuantizedLayer(int64_t n, int64_t k, uint32_t seed) {
  const std::vector<float> w = Normal(static_cast<size_t>(n * k), seed, 1.0f / std::sqrt(float(k)));
  LinearWeights l;
  l.name = "model.layers.0.mlp.up_proj";
  l.out_features = n;
  l.in_features = k;
  l.scheme = LinearScheme::kNvfp4W4A16;
  l.bias = Normal(static_cast<size_t>(n), seed + 1, 0.1f);
  auto q = QuantizeNvfp4Weight(l.name, w, n, k, WeightScale2FromAmax(AmaxOf(w)));
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  l.codes = q->packed;
  l.block_scales = q->scales;
  l.weight_scale_2 = q->weight_scale_2;
  return l;
}

// Per-output bound against CpuLinear. Both sides add the products of x and the exact weights w = e2m1 * e4m3 (alpha =
// weight_scale_2 applied after the sum, bias after that); S = sum_k |x_k w_k|, u = 2^-24.
//   CPU, left to right, f32                 : |err| <= (K - 1) u S
//   GPU, bf16 rounding of x (RNE)           : |sum (bf16(x_k) - x_k) w_k| <= 2^-8 S; the GPU's S' <= (1 + 2^-8) S
//   GPU, tensor cores: each mma.sync adds 16 exact products to the f32 accumulator; each of its 17 addends loses less
//     than one f32 ulp of the largest when aligned (truncation: < 2u |partial| <= 2u S'), plus one final rounding
//     (u S'): < 35 u S' per MMA, K / 16 of them: < 2.19 K u S'; split-K partials meet in at most K / 128 further
//     f32 additions (< K / 128 u S'). Total < 2.2 K u S' <= 2.21 K u S.
//   alpha * acc (* 2^8 exactly on the GPU) and + bias: one rounding each per side: 2u alpha S (1 + 2^-8) + 2u
//     (alpha S (1 + 2^-8) + |bias|) <= 4.1 u alpha S + 2u |bias|.
// bound = alpha S (3.21 K u + 2^-8 + 4.1 u) + 2u |bias|. `run(l, x, rows)` computes the GPU side. Returns the worst
// err / bound.
template <typename Run>
double CheckBound(Backend& cpu, const Case& c, uint32_t seed, Run run) {
  const LinearWeights l = QuantizedLayer(c.n, c.k, seed);
  const std::vector<float> w = UnscaledWeights(l);
  auto cpu_lin = cpu.PrepareLinear(l);
  EXPECT_TRUE(cpu_lin.ok()) << cpu_lin.status().ToString();
  if (!cpu_lin.ok()) return INFINITY;
  double worst = 0.0;
  for (const int64_t rows : c.rows) {
    std::vector<float> x = Normal(static_cast<size_t>(rows * c.k), seed + 100 + static_cast<uint32_t>(rows));
    for (size_t i = 0; i < x.size(); i += 97) x[i] *= 8.0f;  // outliers
    auto xt = Put(cpu, rows, c.k, x);
    auto yt = cpu.Allocate(rows, c.n);
    EXPECT_TRUE(xt && yt.ok());
    if (!xt || !yt.ok()) return INFINITY;
    const Status st = cpu.Linear(*xt, **cpu_lin, **yt);
    EXPECT_TRUE(st.ok()) << st.ToString();
    const std::vector<float> y_cpu = Get(cpu, **yt);
    const std::vector<float> y = run(l, x, rows);
    if (y.size() != y_cpu.size()) return INFINITY;
    const double u = kF32Unit, alpha = l.weight_scale_2;
    int failures = 0;
    for (int64_t m = 0; m < rows; ++m) {
      for (int64_t j = 0; j < c.n; ++j) {
        double s = 0.0;
        for (int64_t i = 0; i < c.k; ++i) s += std::fabs(double{x[m * c.k + i]} * w[j * c.k + i]);
        const double bound = alpha * s * (3.21 * static_cast<double>(c.k) * u + kBf16Unit + 4.1 * u) +
                             2.0 * u * std::fabs(double{l.bias[j]});
        const size_t i = static_cast<size_t>(m * c.n + j);
        const double err = std::fabs(double{y[i]} - y_cpu[i]);
        worst = std::max(worst, err / bound);
        if (!(err <= bound) && ++failures <= 3) {
          ADD_FAILURE() << "[M " << rows << ", N " << c.n << ", K " << c.k << "] y[" << m << ", " << j << "]: cpu "
                        << y_cpu[i] << " gpu " << y[i] << " |err| " << err << " > bound " << bound;
        }
      }
    }
    EXPECT_EQ(failures, 0) << "M " << rows << ", N " << c.n << ", K " << c.k;
  }
  return worst;
}

TEST(W4A16MmaGemmTest, SupportsWholeKTilesAndTheDispatchUsesIt) {
#ifdef FP4LAB_WITH_CUDA
  EXPECT_TRUE(cuda::W4A16GemmSupports(2, 4096, 4096));
  EXPECT_TRUE(cuda::W4A16GemmSupports(1000, 7, 128));
  EXPECT_FALSE(cuda::W4A16GemmSupports(8, 4096, 4096 + 32));  // not a whole 128-element K tile
  EXPECT_FALSE(cuda::W4A16GemmSupports(0, 4096, 4096));
  using cuda::ChooseW4A16Kernel;
  using cuda::W4A16Kernel;
  // Switched on (the default; FP4LAB_W4A16_GEMM=mma).
  EXPECT_EQ(ChooseW4A16Kernel(1, 4096, 4096, true), W4A16Kernel::kGemv);
  EXPECT_EQ(ChooseW4A16Kernel(cuda::kW4A16GemvBatches + 1, 4096, 4096, true), W4A16Kernel::kMmaGemm);
  EXPECT_EQ(ChooseW4A16Kernel(cuda::kW4A16MmaMaxBatch, 4096, 4096, true), W4A16Kernel::kMmaGemm);
  EXPECT_EQ(ChooseW4A16Kernel(cuda::kW4A16MmaMaxBatch + 1, 4096, 4096, true), W4A16Kernel::kDequantGemm);
  EXPECT_EQ(ChooseW4A16Kernel(8, 4096, 4096 + 16, true), W4A16Kernel::kGemv);  // K % 128 != 0: the GEMV
  EXPECT_EQ(ChooseW4A16Kernel(17, 4096, 4096 + 16, true), W4A16Kernel::kDequantGemm);
  // Off (the default): the paths of before, GEMV up to 16 rows.
  EXPECT_EQ(ChooseW4A16Kernel(8, 4096, 4096, false), W4A16Kernel::kGemv);
  EXPECT_EQ(ChooseW4A16Kernel(16, 4096, 4096, false), W4A16Kernel::kGemv);
  EXPECT_EQ(ChooseW4A16Kernel(17, 4096, 4096, false), W4A16Kernel::kDequantGemm);
#else
  GTEST_SKIP() << "this build has no CUDA backend (configure with -DFP4LAB_CUDA=ON)";
#endif
}

TEST(W4A16MmaGemmTest, ExactWhereEverySumIsExact) {
  FP4LAB_REQUIRE_GPU();
#ifdef FP4LAB_WITH_CUDA
  auto context = cuda::CudaContext::Create(0, 0);
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  uint32_t seed = 40;
  for (const auto* cases : {&kLlamaCases, &kOddCases}) {
    for (const Case& c : *cases) {
      EXPECT_EQ(CheckExact(*context, c, 0x38, 0x3F, ++seed), 0.0) << "normal scales, N " << c.n << ", K " << c.k;
    }
  }
  EXPECT_EQ(CheckExact(*context, {333, 4096, {3, 64}}, 0x00, 0x07, ++seed), 0.0) << "subnormal and zero scales";
  EXPECT_EQ(CheckExact(*context, {77, 128, {2, 9}}, 0x00, 0x07, ++seed), 0.0) << "subnormal and zero scales";
#endif
}

TEST(W4A16MmaGemmTest, WithinDerivedBoundOfCpuReference) {
  FP4LAB_REQUIRE_GPU();
#ifdef FP4LAB_WITH_CUDA
  auto cpu = MakeBackend("cpu");
  ASSERT_TRUE(cpu);
  auto context = cuda::CudaContext::Create(0, 0);
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  const auto run = [&](const LinearWeights& l, const std::vector<float>& x, int64_t rows) {
    return RunGemm(*context, l, x, rows);
  };
  double worst = 0.0;
  uint32_t seed = 60;
  for (const auto* cases : {&kLlamaCases, &kOddCases}) {
    for (const Case& c : *cases) worst = std::max(worst, CheckBound(*cpu, c, seed += 3, run));
  }
  std::cout << "[W4A16 MMA GEMM, Llama and odd shapes, M = 1..257] max |err| / bound = " << worst << "\n";
#endif
}

// FP4LAB_W4A16_GEMM: "dequant" turns the GEMM off (the backend says so), a bad value is refused with the variable's
// name, and by default (or "mma") the backend routes the backend's nvfp4-w4a16 Linears of 2..256 rows (K % 128 == 0) through the GEMM: Linear (and the
// fused q|k|v-style Linear) against CpuLinear within the same bound, which also exercises the workspace carve.
TEST(W4A16MmaGemmTest, BackendSwitchRoutesBatchesThroughTheGemm) {
  FP4LAB_REQUIRE_GPU();
  {
    gpu_testing::ScopedEnv off("FP4LAB_W4A16_GEMM", "dequant");
    auto gpu = MakeBackend("cuda");
    ASSERT_TRUE(gpu);
    EXPECT_EQ(gpu->Facts()["w4a16_batched_kernel"], "dequant");
  }
  {
    auto gpu = MakeBackend("cuda");
    ASSERT_TRUE(gpu);
    EXPECT_EQ(gpu->Facts()["w4a16_batched_kernel"], "mma");  // the default
  }
  {
    gpu_testing::ScopedEnv bad("FP4LAB_W4A16_GEMM", "fastest");
    auto refused = CreateBackend("cuda");
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("FP4LAB_W4A16_GEMM"), std::string::npos);
  }
  gpu_testing::ScopedEnv on("FP4LAB_W4A16_GEMM", "mma");
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  EXPECT_EQ(gpu->Facts()["w4a16_batched_kernel"], "mma");
  const auto run = [&](const LinearWeights& l, const std::vector<float>& x, int64_t rows) {
    auto lin = gpu->PrepareLinear(l);
    auto xt = Put(*gpu, rows, l.in_features, x);
    const size_t outputs = static_cast<size_t>(rows * l.out_features);
    const std::vector<float> poison(outputs, std::numeric_limits<float>::quiet_NaN());
    auto yt = Put(*gpu, rows, l.out_features, poison);
    EXPECT_TRUE(lin.ok() && xt && yt);
    if (!lin.ok() || !xt || !yt) return std::vector<float>();
    const Status st = gpu->Linear(*xt, **lin, *yt);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return Get(*gpu, *yt);
  };
  double worst = 0.0;
  worst = std::max(worst, CheckBound(*cpu, {4096, 4096, {2, 8, 32}}, 81, run));
  worst = std::max(worst, CheckBound(*cpu, {77, 1024, {3, 64, 129, 256}}, 82, run));
  std::cout << "[W4A16 MMA GEMM through the backend] max |err| / bound = " << worst << "\n";
}

}  // namespace
}  // namespace fp4lab
