// The mixture-of-experts ops of the CPU reference (Backend::RouteTopK, Backend::Experts; engine/cpu/cpu_experts.h)
// against hand-written references: routing on hand-picked logits (ties, renormalization, per-expert scales), the
// experts op against a double-precision loop over the dequantized weights, and, for every weight scheme, against the
// composition of the backend's own Linear and GatedMul ops (same numerics, so bit for bit).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "engine/backend.h"
#include "engine/codecs.h"
#include "engine/nvfp4.h"
#include "engine_test_util.h"

namespace fp4lab {
namespace {

using testing::Get;
using testing::Normal;
using testing::Put;
using testing::PutIndices;

// The weights RouteTopK gives (the ids are checked by feeding them to Experts, below).
std::vector<float> RouteWeights(Backend& b, const std::vector<float>& logits, int64_t rows, int64_t experts, RoutingParams p) {
  auto l = Put(b, rows, experts, logits);
  auto ids = b.AllocateIndices(rows * p.top_k);
  auto w = b.Allocate(rows, p.top_k);
  EXPECT_TRUE(ids.ok() && w.ok());
  const Status s = b.RouteTopK(*l, p, **ids, **w);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return Get(b, **w);
}

TEST(RouteTopK, TiesRankTheLowerIdFirstAndRenormalizedWeightsSumToOne) {
  auto b = CreateBackend("cpu").value();
  // Row 0: experts 1 and 2 tie for the top; row 1: a strict order 3 > 0 > 2 > 1.
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, 0.0f, 2.0f, -1.0f, 0.5f, 4.0f};
  RoutingParams p;
  p.top_k = 2;
  p.renormalize = true;
  const std::vector<float> r = RouteWeights(*b, logits, 2, 4, p);
  // Equal logits give equal probabilities, so both weights are exactly p / (p + p) = 1/2.
  EXPECT_EQ(r[0], 0.5f);
  EXPECT_EQ(r[1], 0.5f);
  // Row 1 keeps experts 3 and 0: weights e^4 / (e^4 + e^2) and e^2 / (e^4 + e^2), i.e. 1 / (1 + e^-2) and its
  // complement. f32 exp and a division: a few ulp (2^-24 relative each) from the double values.
  const double hi = 1.0 / (1.0 + std::exp(-2.0));
  EXPECT_NEAR(r[2], hi, 8 * 0x1p-24);
  EXPECT_NEAR(r[3], 1.0 - hi, 8 * 0x1p-24);
}

TEST(RouteTopK, WithoutRenormalizationWeightsAreSoftmaxProbabilitiesTimesTheExpertScale) {
  auto b = CreateBackend("cpu").value();
  const std::vector<float> logits = {0.25f, -1.5f, 2.0f, 1.0f, 0.0f};
  auto scale = Put(*b, 1, 5, {1.0f, 2.0f, 3.0f, 4.0f, 5.0f});
  RoutingParams p;
  p.top_k = 3;
  p.expert_scale = scale.get();
  const std::vector<float> r = RouteWeights(*b, logits, 1, 5, p);
  double sum = 0;
  for (const float l : logits) sum += std::exp(double{l});
  // Rank order: expert 2 (2.0), 3 (1.0), 0 (0.25); scales 3, 4, 1.
  const double expected[] = {3 * std::exp(2.0) / sum, 4 * std::exp(1.0) / sum, 1 * std::exp(0.25) / sum};
  // f32: E = 5 exps and adds, one division and one multiply: well within 16 ulp of the value.
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(r[j], expected[j], 16 * 0x1p-24 * expected[j]) << j;
}

TEST(RouteTopK, TopKOutsideTheExpertsIsRefused) {
  auto b = CreateBackend("cpu").value();
  auto l = Put(*b, 1, 4, {0, 1, 2, 3});
  auto ids = b->AllocateIndices(5).value();
  auto w = b->Allocate(1, 5).value();
  RoutingParams p;
  p.top_k = 5;
  EXPECT_FALSE(b->RouteTopK(*l, p, *ids, *w).ok());
}

// --- the experts op ---

constexpr int64_t kH = 32, kI = 16;

LinearWeights Bf16Layer(const std::string& name, int64_t n, int64_t k, uint32_t seed) {
  const std::vector<float> w = Normal(static_cast<size_t>(n * k), seed, 1.0f / std::sqrt(float(k)));
  LinearWeights l;
  l.name = name;
  l.out_features = n;
  l.in_features = k;
  l.bf16.resize(w.size());
  EncodeBf16Row(w, l.bf16);
  return l;
}

// The same weights quantized to an NVFP4 scheme (global scale from the layer's own amax, as an unfused layer).
LinearWeights Nvfp4(const LinearWeights& bf16, LinearScheme scheme, float input_scale, float weight_amax) {
  auto q = QuantizeNvfp4WeightBf16(bf16.name, bf16.bf16, bf16.out_features, bf16.in_features,
                                   WeightScale2FromAmax(weight_amax));
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  LinearWeights l = bf16;
  l.bf16.clear();
  l.scheme = scheme;
  l.codes = q->packed;
  l.block_scales = q->scales;
  l.weight_scale_2 = q->weight_scale_2;
  l.input_scale = input_scale;
  return l;
}

std::vector<ExpertLinears> MakeExperts(int n, LinearScheme scheme) {
  std::vector<ExpertLinears> experts;
  for (int e = 0; e < n; ++e) {
    const std::string p = "experts." + std::to_string(e) + ".";
    ExpertLinears x{Bf16Layer(p + "gate_proj", kI, kH, 100 + 3 * e), Bf16Layer(p + "up_proj", kI, kH, 101 + 3 * e),
                    Bf16Layer(p + "down_proj", kH, kI, 102 + 3 * e)};
    if (scheme != LinearScheme::kBf16) {
      // Gate and up share one global scale (ModelOpt's fused amax); every expert gets its own, and the inputs
      // their own static scales.
      const float gate_up_amax = std::max(AmaxOfBf16(x.gate.bf16), AmaxOfBf16(x.up.bf16));
      x.gate = Nvfp4(x.gate, scheme, 3.0f / kNvfp4ScaleRange, gate_up_amax);
      x.up = Nvfp4(x.up, scheme, 3.0f / kNvfp4ScaleRange, gate_up_amax);
      x.down = Nvfp4(x.down, scheme, 0.5f / kNvfp4ScaleRange, AmaxOfBf16(x.down.bf16));
    }
    experts.push_back(std::move(x));
  }
  return experts;
}

double SiluD(double v) { return v / (1.0 + std::exp(-v)); }

// Double-precision reference over bf16 weights: out[m] = sum_j w[m, j] * down(silu(gate x) * up x). Also returns
// the same computation on absolute values (|w| |x| ...), the mass that bounds the f32 rounding error.
struct Reference {
  std::vector<double> out, mass, hidden;
};
Reference ExpertsInDouble(const std::vector<ExpertLinears>& experts, const std::vector<float>& x, int64_t rows,
                          const std::vector<int32_t>& ids, const std::vector<float>& weights, int k) {
  Reference r;
  r.out.assign(static_cast<size_t>(rows * kH), 0.0);
  r.mass.assign(r.out.size(), 0.0);
  r.hidden.assign(static_cast<size_t>(rows * k * kI), 0.0);
  const auto w = [](const LinearWeights& l, int64_t n, int64_t c) { return double{Bf16ToF32(l.bf16[n * l.in_features + c])}; };
  for (int64_t m = 0; m < rows; ++m) {
    for (int j = 0; j < k; ++j) {
      const ExpertLinears& e = experts[static_cast<size_t>(ids[m * k + j])];
      std::vector<double> h(kI), hmass(kI);
      for (int64_t i = 0; i < kI; ++i) {
        double g = 0, u = 0, gm = 0, um = 0;
        for (int64_t c = 0; c < kH; ++c) {
          g += w(e.gate, i, c) * x[m * kH + c];
          u += w(e.up, i, c) * x[m * kH + c];
          gm += std::fabs(w(e.gate, i, c) * x[m * kH + c]);
          um += std::fabs(w(e.up, i, c) * x[m * kH + c]);
        }
        h[i] = SiluD(g) * u;
        hmass[i] = (gm + 1.0) * um;  // |silu(g)| <= |g|; the +1 covers silu's own rounding
        r.hidden[(m * k + j) * kI + i] = h[i];
      }
      for (int64_t c = 0; c < kH; ++c) {
        double y = 0, ym = 0;
        for (int64_t i = 0; i < kI; ++i) {
          y += w(e.down, c, i) * h[i];
          ym += std::fabs(w(e.down, c, i)) * hmass[i];
        }
        r.out[m * kH + c] += weights[m * k + j] * y;
        r.mass[m * kH + c] += std::fabs(weights[m * k + j]) * ym;
      }
    }
  }
  return r;
}

TEST(Experts, Bf16MatchesADoublePrecisionLoopOverTheSelectedExperts) {
  auto b = CreateBackend("cpu").value();
  const int n_experts = 6, k = 2;
  const int64_t rows = 5;
  const auto experts = MakeExperts(n_experts, LinearScheme::kBf16);
  auto prepared = b->PrepareExperts(experts, "experts");
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_EQ((*prepared)->num_experts(), n_experts);
  EXPECT_EQ((*prepared)->hidden_size(), kH);
  EXPECT_EQ((*prepared)->intermediate_size(), kI);
  // Rows 0 and 3 share expert 5; row 2 lists its experts in descending id order; expert 1 is never selected.
  const std::vector<int32_t> ids = {5, 0, 2, 3, 4, 2, 5, 3, 0, 4};
  const std::vector<float> weights = {0.75f, 0.25f, 0.5f, 0.5f, 1.5f, -0.5f, 0.125f, 2.0f, 1.0f, 0.0f};
  const std::vector<float> x = Normal(rows * kH, 7);
  auto xd = Put(*b, rows, kH, x);
  auto idd = PutIndices(*b, ids);
  auto wd = Put(*b, rows, k, weights);
  auto out = b->Allocate(rows, kH).value();
  auto hidden = b->Allocate(rows * k, kI).value();
  const Status s = b->Experts(*xd, **prepared, Activation::kSilu, *idd, *wd, *out, hidden.get());
  ASSERT_TRUE(s.ok()) << s.ToString();
  const Reference ref = ExpertsInDouble(experts, x, rows, ids, weights, k);
  // Bound: f32 dot products of length K err by at most K * 2^-24 of their absolute mass (gate/up: K = H; down: K =
  // I, on inputs that carry the gate/up error and silu's few-ulp exp), plus k weighted adds: (H + I + k + 8) ulps
  // of the absolute mass covers the chain.
  const double ulps = (kH + kI + k + 8) * 0x1p-24;
  const std::vector<float> got = Get(*b, *out);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], ref.out[i], ulps * ref.mass[i] + 1e-30) << i;
  const std::vector<float> got_hidden = Get(*b, *hidden);
  for (size_t i = 0; i < got_hidden.size(); ++i) {
    EXPECT_NEAR(got_hidden[i], ref.hidden[i], ulps * (std::fabs(ref.hidden[i]) + 1.0)) << i;
  }
}

