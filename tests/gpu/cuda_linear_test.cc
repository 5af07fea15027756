// Linear on the CUDA backend against the CPU reference for every scheme and path (bf16; nvfp4 W4A4 emulated, and
// native where the device has it; nvfp4-w4a16; fp8), with bias, odd shapes and several batch sizes. Each output is
// held to a bound derived from its own operands (below).
#include <algorithm>
#include <cmath>
#include <iostream>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "engine/codecs.h"
#include "engine/fp8.h"
#include "engine/nvfp4.h"
#include "gpu_test_util.h"
#ifdef FP4LAB_WITH_CUDA
#include "engine/cuda/w4a16_dispatch.h"
#endif

namespace fp4lab {
namespace {

using gpu_testing::Get;
using gpu_testing::kBf16Unit;
using gpu_testing::kF32Unit;
using gpu_testing::MakeBackend;
using gpu_testing::Normal;
using gpu_testing::Put;
using gpu_testing::ScopedEnv;

// True when the CUDA backend runs a W4A16 layer of this batch through the GEMV (f32 x) rather than a bf16 GEMM (the
// tensor-core MMA GEMM or cuBLASLt, both on bf16 x). mma_gemm: the backend allows the MMA GEMM (its default; not
// with FP4LAB_W4A16_GEMM=dequant).
bool W4A16GemvTakes(int64_t rows, int64_t n, int64_t k, bool mma_gemm) {
#ifdef FP4LAB_WITH_CUDA
  return cuda::ChooseW4A16Kernel(rows, n, k, mma_gemm) == cuda::W4A16Kernel::kGemv;
#else
  (void)rows, (void)n, (void)k, (void)mma_gemm;
  return true;  // no CUDA backend in this build: every test here skips before comparing
#endif
}

struct Shape {
  int64_t rows, n, k;
  bool bias;
};

// A layer of `scheme` from seeded N(0, 1/K) weights, quantized with the reference quantizers; x ~ N(0, 1) with a few
// outliers; input_scale calibrated to 3/4 of max|x| so that some blocks saturate (as uncalibrated inputs do).
LinearWeights MakeLayer(LinearScheme scheme, const Shape& s, const std::vector<float>& x, uint32_t seed) {
  const std::vector<float> w = Normal(static_cast<size_t>(s.n * s.k), seed, 1.0f / std::sqrt(float(s.k)));
  LinearWeights l;
  l.name = "model.layers.0.mlp.up_proj";
  l.out_features = s.n;
  l.in_features = s.k;
  l.scheme = scheme;
  if (s.bias) l.bias = Normal(static_cast<size_t>(s.n), seed + 1, 0.1f);
  const float x_amax = 0.75f * AmaxOf(x);
  switch (scheme) {
    case LinearScheme::kBf16:
      l.bf16.resize(w.size());
      EncodeBf16Row(w, l.bf16);
      break;
    case LinearScheme::kNvfp4:
    case LinearScheme::kNvfp4W4A16: {
      auto q = QuantizeNvfp4Weight(l.name, w, s.n, s.k, WeightScale2FromAmax(AmaxOf(w)));
      EXPECT_TRUE(q.ok()) << q.status().ToString();
      l.codes = q->packed;
      l.block_scales = q->scales;
      l.weight_scale_2 = q->weight_scale_2;
      l.input_scale = WeightScale2FromAmax(x_amax);  // amax / 2688
      break;
    }
    case LinearScheme::kFp8:
      l.fp8_weight_scale = Fp8ScaleFromAmax(AmaxOf(w));
      l.fp8 = *QuantizeFp8Weight(l.name, w, l.fp8_weight_scale);
      l.input_scale = Fp8ScaleFromAmax(x_amax);
      break;
  }
  return l;
}

// The exact operands each side multiplies, per the reference (engine/cpu/cpu_linear.h): a[rows, K], b[N, K], and
// alpha; bf16_input when the GPU rounds x to bf16 first (the kBf16 path, W4A16 GEMM).
struct Operands {
  std::vector<float> a, b;
  double alpha = 1.0;
  bool bf16_input = false;
};

Operands ReferenceOperands(const LinearWeights& l, const std::vector<float>& x, int64_t rows, bool mma_gemm) {
  Operands o;
  const int64_t k = l.in_features;
  o.b.resize(static_cast<size_t>(l.out_features * k));
  o.a = x;
  switch (l.scheme) {
    case LinearScheme::kBf16:
      DecodeBf16Row(l.bf16, o.b);
      o.bf16_input = true;
      break;
    case LinearScheme::kNvfp4:
    case LinearScheme::kNvfp4W4A16: {
      std::vector<uint16_t> products(o.b.size());
      EXPECT_TRUE(DequantizeNvfp4Unscaled({l.out_features, k, l.codes, l.block_scales}, products).ok());
      DecodeBf16Row(products, o.b);
      o.alpha = l.weight_scale_2;
      // W4A16 batches the GEMV does not take run a bf16 GEMM (MMA or cuBLASLt): x is rounded to bf16 there.
      o.bf16_input = l.scheme == LinearScheme::kNvfp4W4A16 && !W4A16GemvTakes(rows, l.out_features, k, mma_gemm);
      if (l.scheme == LinearScheme::kNvfp4) {
        for (int64_t m = 0; m < rows; ++m) {
          EXPECT_TRUE(FakeQuantizeNvfp4ActivationRow(std::span(x).subspan(m * k, k), l.input_scale,
                                                     std::span(o.a).subspan(m * k, k)).ok());
        }
        o.alpha = l.input_scale * l.weight_scale_2;  // the f32 product both sides use
      }
      break;
    }
    case LinearScheme::kFp8:
      DecodeE4M3Row(l.fp8, o.b);
      EXPECT_TRUE(FakeQuantizeFp8Activation(x, l.input_scale, o.a).ok());
      o.alpha = l.input_scale * l.fp8_weight_scale;
      break;
  }
  return o;
}

// Per-output bound. Both sides add exact products p_k = a_k b_k (bf16 x bf16, E2M1*E4M3 x E2M1*E4M3, f32 x exact
// E2M1*E4M3 or E4M3 x E4M3 values: at most 24 significant bits each) in f32, S = sum_k |p_k|:
//   CPU, left to right            : |err| <= (K - 1) u S                      (u = 2^-24)
//   GPU, tensor cores / FMA trees : |err| <= 2 (K - 1) u S  (2u per addition allows for tensor cores that truncate
//                                   rather than round while aligning addends; split-K partial sums included)
//   alpha * acc, then + bias      : one rounding each per side: 2u (alpha S) + 2u (alpha S + |bias|)
//   kBf16, and W4A16 at batches beyond the GEMV (MMA GEMM, cuBLASLt), only: the GPU multiplies bf16(x_k),
//   |bf16(x) - x| <= 2^-8 |x|:
//   + 2^-8 alpha S, and the GPU's S grows by at most (1 + 2^-8): + 2 (K - 1) u 2^-8 alpha S <= (K / 128) u alpha S.
// bound = alpha S ((3K + 4 + [bf16 input] K / 128) u + [bf16 input] 2^-8) + 2u (alpha S + |bias|).
std::vector<double> LinearBound(const LinearWeights& l, const Operands& o, int64_t rows) {
  const int64_t n = l.out_features, k = l.in_features;
  std::vector<double> bound(static_cast<size_t>(rows * n));
  for (int64_t m = 0; m < rows; ++m) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t i = 0; i < k; ++i) s += std::fabs(double{o.a[m * k + i]} * o.b[j * k + i]);
      const double as = o.alpha * s, bias = l.bias.empty() ? 0.0 : std::fabs(double{l.bias[j]});
      const double bf16_terms = o.bf16_input ? k / 128.0 * kF32Unit + kBf16Unit : 0.0;
      bound[m * n + j] = as * ((3.0 * k + 4.0) * kF32Unit + bf16_terms) +
                         2.0 * kF32Unit * (as + bias);
    }
  }
  return bound;
}

