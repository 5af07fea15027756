// The BF16 decode GEMV (engine/cuda/bf16_gemv.h) against the CPU reference CpuLinear: launched directly on
// Llama-sized shapes (K = N = 4096; K = 14336 with odd N and bias) and small odd shapes (one piece per row, K not a
// multiple of the 256 elements a warp reads per step, fewer columns than a warp owns, N not a multiple of a block),
// every M from 1 to 16, with and without bias, the output poisoned with NaN first (an unwritten element fails).
// Each output is held to a bound derived from its own operands (LinearBound below). Then the dispatch: the CUDA
// backend's bf16 Linear at decode batch sizes must meet the same bound, which the cuBLASLt path (x rounded to bf16)
// cannot. Last, the programmatic dependent launch: the GEMV right after a kernel that rewrites its inputs late must
// use the new ones.
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
#include "gpu_test_util.h"
#ifdef FP4LAB_WITH_CUDA
#include <cuda_runtime.h>

#include "engine/cuda/bf16_gemv.h"
#include "engine/cuda/cuda_context.h"
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
};

// W ~ N(0, 1/K) rounded to bf16 (RNE), bias ~ N(0, 0.1^2).
LinearWeights MakeLayer(const Layer& s, uint32_t seed) {
  const std::vector<float> w = Normal(static_cast<size_t>(s.n * s.k), seed, 1.0f / std::sqrt(float(s.k)));
  LinearWeights l;
  l.name = "model.layers.0.self_attn.o_proj";
  l.out_features = s.n;
  l.in_features = s.k;
  l.scheme = LinearScheme::kBf16;
  l.bf16.resize(w.size());
  EncodeBf16Row(w, l.bf16);
  if (s.bias) l.bias = Normal(static_cast<size_t>(s.n), seed + 1, 0.1f);
  return l;
}

// x [rows, k] ~ N(0, 1) with outliers (every 97th value times 8).
std::vector<float> MakeInput(int64_t rows, int64_t k, uint32_t seed) {
  std::vector<float> x = Normal(static_cast<size_t>(rows * k), seed);
  for (size_t i = 0; i < x.size(); i += 97) x[i] *= 8.0f;
  return x;
}

// Per-output bound. Both sides sum the K products p_k = x_k w_k of f32 x and bf16 w (exact in f32) in f32;
// S = sum_k |p_k|, u = 2^-24, gamma(j) = j u / (1 - j u), b = bias.
//   CPU (CpuLinear): acc += x_k * w_k from k = 0: every product is rounded once (or fused into the addition) and
//     then passes through at most K - 1 additions, so |acc_cpu - sum p| <= gamma(K) S.
//   GPU (bf16_gemv.h): a summation tree over the same products in which every product passes through at most K + 8
//     roundings (the header's contract: the lane's FMA chain, 5 shuffle levels, at most 3 split-K additions), so
//     |acc_gpu - sum p| <= gamma(K + 8) S.
//   Each side then rounds acc + b once (when there is a bias; the bound allows for it always), |acc| <= S (1 +
//   gamma(K + 8)): |fl(acc + b) - (acc + b)| <= u (S (1 + gamma(K + 8)) + |b|) per side.
//   bound = (gamma(K) + gamma(K + 8)) S + 2 u (S (1 + gamma(K + 8)) + |b|).
//   Underflow: a rounding whose result is an f32 subnormal errs by up to 2^-150 absolute beyond that. The CPU has at
//   most 2K + 1 roundings per output, the GPU at most K FMAs, 4 x 31 shuffle additions, 4 split-K additions and the
//   bias; each such error is carried through later roundings by at most a factor 2: + (3K + 140) 2^-149.
std::vector<double> LinearBound(const LinearWeights& l, const std::vector<float>& x, int64_t rows) {
  const int64_t n = l.out_features, k = l.in_features;
  std::vector<float> w(static_cast<size_t>(n * k));
  DecodeBf16Row(l.bf16, w);
  const double u = kF32Unit;
  const auto gamma = [u](double j) { return j * u / (1.0 - j * u); };
  const double g_cpu = gamma(static_cast<double>(k)), g_gpu = gamma(static_cast<double>(k + 8));
  std::vector<double> bound(static_cast<size_t>(rows * n));
  for (int64_t m = 0; m < rows; ++m) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t i = 0; i < k; ++i) s += std::fabs(double{x[m * k + i]} * w[j * k + i]);
      const double b = l.bias.empty() ? 0.0 : std::fabs(double{l.bias[j]});
      bound[m * n + j] = (g_cpu + g_gpu) * s + 2.0 * u * (s * (1.0 + g_gpu) + b) +
                         (3.0 * static_cast<double>(k) + 140.0) * 0x1p-149;
    }
  }
  return bound;
}

