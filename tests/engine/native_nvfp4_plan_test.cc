// The host-side logic of the native NVFP4 GEMM (engine/native_nvfp4_plan.h), checked on the CPU: path decision,
// cuBLASLt problem mapping (TN, leading dimensions, scale modes), alpha, and the weight-scale swizzle done at load.
// Expected numbers are worked out by hand from design/NVFP4.md sections 6, 7 and 10.
#include "engine/native_nvfp4_plan.h"

#include <cmath>

#include <gtest/gtest.h>

namespace fp4lab {
namespace {

TEST(NativeNvfp4PlanTest, ParsesPathRequests) {
  EXPECT_EQ(*ParseNvfp4PathRequest("", "env"), Nvfp4PathRequest::kAuto);
  EXPECT_EQ(*ParseNvfp4PathRequest("auto", "env"), Nvfp4PathRequest::kAuto);
  EXPECT_EQ(*ParseNvfp4PathRequest("native", "env"), Nvfp4PathRequest::kNative);
  EXPECT_EQ(*ParseNvfp4PathRequest("emulated", "env"), Nvfp4PathRequest::kEmulated);
  auto bad = ParseNvfp4PathRequest("fast", "FP4LAB_NVFP4_PATH");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("FP4LAB_NVFP4_PATH"), std::string::npos);
  EXPECT_NE(bad.status().message().find("'fast'"), std::string::npos);
}

TEST(NativeNvfp4PlanTest, Fp4TensorCoresOnlyOnBlackwell) {
  EXPECT_FALSE(HasFp4TensorCores(8));
  EXPECT_FALSE(HasFp4TensorCores(9));
  EXPECT_TRUE(HasFp4TensorCores(10));
  EXPECT_FALSE(HasFp4TensorCores(11));
  EXPECT_TRUE(HasFp4TensorCores(12));
}

TEST(NativeNvfp4PlanTest, HopperFallsBackToEmulationWithTheProbeReason) {
  const Status not_supported =
      Status::Unimplemented("cublasLtMatmulAlgoGetHeuristic: CUBLAS_STATUS_NOT_SUPPORTED (15)");
  const Nvfp4PathDecision d = DecideNvfp4Path(Nvfp4PathRequest::kAuto, 9, 0, not_supported);
  EXPECT_FALSE(d.native);
  EXPECT_NE(d.reason.find("sm_90"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("no FP4 tensor cores"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("CUBLAS_STATUS_NOT_SUPPORTED (15)"), std::string::npos) << d.reason;
  // Asking for native on such a device still does not crash: it emulates and says the request was refused.
  const Nvfp4PathDecision forced = DecideNvfp4Path(Nvfp4PathRequest::kNative, 9, 0, not_supported);
  EXPECT_FALSE(forced.native);
  EXPECT_NE(forced.reason.find("native was requested"), std::string::npos) << forced.reason;
}

TEST(NativeNvfp4PlanTest, BlackwellRunsNativeUnlessEmulationIsRequested) {
  EXPECT_TRUE(DecideNvfp4Path(Nvfp4PathRequest::kAuto, 10, 0, Status::Ok()).native);
  EXPECT_TRUE(DecideNvfp4Path(Nvfp4PathRequest::kNative, 12, 0, Status::Ok()).native);
  const Nvfp4PathDecision emulated = DecideNvfp4Path(Nvfp4PathRequest::kEmulated, 10, 0, Status::Ok());
  EXPECT_FALSE(emulated.native);
  EXPECT_NE(emulated.reason.find("on request"), std::string::npos) << emulated.reason;
  // A Blackwell device whose cuBLASLt lacks the algorithm (too old) emulates, without blaming the tensor cores.
  const Nvfp4PathDecision old_library =
      DecideNvfp4Path(Nvfp4PathRequest::kAuto, 10, 0, Status::Unimplemented("no heuristic"));
  EXPECT_FALSE(old_library.native);
  EXPECT_EQ(old_library.reason.find("no FP4 tensor cores"), std::string::npos) << old_library.reason;
  EXPECT_NE(old_library.reason.find("sm_100"), std::string::npos) << old_library.reason;
}

TEST(NativeNvfp4PlanTest, ShapeRule) {
  EXPECT_TRUE(CheckNativeNvfp4Shape("l", 16, 32).ok());
  EXPECT_TRUE(CheckNativeNvfp4Shape("l", 4096, 14336).ok());
  const Status k48 = CheckNativeNvfp4Shape("model.layers.0.mlp.up_proj", 64, 48);  // K % 32 != 0
  EXPECT_EQ(k48.code(), StatusCode::kUnimplemented);
  EXPECT_NE(k48.message().find("model.layers.0.mlp.up_proj"), std::string::npos);
  EXPECT_NE(k48.message().find("[64, 48]"), std::string::npos);
  EXPECT_EQ(CheckNativeNvfp4Shape("l", 40, 64).code(), StatusCode::kUnimplemented);  // N % 16 != 0
}

TEST(NativeNvfp4PlanTest, MapsRowMajorGemmToCublasTn) {
  // X[3, 64] * W[48, 64]^T: cuBLAS m = N = 48, n = M = 3, k = 64; lda = ldb = K, ldd = N.
  auto plan = PlanNativeNvfp4Gemm("l", 3, 48, 64, 0.5f, 0.25f);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->m, 48);
  EXPECT_EQ(plan->n, 3);
  EXPECT_EQ(plan->k, 64);
  EXPECT_TRUE(plan->transpose_a);
  EXPECT_FALSE(plan->transpose_b);
  EXPECT_EQ(plan->lda, 64);
  EXPECT_EQ(plan->ldb, 64);
  EXPECT_EQ(plan->ldd, 48);
  EXPECT_EQ(plan->a_type, 33);        // CUDA_R_4F_E2M1
  EXPECT_EQ(plan->b_type, 33);
  EXPECT_EQ(plan->a_scale_mode, 1);   // VEC16_UE4M3
  EXPECT_EQ(plan->b_scale_mode, 1);
  // Scales: K/16 = 4 columns (one 4-wide tile), rows padded to 128: 128 * 4 bytes for both operands.
  EXPECT_EQ(plan->a_scale_bytes, 512);
  EXPECT_EQ(plan->b_scale_bytes, 512);
  EXPECT_EQ(plan->a_bytes, 48 * 32);
  EXPECT_EQ(plan->b_bytes, 3 * 32);
  EXPECT_EQ(plan->alpha, 0.125f);  // 0.5 * 0.25, exact
  EXPECT_EQ(plan->beta, 0.0f);

  // N = 256 rows (two 128-row bands), K = 96 -> 6 scale columns padded to 8: 256 * 8 bytes. M = 130 -> 256 * 8.
  auto big = PlanNativeNvfp4Gemm("l", 130, 256, 96, 3.0f, 7.0f);
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->a_scale_bytes, 2048);
  EXPECT_EQ(big->b_scale_bytes, 2048);
  EXPECT_EQ(big->alpha, 21.0f);
}

TEST(NativeNvfp4PlanTest, AlphaIsOneF32ProductOfTheGlobalScales) {
  // Neither factor is a power of two, so the product rounds: alpha must be that single f32 rounding.
  const float input_scale = 1.0f / 2688.0f * 3.7f, weight_scale_2 = 0.01f / 3.0f;
  EXPECT_EQ(NativeNvfp4Alpha(input_scale, weight_scale_2), input_scale * weight_scale_2);
  auto plan = PlanNativeNvfp4Gemm("l", 1, 16, 32, input_scale, weight_scale_2);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->alpha, input_scale * weight_scale_2);
}