// `l` cut into three parts of rows [0, n/2), [n/2, 3n/4), [3n/4, n) (a q|k|v-like group sharing its scalars).
std::vector<LinearWeights> SplitRows(const LinearWeights& l) {
  const int64_t n = l.out_features, k = l.in_features;
  const int64_t cuts[4] = {0, n / 2, 3 * n / 4, n};
  const auto rows_of = [](const auto& v, int64_t per_row, int64_t from, int64_t to) {
    using V = std::decay_t<decltype(v)>;
    return v.empty() ? V() : V(v.begin() + from * per_row, v.begin() + to * per_row);
  };
  std::vector<LinearWeights> parts;
  for (int p = 0; p < 3; ++p) {
    LinearWeights part = l;
    part.name = l.name + ".part" + std::to_string(p);
    part.out_features = cuts[p + 1] - cuts[p];
    part.bf16 = rows_of(l.bf16, k, cuts[p], cuts[p + 1]);
    part.codes = rows_of(l.codes, k / 2, cuts[p], cuts[p + 1]);
    part.block_scales = rows_of(l.block_scales, k / 16, cuts[p], cuts[p + 1]);
    part.fp8 = rows_of(l.fp8, k, cuts[p], cuts[p + 1]);
    part.bias = rows_of(l.bias, 1, cuts[p], cuts[p + 1]);
    parts.push_back(std::move(part));
  }
  return parts;
}