// For each scheme, the op equals issuing, per row and slot, the backend's Linear and GatedMul on that row and
// summing w * y over the slots in ascending expert id (the documented order): bit for bit, which checks that every
// expert's own scales and scheme are used and that grouping rows by expert changes nothing.
class ExpertsPerScheme : public ::testing::TestWithParam<LinearScheme> {};

TEST_P(ExpertsPerScheme, EqualsTheBackendsLinearOpsInTheDocumentedOrder) {
  auto b = CreateBackend("cpu").value();
  const int n_experts = 4, k = 3;
  const int64_t rows = 3;
  const auto experts = MakeExperts(n_experts, GetParam());
  auto prepared = b->PrepareExperts(experts, "experts").value();
  const std::vector<int32_t> ids = {3, 1, 0, 0, 2, 1, 2, 3, 1};
  const std::vector<float> weights = Normal(rows * k, 11);
  const std::vector<float> x = Normal(rows * kH, 12);
  auto out = b->Allocate(rows, kH).value();
  ASSERT_TRUE(b->Experts(*Put(*b, rows, kH, x), *prepared, Activation::kGeluTanh, *PutIndices(*b, ids),
                         *Put(*b, rows, k, weights), *out, nullptr)
                  .ok());
  std::vector<float> expected(static_cast<size_t>(rows * kH), 0.0f);
  for (int64_t m = 0; m < rows; ++m) {
    std::vector<int> order(k);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int c) { return ids[m * k + a] < ids[m * k + c]; });
    auto xm = Put(*b, 1, kH, std::vector<float>(x.begin() + m * kH, x.begin() + (m + 1) * kH));
    for (const int j : order) {
      const ExpertLinears& e = experts[static_cast<size_t>(ids[m * k + j])];
      auto gate = b->PrepareLinear(e.gate).value();
      auto up = b->PrepareLinear(e.up).value();
      auto down = b->PrepareLinear(e.down).value();
      auto g = b->Allocate(1, kI).value();
      auto u = b->Allocate(1, kI).value();
      auto y = b->Allocate(1, kH).value();
      ASSERT_TRUE(b->Linear(*xm, *gate, *g).ok());
      ASSERT_TRUE(b->Linear(*xm, *up, *u).ok());
      ASSERT_TRUE(b->GatedMul(Activation::kGeluTanh, *g, *u, *g).ok());
      ASSERT_TRUE(b->Linear(*g, *down, *y).ok());
      const std::vector<float> yv = Get(*b, *y);
      for (int64_t c = 0; c < kH; ++c) expected[m * kH + c] += weights[m * k + j] * yv[c];
    }
  }
  EXPECT_EQ(Get(*b, *out), expected);
}