// CpuLinear's y [rows, n] for x.
std::vector<float> CpuOutputs(Backend& cpu, const LinearWeights& l, const std::vector<float>& x, int64_t rows) {
  auto lin = cpu.PrepareLinear(l);
  EXPECT_TRUE(lin.ok()) << lin.status().ToString();
  auto xt = Put(cpu, rows, l.in_features, x);
  auto yt = cpu.Allocate(rows, l.out_features);
  EXPECT_TRUE(lin.ok() && xt && yt.ok());
  if (!lin.ok() || !xt || !yt.ok()) return {};
  const Status st = cpu.Linear(*xt, **lin, **yt);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return Get(cpu, **yt);
}

// Checks got against the CPU's y within LinearBound; returns the worst err / bound (infinity on a size mismatch).
double ExpectWithinBound(const LinearWeights& l, const std::vector<float>& x, int64_t rows,
                         const std::vector<float>& cpu, const std::vector<float>& got, const std::string& what) {
  const std::vector<double> bound = LinearBound(l, x, rows);
  EXPECT_EQ(cpu.size(), bound.size()) << what;
  EXPECT_EQ(got.size(), bound.size()) << what;
  if (cpu.size() != bound.size() || got.size() != bound.size()) return INFINITY;
  double worst = 0.0;
  int failures = 0;
  for (size_t i = 0; i < bound.size(); ++i) {
    const double err = std::fabs(double{got[i]} - cpu[i]);
    worst = std::max(worst, err / bound[i]);
    if (!(err <= bound[i]) && ++failures <= 3) {  // NaN fails too
      ADD_FAILURE() << what << " output " << i << ": cpu " << cpu[i] << " gpu " << got[i] << " |err| " << err
                    << " > bound " << bound[i];
    }
  }
  EXPECT_EQ(failures, 0) << what;
  return worst;
}

TEST(Bf16GemvTest, SupportsDecodeBatchesWithWholePieces) {
#ifdef FP4LAB_WITH_CUDA
  EXPECT_TRUE(cuda::Bf16GemvSupports(1, 4096));
  EXPECT_TRUE(cuda::Bf16GemvSupports(16, 14336));
  EXPECT_TRUE(cuda::Bf16GemvSupports(3, 8));
  EXPECT_FALSE(cuda::Bf16GemvSupports(0, 4096));
  EXPECT_FALSE(cuda::Bf16GemvSupports(17, 4096));  // larger M: cuBLASLt
  EXPECT_FALSE(cuda::Bf16GemvSupports(1, 172));    // k % 8 != 0: rows not 16-byte aligned (stories260K's down)
  EXPECT_FALSE(cuda::Bf16GemvSupports(1, (int64_t{1} << 26) + 8));
#else
  GTEST_SKIP() << "this build has no CUDA backend (configure with -DFP4LAB_CUDA=ON)";
#endif
}

#ifdef FP4LAB_WITH_CUDA

using cuda::CudaContext;
using cuda::DeviceBuffer;
using gpu_testing::FromDevice;
using gpu_testing::ToDevice;