TEST(NativeNvfp4PlanTest, RejectsBadPlans) {
  EXPECT_EQ(PlanNativeNvfp4Gemm("l", 0, 16, 32, 1.0f, 1.0f).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanNativeNvfp4Gemm("l", 1, 16, 32, 0.0f, 1.0f).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanNativeNvfp4Gemm("l", 1, 16, 32, 1.0f, NAN).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanNativeNvfp4Gemm("l", 1, 16, 48, 1.0f, 1.0f).status().code(), StatusCode::kUnimplemented);
}

LinearWeights Nvfp4Layer(int64_t n, int64_t k) {
  LinearWeights w;
  w.name = "model.layers.0.self_attn.q_proj";
  w.scheme = LinearScheme::kNvfp4;
  w.out_features = n;
  w.in_features = k;
  w.codes.assign(static_cast<size_t>(n * k / 2), 0);
  w.block_scales.assign(static_cast<size_t>(n * k / 16), 0);
  return w;
}

TEST(NativeNvfp4PlanTest, SwizzlesTheHandVectorScales) {
  // NVFP4.md section 10: one row, K = 32, weight_scale = 38 7E -> a 128 x 4 tile with bytes 0 and 1 set.
  LinearWeights w = Nvfp4Layer(1, 32);
  w.block_scales = {0x38, 0x7E};
  auto swizzled = SwizzleWeightScales(w);
  ASSERT_TRUE(swizzled.ok()) << swizzled.status().ToString();
  ASSERT_EQ(swizzled->size(), 512u);
  EXPECT_EQ((*swizzled)[0], 0x38);
  EXPECT_EQ((*swizzled)[1], 0x7E);
  for (size_t i = 2; i < swizzled->size(); ++i) ASSERT_EQ((*swizzled)[i], 0) << "padding byte " << i;
}

TEST(NativeNvfp4PlanTest, SwizzlePlacesARowOfTheSecondBand) {
  // N = 130, K = 96: C = 6 scale columns (Cp = 8), Rp = 256, buffer 2048 bytes. Element (r = 129, c = 5):
  // band 1, column tile 1 -> tile index 1 * (8 / 4) + 1 = 3 -> 3 * 512; r % 32 = 1 -> + 16; (r % 128) / 32 = 0;
  // c % 4 = 1 -> offset 1536 + 16 + 1 = 1553. Element (r = 37, c = 2): tile 0, 5 * 16 + 1 * 4 + 2 = 86.
  LinearWeights w = Nvfp4Layer(130, 96);
  w.block_scales[129 * 6 + 5] = 0x41;
  w.block_scales[37 * 6 + 2] = 0x22;
  auto swizzled = SwizzleWeightScales(w);
  ASSERT_TRUE(swizzled.ok()) << swizzled.status().ToString();
  ASSERT_EQ(swizzled->size(), 2048u);
  EXPECT_EQ((*swizzled)[1553], 0x41);
  EXPECT_EQ((*swizzled)[86], 0x22);
  int nonzero = 0;
  for (uint8_t b : *swizzled) nonzero += b != 0;
  EXPECT_EQ(nonzero, 2);
}

TEST(NativeNvfp4PlanTest, SwizzleRejectsWrongLayers) {
  LinearWeights bf16 = Nvfp4Layer(16, 32);
  bf16.scheme = LinearScheme::kBf16;
  EXPECT_EQ(SwizzleWeightScales(bf16).status().code(), StatusCode::kInvalidArgument);
  LinearWeights short_scales = Nvfp4Layer(16, 32);
  short_scales.block_scales.pop_back();
  auto r = SwizzleWeightScales(short_scales);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("model.layers.0.self_attn.q_proj"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace fp4lab