// Runs one layer on both backends and checks every output against its bound. Returns the worst err / bound.
// With `fused_on_gpu` the GPU runs it as three stacked parts (Backend::PrepareFusedLinear): the same outputs, so the
// same bounds.
double CheckLinear(Backend& cpu, Backend& gpu, LinearScheme scheme, const Shape& s, uint32_t seed,
                   bool fused_on_gpu = false) {
  std::vector<float> x = Normal(static_cast<size_t>(s.rows * s.k), seed + 100);
  for (size_t i = 0; i < x.size(); i += 97) x[i] *= 8.0f;  // outliers: saturated NVFP4 / FP8 blocks
  const LinearWeights l = MakeLayer(scheme, s, x, seed);
  std::vector<float> y[2];
  Backend* backends[2] = {&cpu, &gpu};
  for (int b = 0; b < 2; ++b) {
    auto lin = fused_on_gpu && b == 1 ? backends[b]->PrepareFusedLinear(SplitRows(l), l.name)
                                      : backends[b]->PrepareLinear(l);
    EXPECT_TRUE(lin.ok()) << lin.status().ToString();
    if (!lin.ok()) return INFINITY;
    auto xt = Put(*backends[b], s.rows, s.k, x);
    auto yt = backends[b]->Allocate(s.rows, s.n);
    EXPECT_TRUE(yt.ok());
    const Status st = backends[b]->Linear(*xt, **lin, **yt);
    EXPECT_TRUE(st.ok()) << st.ToString();
    y[b] = Get(*backends[b], **yt);
  }
  const bool mma_gemm = gpu.Facts().value("w4a16_batched_kernel", std::string()) == "mma";
  const std::vector<double> bound = LinearBound(l, ReferenceOperands(l, x, s.rows, mma_gemm), s.rows);
  double worst = 0.0;
  int failures = 0;
  for (size_t i = 0; i < bound.size(); ++i) {
    const double err = std::fabs(double{y[1][i]} - y[0][i]);
    worst = std::max(worst, err / bound[i]);
    if (!(err <= bound[i]) && ++failures <= 3) {
      ADD_FAILURE() << LinearSchemeName(scheme) << " [" << s.rows << ", " << s.n << ", " << s.k << "] output " << i
                    << ": cpu " << y[0][i] << " gpu " << y[1][i] << " |err| " << err << " > bound " << bound[i];
    }
  }
  EXPECT_EQ(failures, 0);
  return worst;
}

const std::vector<Shape> kShapes = {
    {1, 96, 64, false}, {7, 48, 160, true}, {33, 256, 352, false}, {133, 80, 512, true}, {2, 4096, 1024, false}};

void CheckAllShapes(Backend& cpu, Backend& gpu, LinearScheme scheme, const std::string& label) {
  double worst = 0.0;
  uint32_t seed = 20;
  for (const Shape& s : kShapes) worst = std::max(worst, CheckLinear(cpu, gpu, scheme, s, seed += 7));
  std::cout << "[Linear " << label << " on " << gpu.Name() << " (" << *gpu.LinearPath(scheme)
            << ")] max |err| / bound = " << worst << " over " << kShapes.size() << " shapes\n";
}

TEST(CudaLinearTest, FusedLayersWithinDerivedBoundInEveryScheme) {
  FP4LAB_REQUIRE_GPU();
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  for (LinearScheme scheme :
       {LinearScheme::kBf16, LinearScheme::kNvfp4, LinearScheme::kNvfp4W4A16, LinearScheme::kFp8}) {
    double worst = 0.0;
    uint32_t seed = 70;
    for (const Shape& s : kShapes) worst = std::max(worst, CheckLinear(*cpu, *gpu, scheme, s, seed += 7, true));
    std::cout << "[Fused Linear " << LinearSchemeName(scheme) << "] max |err| / bound = " << worst << "\n";
  }
}