// The GEMV's y [rows, n] for x, launched directly (with programmatic dependent launch, as the engine does) into an
// output poisoned with NaN.
std::vector<float> GemvOutputs(const std::shared_ptr<CudaContext>& context, const LinearWeights& l,
                               const std::vector<float>& x, int64_t rows) {
  const int64_t n = l.out_features, k = l.in_features;
  const DeviceBuffer w = ToDevice(context, l.bf16);
  const DeviceBuffer xd = ToDevice(context, x);
  const DeviceBuffer bias = ToDevice(context, l.bias);
  const DeviceBuffer y =
      ToDevice(context, std::vector<float>(static_cast<size_t>(rows * n), std::numeric_limits<float>::quiet_NaN()));
  EXPECT_EQ(cuda::LaunchBf16Gemv(xd.as<float>(), rows, w.as<uint16_t>(), n, k,
                                 l.bias.empty() ? nullptr : bias.as<float>(), y.as<float>(), context->stream()),
            cudaSuccess);
  return FromDevice(*context, y, 0, static_cast<size_t>(rows * n));
}

// The GEMV against CpuLinear for layer `s` at each row count; returns the worst err / bound.
double CheckLayer(Backend& cpu, const std::shared_ptr<CudaContext>& context, const Layer& s,
                  const std::vector<int64_t>& row_counts, uint32_t seed) {
  const LinearWeights l = MakeLayer(s, seed);
  double worst = 0.0;
  for (const int64_t rows : row_counts) {
    const std::vector<float> x = MakeInput(rows, s.k, seed + 100 + static_cast<uint32_t>(rows));
    const std::string what = "[M " + std::to_string(rows) + ", N " + std::to_string(s.n) + ", K " +
                             std::to_string(s.k) + (s.bias ? ", bias]" : "]");
    worst = std::max(worst, ExpectWithinBound(l, x, rows, CpuOutputs(cpu, l, x, rows),
                                              GemvOutputs(context, l, x, rows), what));
  }
  return worst;
}

std::shared_ptr<CudaContext> MakeContext() {
  auto context = CudaContext::Create(0, 0);
  EXPECT_TRUE(context.ok()) << context.status().ToString();
  return context.ok() ? *context : nullptr;
}

#endif  // FP4LAB_WITH_CUDA

TEST(Bf16GemvTest, MatchesCpuReferenceOnLlamaShapes) {
  FP4LAB_REQUIRE_GPU();
#ifdef FP4LAB_WITH_CUDA
  auto cpu = MakeBackend("cpu");
  auto context = MakeContext();
  ASSERT_TRUE(cpu && context);
  double worst = 0.0;
  worst = std::max(worst, CheckLayer(*cpu, context, {4096, 4096, false}, {1, 3, 8, 16}, 11));
  worst = std::max(worst, CheckLayer(*cpu, context, {1001, 14336, true}, {1, 6, 16}, 12));  // odd N, long K
  std::cout << "[bf16 GEMV, Llama shapes] max |err| / bound = " << worst << "\n";
#endif
}

TEST(Bf16GemvTest, MatchesCpuReferenceAtEveryRowCountOnOddShapes) {
  FP4LAB_REQUIRE_GPU();
#ifdef FP4LAB_WITH_CUDA
  auto cpu = MakeBackend("cpu");
  auto context = MakeContext();
  ASSERT_TRUE(cpu && context);
  std::vector<int64_t> all_rows;
  for (int64_t m = 1; m <= 16; ++m) all_rows.push_back(m);
  double worst = 0.0;
  // 65 pieces per row: the last step has one lane; N not a multiple of any block's columns.
  worst = std::max(worst, CheckLayer(*cpu, context, {77, 520, true}, all_rows, 17));
  // 129 pieces: 5 steps over up to 4 K slices (some slices get one step more); no bias.
  worst = std::max(worst, CheckLayer(*cpu, context, {45, 1032, false}, all_rows, 18));
  // One piece per row (31 lanes idle); fewer columns than a warp owns.
  worst = std::max(worst, CheckLayer(*cpu, context, {3, 8, true}, all_rows, 19));
  worst = std::max(worst, CheckLayer(*cpu, context, {130, 24, false}, {1, 2, 7, 16}, 20));
  std::cout << "[bf16 GEMV, odd shapes, M = 1..16] max |err| / bound = " << worst << "\n";
#endif
}