INSTANTIATE_TEST_SUITE_P(Schemes, ExpertsPerScheme,
                         ::testing::Values(LinearScheme::kBf16, LinearScheme::kNvfp4W4A16, LinearScheme::kNvfp4),
                         [](const auto& info) {
                           std::string name = LinearSchemeName(info.param);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(Experts, RoutedIdsFeedTheExpertsOpAndTheTopExpertAloneIsItsOwnMlp) {
  // RouteTopK's ids go straight into Experts: with k = 1 and renormalization every weight is exactly 1, so each row
  // is the gated MLP of the expert of its largest logit.
  auto b = CreateBackend("cpu").value();
  const auto experts = MakeExperts(3, LinearScheme::kBf16);
  auto prepared = b->PrepareExperts(experts, "experts").value();
  auto logits = Put(*b, 2, 3, {0.0f, 2.0f, 1.0f, 5.0f, -1.0f, 5.0f});  // row 1: a tie, expert 0 wins
  auto ids = b->AllocateIndices(2).value();
  auto w = b->Allocate(2, 1).value();
  RoutingParams p;
  p.top_k = 1;
  p.renormalize = true;
  ASSERT_TRUE(b->RouteTopK(*logits, p, *ids, *w).ok());
  EXPECT_EQ(Get(*b, *w), (std::vector<float>{1.0f, 1.0f}));
  const std::vector<float> x = Normal(2 * kH, 3);
  auto out = b->Allocate(2, kH).value();
  ASSERT_TRUE(b->Experts(*Put(*b, 2, kH, x), *prepared, Activation::kSilu, *ids, *w, *out, nullptr).ok());
  auto alone = b->Allocate(2, kH).value();
  ASSERT_TRUE(b->Experts(*Put(*b, 2, kH, x), *prepared, Activation::kSilu, *PutIndices(*b, {1, 0}),
                         *Put(*b, 2, 1, {1.0f, 1.0f}), *alone, nullptr)
                  .ok());
  EXPECT_EQ(Get(*b, *out), Get(*b, *alone));
}

TEST(Experts, BadIdsAndMismatchedExpertsAreRefused) {
  auto b = CreateBackend("cpu").value();
  auto experts = MakeExperts(2, LinearScheme::kBf16);
  auto prepared = b->PrepareExperts(experts, "experts").value();
  auto x = Put(*b, 1, kH, Normal(kH, 1));
  auto w = Put(*b, 1, 2, {0.5f, 0.5f});
  auto out = b->Allocate(1, kH).value();
  EXPECT_EQ(b->Experts(*x, *prepared, Activation::kSilu, *PutIndices(*b, {0, 2}), *w, *out, nullptr).code(),
            StatusCode::kInternal);
  EXPECT_EQ(b->Experts(*x, *prepared, Activation::kSilu, *PutIndices(*b, {1, 1}), *w, *out, nullptr).code(),
            StatusCode::kInternal);
  experts[1].down = Bf16Layer("experts.1.down_proj", kH, kI + 16, 9);
  auto refused = b->PrepareExperts(experts, "experts");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("experts.1.down_proj"), std::string::npos) << refused.status().ToString();
}

}  // namespace
}  // namespace fp4lab