TEST(CudaLinearTest, Bf16WithinDerivedBound) {
  FP4LAB_REQUIRE_GPU();
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  EXPECT_EQ(*gpu->LinearPath(LinearScheme::kBf16), "native");
  CheckAllShapes(*cpu, *gpu, LinearScheme::kBf16, "bf16");
  // K = 172 (stories260K's down_proj): rows of 344 bytes, not 16-byte aligned.
  const double worst = CheckLinear(*cpu, *gpu, LinearScheme::kBf16, {5, 64, 172, true}, 3);
  std::cout << "[Linear bf16 K=172] max |err| / bound = " << worst << "\n";
}

TEST(CudaLinearTest, Nvfp4EmulatedW4A4WithinDerivedBound) {
  FP4LAB_REQUIRE_GPU();
  ScopedEnv path("FP4LAB_NVFP4_PATH", "emulated");
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  EXPECT_EQ(*gpu->LinearPath(LinearScheme::kNvfp4), "emulated");
  EXPECT_NE(gpu->Facts()["nvfp4_path_reason"].get<std::string>().find("on request"), std::string::npos);
  CheckAllShapes(*cpu, *gpu, LinearScheme::kNvfp4, "nvfp4 emulated");
}

TEST(CudaLinearTest, Nvfp4NativeWithinDerivedBoundOnBlackwell) {
  FP4LAB_REQUIRE_GPU();
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  const nlohmann::json facts = gpu->Facts();
  if (*gpu->LinearPath(LinearScheme::kNvfp4) != "native") {
    GTEST_SKIP() << facts["name"].get<std::string>() << ": " << facts["nvfp4_path_reason"].get<std::string>();
  }
  // The tensor cores apply the block scales themselves; the products stay exact, so the same bound holds.
  CheckAllShapes(*cpu, *gpu, LinearScheme::kNvfp4, "nvfp4 native");
}

TEST(CudaLinearTest, Nvfp4WeightOnlyWithinDerivedBound) {
  FP4LAB_REQUIRE_GPU();
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  EXPECT_EQ(*gpu->LinearPath(LinearScheme::kNvfp4W4A16), "weight-only");
  CheckAllShapes(*cpu, *gpu, LinearScheme::kNvfp4W4A16, "nvfp4-w4a16");
}

TEST(CudaLinearTest, Fp8EmulatedWithinDerivedBound) {
  FP4LAB_REQUIRE_GPU();
  auto cpu = MakeBackend("cpu");
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(cpu && gpu);
  EXPECT_EQ(*gpu->LinearPath(LinearScheme::kFp8), "emulated");
  CheckAllShapes(*cpu, *gpu, LinearScheme::kFp8, "fp8");
}

TEST(CudaLinearTest, PackedLayersHoldOnlyTheirStoredBytes) {
  FP4LAB_REQUIRE_GPU();
  auto gpu = MakeBackend("cuda");
  ASSERT_TRUE(gpu);
  const Shape s{1, 256, 512, true};
  const std::vector<float> x = Normal(512, 1);
  auto lin = gpu->PrepareLinear(MakeLayer(LinearScheme::kNvfp4W4A16, s, x, 1));
  ASSERT_TRUE(lin.ok());
  // Weight-only keeps codes (N * K / 2), E4M3 scales (N * K / 16) and the f32 bias on the device, nothing else.
  EXPECT_EQ((*lin)->DeviceBytes(), 256 * 512 / 2 + 256 * 512 / 16 + 256 * 4);
}

TEST(CudaLinearTest, PathSelectionFromTheEnvironment) {
  FP4LAB_REQUIRE_GPU();
  {
    ScopedEnv path("FP4LAB_NVFP4_PATH", "native");
    auto gpu = MakeBackend("cuda");
    ASSERT_TRUE(gpu);
    const nlohmann::json facts = gpu->Facts();
    const std::string reason = facts["nvfp4_path_reason"].get<std::string>();
    std::cout << "[nvfp4 path with FP4LAB_NVFP4_PATH=native on " << facts["name"].get<std::string>() << " (sm "
              << facts["compute_capability"].get<std::string>() << ")] " << *gpu->LinearPath(LinearScheme::kNvfp4)
              << ": " << reason << "\n";
    if (*gpu->LinearPath(LinearScheme::kNvfp4) == "emulated") {
      // Refused natively (no FP4 tensor cores): it still runs, emulated, and says the request was refused.
      EXPECT_NE(reason.find("native was requested"), std::string::npos) << reason;
    }
  }
  ScopedEnv bad("FP4LAB_NVFP4_PATH", "fastest");
  auto refused = CreateBackend("cuda");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("FP4LAB_NVFP4_PATH"), std::string::npos);
}

}  // namespace
}  // namespace fp4lab