TEST(Bf16GemvTest, CudaLinearRunsDecodeBatchesWithF32Activations) {
  FP4LAB_REQUIRE_GPU();
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  // K = 64: rounding x to bf16 (the cuBLASLt path) errs by about 2^-9 sqrt(sum p^2) per output, far above this
  // bound (about 2^-17 S), so the bound holds only if the backend's Linear took the GEMV.
  const Layer s{96, 64, true};
  const LinearWeights l = MakeLayer(s, 40);
  auto lin = gpu->PrepareLinear(l);
  ASSERT_TRUE(lin.ok()) << lin.status().ToString();
  double worst = 0.0;
  for (const int64_t rows : {1, 2}) {
    const std::vector<float> x = MakeInput(rows, s.k, 41 + static_cast<uint32_t>(rows));
    auto xt = Put(*gpu, rows, s.k, x);
    auto yt = Put(*gpu, rows, s.n, std::vector<float>(static_cast<size_t>(rows * s.n), NAN));
    ASSERT_TRUE(xt && yt);
    const Status st = gpu->Linear(*xt, **lin, *yt);
    ASSERT_TRUE(st.ok()) << st.ToString();
    worst = std::max(worst, ExpectWithinBound(l, x, rows, CpuOutputs(*cpu, l, x, rows), Get(*gpu, *yt),
                                              "CudaLinear bf16 [M " + std::to_string(rows) + "]"));
  }
  std::cout << "[bf16 Linear on " << gpu->Name() << ", decode batches] max |err| / bound = " << worst << "\n";
}

#ifdef FP4LAB_WITH_CUDA

// Programmatic dependent launch (bf16_gemv.h): the GEMV of layer `s` at M = m right after a kernel that rewrites its
// inputs late (gpu_testing::ExpectGemvWaitsForLateProducer in pdl_test_util.h).
void CheckAfterLateProducer(const std::shared_ptr<CudaContext>& context, const Layer& s, int64_t m, uint32_t seed) {
  const LinearWeights l = MakeLayer(s, seed);
  const DeviceBuffer w = ToDevice(context, l.bf16);
  gpu_testing::ExpectGemvWaitsForLateProducer(
      context, m, s.n, s.k, s.bias ? l.bias : std::vector<float>{}, seed,
      [&](const float* x, const float* bias, float* y, cudaStream_t stream, bool allow_overlap) {
        return cuda::LaunchBf16Gemv(x, m, w.as<uint16_t>(), s.n, s.k, bias, y, stream, allow_overlap);
      });
}

#endif  // FP4LAB_WITH_CUDA

TEST(Bf16GemvTest, WaitsForThePreviousKernelBeforeTouchingActivations) {
  FP4LAB_REQUIRE_GPU();
#ifdef FP4LAB_WITH_CUDA
  int major = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0), cudaSuccess);
  if (major < 9) {
    GTEST_SKIP() << "programmatic dependent launch needs compute capability 9.0 (this device: " << major << ".x)";
  }
  auto context = MakeContext();
  ASSERT_TRUE(context);
  for (const bool graph : {false, true}) {
    SCOPED_TRACE(graph ? "captured graph" : "stream");
    gpu_testing::ExpectOverlap(context, graph);
  }
  // M = 1 with split K (4096 x 4096), M = 5 (padded to 6) with bias and a K tail, M = 16.
  CheckAfterLateProducer(context, {4096, 4096, true}, 1, 31);
  CheckAfterLateProducer(context, {333, 1032, true}, 5, 32);
  CheckAfterLateProducer(context, {1001, 4096, false}, 16, 33);
#endif
}

}  // namespace
}  // namespace fp4lab
