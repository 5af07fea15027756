// Every non-GEMM op of the CUDA backend against the CPU reference backend on seeded random inputs. Ops whose
// device code repeats the reference's f32 operations one for one are compared bit for bit (Upload/Download, Embed,
// Rope, WriteKv, AddInPlace); the others with a bound derived next to each test from f32 rounding and the reduction
// length; the fused AddRmsNorm bit for bit against AddInPlace + RmsNorm on the device. Shape errors come back as
// Status, never a crash.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <iostream>
#include <vector>

#include <gtest/gtest.h>

#include "engine/codecs.h"
#ifdef FP4LAB_WITH_CUDA
#include "engine/cuda/attention_plan.h"
#endif
#include "engine/fp8.h"
#include "engine/arch/rope.h"
#include "engine/nvfp4.h"
#include "gpu_test_util.h"

namespace fp4lab {
namespace {

using gpu_testing::Bits;
using gpu_testing::Get;
using gpu_testing::kF32Unit;
using gpu_testing::Normal;
using gpu_testing::Put;
using gpu_testing::PutIndices;

class CudaOpsTest : public gpu_testing::CpuAndGpuTest {
 protected:
  // Runs `op` on both backends with tensors made from `inputs` (rows, cols, values) and returns the tensors' final
  // contents per backend: {cpu tensors..., } and {gpu tensors...}.
  template <typename Op>
  std::pair<std::vector<std::vector<float>>, std::vector<std::vector<float>>> RunBoth(
      const std::vector<std::tuple<int64_t, int64_t, std::vector<float>>>& inputs, Op op) {
    std::vector<std::vector<float>> results[2];
    Backend* backends[2] = {cpu_.get(), gpu_.get()};
    for (int b = 0; b < 2; ++b) {
      std::vector<std::unique_ptr<DeviceTensor>> tensors;
      for (const auto& [rows, cols, values] : inputs) tensors.push_back(Put(*backends[b], rows, cols, values));
      const Status s = op(*backends[b], tensors);
      EXPECT_TRUE(s.ok()) << backends[b]->Name() << ": " << s.ToString();
      for (const auto& t : tensors) results[b].push_back(Get(*backends[b], *t));
    }
    return {results[0], results[1]};
  }
};

void ExpectBitIdentical(const std::vector<float>& cpu, const std::vector<float>& gpu, const std::string& what) {
  ASSERT_EQ(cpu.size(), gpu.size()) << what;
  int64_t diffs = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (Bits(cpu[i]) != Bits(gpu[i]) && ++diffs <= 5) {
      ADD_FAILURE() << what << " [" << i << "]: cpu " << cpu[i] << " gpu " << gpu[i];
    }
  }
  EXPECT_EQ(diffs, 0) << what << ": of " << cpu.size() << " values";
}

// |gpu - cpu| <= bound[i] for every i; reports the largest ratio.
void ExpectWithin(const std::vector<float>& cpu, const std::vector<float>& gpu, const std::vector<double>& bound,
                  const std::string& what) {
  ASSERT_EQ(cpu.size(), gpu.size()) << what;
  double worst = 0.0;
  int64_t failures = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double err = std::fabs(double{gpu[i]} - cpu[i]);
    worst = std::max(worst, bound[i] > 0 ? err / bound[i] : (err > 0 ? INFINITY : 0.0));
    if (!(err <= bound[i]) && ++failures <= 5) {
      ADD_FAILURE() << what << " [" << i << "]: cpu " << cpu[i] << " gpu " << gpu[i] << " |err| " << err
                    << " > bound " << bound[i];
    }
  }
  EXPECT_EQ(failures, 0) << what;
  std::cout << "[" << what << "] " << cpu.size() << " values, max |err| / bound = " << worst << "\n";
}

TEST_F(CudaOpsTest, UploadDownloadRoundTripsBits) {
  std::vector<float> v = Normal(1000, 1);
  v[0] = -0.0f;
  v[1] = INFINITY;
  v[2] = 1e-40f;  // subnormal
  auto t = Put(*gpu_, 10, 100, v);
  ASSERT_NE(t, nullptr);
  ExpectBitIdentical(v, Get(*gpu_, *t), "round trip");
  // Allocate zero-fills.
  auto zero = gpu_->Allocate(3, 7);
  ASSERT_TRUE(zero.ok());
  ExpectBitIdentical(std::vector<float>(21, 0.0f), Get(*gpu_, **zero), "Allocate");
}

LinearWeights EmbeddingTable(LinearScheme scheme, int64_t vocab, int64_t dim) {
  const std::vector<float> w = Normal(static_cast<size_t>(vocab * dim), 2, 0.5f);
  LinearWeights t;
  t.name = "model.embed_tokens";
  t.out_features = vocab;
  t.in_features = dim;
  t.scheme = scheme;
  if (scheme == LinearScheme::kBf16) {
    t.bf16.resize(w.size());
    EncodeBf16Row(w, t.bf16);
  } else if (scheme == LinearScheme::kFp8) {
    t.fp8_weight_scale = Fp8ScaleFromAmax(AmaxOf(w));
    t.fp8 = *QuantizeFp8Weight(t.name, w, t.fp8_weight_scale);
  } else {
    auto q = QuantizeNvfp4Weight(t.name, w, vocab, dim, WeightScale2FromAmax(AmaxOf(w)) * 1.37f);
    t.codes = q->packed;
    t.block_scales = q->scales;
    t.weight_scale_2 = q->weight_scale_2;
  }
  return t;
}

TEST_F(CudaOpsTest, EmbedIsBitIdenticalForEveryTableFormat) {
  const std::vector<int32_t> tokens = {0, 96, 5, 5, 17, 42, 3, 88, 61, 0, 12};
  for (LinearScheme scheme : {LinearScheme::kBf16, LinearScheme::kNvfp4, LinearScheme::kFp8}) {
    const LinearWeights table = EmbeddingTable(scheme, 97, 64);
    std::vector<float> out[2];
    Backend* backends[2] = {cpu_.get(), gpu_.get()};
    for (int b = 0; b < 2; ++b) {
      auto lin = backends[b]->PrepareLinear(table);
      ASSERT_TRUE(lin.ok()) << lin.status().ToString();
      auto t = backends[b]->Allocate(static_cast<int64_t>(tokens.size()), 64);
      ASSERT_TRUE(t.ok());
      ASSERT_TRUE(backends[b]->Embed(**lin, *PutIndices(*backends[b], tokens), **t).ok());
      out[b] = Get(*backends[b], **t);
    }
    ExpectBitIdentical(out[0], out[1], std::string("Embed ") + LinearSchemeName(scheme));
  }
}

// RmsNorm tolerance. Both sides form s = sum x_i^2 in f32 (the CPU left to right, the GPU as a tree): each within
// group * u of the exact sum, so they differ by at most 2 * group * u relatively. m = s / group + eps adds one
// division and one addition per side (2u each, eps > 0 cannot amplify), sqrt halves the relative difference and
// rounds (u per side), the reciprocal rounds (u per side): inv differs by at most (group + 6) u. The two
// multiplications of the output round once more per side: |y_gpu - y_cpu| <= (group + 10) u |y| to first order;
// (group + 16) u |y| leaves room for the second-order terms.
std::vector<double> RmsNormBound(const std::vector<float>& y, int64_t group) {
  std::vector<double> bound(y.size());
  for (size_t i = 0; i < y.size(); ++i) bound[i] = (group + 16) * kF32Unit * std::fabs(y[i]) + FLT_MIN;
  return bound;
}

TEST_F(CudaOpsTest, RmsNormWithinDerivedBound) {
  struct Case {
    int64_t rows, group, width;
    float offset;
  };
  for (const Case& c : {Case{7, 64, 64, 0.0f}, Case{5, 8, 64, 1.0f}, Case{3, 4096, 4096, 0.0f}}) {
    const std::vector<float> x = Normal(static_cast<size_t>(c.rows * c.width), 3, 2.0f);
    const std::vector<float> w = Normal(static_cast<size_t>(c.group), 4);
    // out aliases x, as the Llama forward does for q/k norms.
    auto [cpu, gpu] = RunBoth({{c.rows, c.width, x}, {1, c.group, w}}, [&](Backend& b, auto& t) {
      return b.RmsNorm(*t[0], *t[1], c.group, 1e-5f, c.offset, *t[0]);
    });
    ExpectWithin(cpu[0], gpu[0], RmsNormBound(cpu[0], c.group), "RmsNorm group " + std::to_string(c.group));
  }
}

// The scale-free form runs the same sum, reciprocal and first multiplication as RmsNorm and skips the weight, so
// the RmsNorm bound holds (it has one rounding to spare). Checked on groups of a head (v_norm) and of a hidden row
// (the router's norm), out separate from x and aliasing it.
TEST_F(CudaOpsTest, UnscaledRmsNormWithinDerivedBound) {
  struct Case {
    int64_t rows, group, width;
  };
  for (const Case& c : {Case{7, 64, 128}, Case{5, 512, 1024}, Case{3, 2816, 2816}}) {
    const std::vector<float> x = Normal(static_cast<size_t>(c.rows * c.width), 5, 2.0f);
    for (const bool in_place : {false, true}) {
      auto [cpu, gpu] = RunBoth({{c.rows, c.width, x}, {c.rows, c.width, std::vector<float>(x.size())}},
                                [&](Backend& b, auto& t) {
                                  return b.UnscaledRmsNorm(*t[0], c.group, 1e-6f, in_place ? *t[0] : *t[1]);
                                });
      const int result = in_place ? 0 : 1;
      ExpectWithin(cpu[result], gpu[result], RmsNormBound(cpu[result], c.group),
                   "UnscaledRmsNorm group " + std::to_string(c.group));
    }
  }
}

TEST_F(CudaOpsTest, RopeIsBitIdentical) {
  for (const auto& shape : std::vector<std::pair<int, int>>{{4, 64}, {8, 8}, {2, 128}}) {
    const int heads = shape.first, head_dim = shape.second;  // not a binding: clang 14 cannot capture one
    const std::vector<int32_t> positions = {0, 1, 17, 511, 4095, 100000};
    std::vector<float> inv_freq(head_dim / 2);
    for (int i = 0; i < head_dim / 2; ++i) {
      inv_freq[i] = 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / static_cast<float>(head_dim));
    }
    const int64_t rows = static_cast<int64_t>(positions.size());
    const std::vector<float> x = Normal(static_cast<size_t>(rows * heads * head_dim), 5);
    const int64_t table_rows = positions.back() + 1;
    auto [cpu, gpu] = RunBoth({{rows, int64_t{heads} * head_dim, x},
                               {table_rows, head_dim, RopeTable(inv_freq, table_rows)}},
                              [&](Backend& b, auto& t) {
                                return b.Rope(*t[0], heads, head_dim, *t[1], *PutIndices(b, positions));
                              });
    ExpectBitIdentical(cpu[0], gpu[0], "Rope head_dim " + std::to_string(head_dim));
  }
}

TEST_F(CudaOpsTest, RopeAndStoreKvIsBitIdentical) {
  constexpr int kHeads = 8, kKvHeads = 2, kHeadDim = 64;
  constexpr int64_t kQ = kHeads * kHeadDim, kKv = kKvHeads * kHeadDim, kCacheRows = 40;
  std::vector<float> inv_freq(kHeadDim / 2);
  for (int i = 0; i < kHeadDim / 2; ++i) inv_freq[i] = std::pow(500000.0f, -2.0f * i / kHeadDim);
  // Three rows of a batched decode: positions in their sequences, rows in the cache.
  const std::vector<int32_t> positions = {0, 13, 7}, cache_rows = {0, 23, 37};
  const std::vector<float> zeros(static_cast<size_t>(kCacheRows * kKv), 0.0f);
  auto [cpu, gpu] = RunBoth({{3, kQ + 2 * kKv, Normal(3 * (kQ + 2 * kKv), 11)},
                             {20, kHeadDim, RopeTable(inv_freq, 20)},
                             {3, kQ, std::vector<float>(3 * kQ, 0.0f)},
                             {kCacheRows, kKv, zeros},
                             {kCacheRows, kKv, zeros}},
                            [&](Backend& b, auto& t) {
                              auto pos = PutIndices(b, positions), dst = PutIndices(b, cache_rows);
                              return b.RopeAndStoreKv(*t[0], kHeads, kKvHeads, kHeadDim, *t[1],
                                                      {pos.get(), dst.get(), false}, *t[2], *t[3], *t[4]);
                            });
  ExpectBitIdentical(cpu[2], gpu[2], "RopeAndStoreKv q");
  ExpectBitIdentical(cpu[3], gpu[3], "RopeAndStoreKv k cache");
  ExpectBitIdentical(cpu[4], gpu[4], "RopeAndStoreKv v cache");
}

// Attention tolerance, per (query i, head h), from the CPU's two-pass softmax vs the GPU's online softmax (first
// order in the unit roundoff u; the n keys t of the query, m = max_t s_t):
//  - scores s_t = scale * q.k_t: each side's dot product is within D u sum_d |q_d k_td| of the exact one (any
//    summation order, fused or not), and the scale multiplication adds u |s_t|: the sides differ by
//    delta_t <= 2 (D + 1) u scale sum_d |q_d k_td|;
//  - the weight exp(s_t - m): the CPU subtracts once; the GPU multiplies expf of rounded differences
//    (s_t - m_1), (m_1 - m_2), ..., (m_k - m) of its running maxima (a stream's, a block's, the chunks'), all <= 0
//    and telescoping to s_t - m, so on either side the subtractions move the exponent by at most u |s_t - m|;
//  - expf is within 1 ulp (glibc, <= 2u) or 2 ulp (CUDA, <= 4u); the GPU evaluates one expf per key and one per
//    rescaling of the key's contribution: the prefill kernel rescales it once per later tile of 32 keys, the decode
//    kernel once per later step of its stream (a step covers at least 4 keys), once when a block merges its streams
//    and once when the chunks merge, so r = ceil(n / 4) + 1 rescalings bound either kernel.
// Errors that scale a key's weight in numerator and denominator alike (scores, subtractions, expf) perturb its
// unnormalised weight by a relative d_t <= D' + (2 + 4 + 4 r) u with D' = max_t (delta_t + 2u |s_t - m|), which
// moves the normalised weight w_t by at most expm1(2 max_t d_t) relatively, and out_d = sum_t w_t v_td by that
// times max_t |v_td|. Errors in only one of them move out_d by their relative size times max_t |v_td|: on the CPU
// the sum of n weights (n u), the division per weight (u), the products w_t v_td (u) and their sum (n u); on the
// GPU the rescaling multiplications of the running output and of the running sum (r u each), the two sums of n
// terms (n u each: merging streams and chunks adds no more roundings per term than keys), and the final division
// (u). So
//   bound = (expm1(2 (D' + (6 + 4 r) u)) + (3 + 2 r + 4 n) u) * max_t,d |v_td|.
// With soft-capping, s_t = c tanh(x_t / c) has slope at most 1, so the scaled dot's error carries over unchanged,
// and the division, tanh (1 ulp glibc + 2 ulp CUDA) and multiplication add at most 6u |s_t| per side: delta_t gains
// 12u |s_t|. A sliding window only changes which n keys a query sees (n = min(position + 1, window)).
std::vector<double> AttentionBound(const std::vector<float>& q, const std::vector<float>& k_cache,
                                   const std::vector<float>& v_cache, const std::vector<int32_t>& positions,
                                   const std::vector<int32_t>& cache_rows, int heads, int kv_heads, int head_dim,
                                   float scale, int window, float softcap, bool causal = true) {
  const int64_t q_dim = int64_t{heads} * head_dim, kv_dim = int64_t{kv_heads} * head_dim;
  const int64_t rows = static_cast<int64_t>(positions.size());
  const double u = kF32Unit;
  std::vector<double> bound(static_cast<size_t>(rows * q_dim));
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t behind = window > 0 ? std::min<int64_t>(positions[i] + 1, window) : positions[i] + 1;
    const int64_t n = behind + (causal ? 0 : positions.back() - positions[i]);  // non-causal: through the last row
    const int64_t first = cache_rows[i] - behind + 1;
    const int64_t r = (n + 3) / 4 + 1;  // rescalings of a key's contribution, at most (see above)
    for (int h = 0; h < heads; ++h) {
      const int64_t kv_off = int64_t{h / (heads / kv_heads)} * head_dim;
      std::vector<double> s(static_cast<size_t>(n)), abs_dot(static_cast<size_t>(n));
      double m = -INFINITY, v_max = 0.0;
      for (int64_t t = 0; t < n; ++t) {
        double dot = 0.0, abs = 0.0;
        for (int d = 0; d < head_dim; ++d) {
          const double p = double{q[i * q_dim + h * head_dim + d]} * k_cache[(first + t) * kv_dim + kv_off + d];
          dot += p;
          abs += std::fabs(p);
          v_max = std::max(v_max, std::fabs(double{v_cache[(first + t) * kv_dim + kv_off + d]}));
        }
        s[t] = softcap > 0.0f ? softcap * std::tanh(dot * scale / softcap) : dot * scale;
        abs_dot[t] = abs * scale;
        m = std::max(m, s[t]);
      }
      double d_max = 0.0;
      for (int64_t t = 0; t < n; ++t) {
        const double capping = softcap > 0.0f ? 12.0 * u * std::fabs(s[t]) : 0.0;
        d_max = std::max(d_max, 2.0 * (head_dim + 1) * u * abs_dot[t] + 2.0 * u * std::fabs(s[t] - m) + capping);
      }
      const double eps = std::expm1(2.0 * (d_max + (6.0 + 4.0 * r) * u)) + (3.0 + 2.0 * r + 4.0 * n) * u;
      for (int d = 0; d < head_dim; ++d) bound[i * q_dim + h * head_dim + d] = eps * v_max;
    }
  }
  return bound;
}

// One attention case: `sequences` sequences of `capacity` rows in one cache; sequence s already holds cached[s]
// rows and gets queries[s] new query rows (prefill when one sequence gets many, batched decode when each gets one).
struct AttentionCase {
  int heads, kv_heads, head_dim;
  int64_t capacity;
  std::vector<int64_t> cached, queries;
  int window = 0;         // AttentionParams::window
  float softcap = 0.0f;   // AttentionParams::softcap
  bool causal = true;     // AttentionParams::causal (false: one sequence only)
};

// Runs attention cases on both backends and checks the GPU's output within AttentionBound.
class CudaAttentionTest : public CudaOpsTest {
 protected:
  void ExpectWithinBound(const AttentionCase& c) {
    const int64_t sequences = static_cast<int64_t>(c.cached.size());
    const int64_t q_dim = int64_t{c.heads} * c.head_dim, kv_dim = int64_t{c.kv_heads} * c.head_dim;
    const int64_t cache_rows_total = sequences * c.capacity;
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    // Rows already cached (written first), then the new rows with their queries; placement per RowPlacement.
    std::vector<int32_t> old_rows, positions, new_rows;
    for (int64_t s = 0; s < sequences; ++s) {
      for (int64_t p = 0; p < c.cached[s]; ++p) old_rows.push_back(static_cast<int32_t>(s * c.capacity + p));
      for (int64_t p = c.cached[s]; p < c.cached[s] + c.queries[s]; ++p) {
        positions.push_back(static_cast<int32_t>(p));
        new_rows.push_back(static_cast<int32_t>(s * c.capacity + p));
      }
    }
    const int64_t n_old = static_cast<int64_t>(old_rows.size()), rows = static_cast<int64_t>(new_rows.size());
    const bool one_sequence = std::count_if(c.queries.begin(), c.queries.end(), [](int64_t q) { return q > 0; }) == 1;
    const std::vector<float> q = Normal(static_cast<size_t>(rows * q_dim), 6, 1.5f);
    const std::vector<float> k_old = Normal(static_cast<size_t>(n_old * kv_dim), 7, 1.5f);
    const std::vector<float> v_old = Normal(static_cast<size_t>(n_old * kv_dim), 8);
    const std::vector<float> k_new = Normal(static_cast<size_t>(rows * kv_dim), 9, 1.5f);
    const std::vector<float> v_new = Normal(static_cast<size_t>(rows * kv_dim), 10);
    const std::vector<float> empty_cache(static_cast<size_t>(cache_rows_total * kv_dim), 0.0f);
    std::vector<int32_t> old_positions(old_rows.size());  // WriteKv reads only the cache rows
    // Tensors: 0 q, 1 k cache, 2 v cache, 3 out, 4/5 k/v rows already cached, 6/7 k/v rows of the new queries.
    auto [cpu, gpu] = RunBoth(
        {{rows, q_dim, q},
         {cache_rows_total, kv_dim, empty_cache},
         {cache_rows_total, kv_dim, empty_cache},
         {rows, q_dim, std::vector<float>(static_cast<size_t>(rows * q_dim), NAN)},
         {n_old, kv_dim, k_old},
         {n_old, kv_dim, v_old},
         {rows, kv_dim, k_new},
         {rows, kv_dim, v_new}},
        [&](Backend& b, auto& t) -> Status {
          auto old_pos = PutIndices(b, old_positions), old_dst = PutIndices(b, old_rows);
          auto pos = PutIndices(b, positions), dst = PutIndices(b, new_rows);
          if (n_old > 0) FP4LAB_RETURN_IF_ERROR(b.WriteKv(*t[4], *t[5], {old_pos.get(), old_dst.get()}, *t[1], *t[2]));
          const RowPlacement placement{pos.get(), dst.get(), one_sequence};
          FP4LAB_RETURN_IF_ERROR(b.WriteKv(*t[6], *t[7], placement, *t[1], *t[2]));
          return b.Attention(*t[0], *t[1], *t[2], placement,
                             {c.heads, c.kv_heads, c.head_dim, scale, c.window, c.softcap, c.causal}, *t[3]);
        });
    // WriteKv is a copy: the caches agree bit for bit.
    ExpectBitIdentical(cpu[1], gpu[1], "k cache");
    ExpectBitIdentical(cpu[2], gpu[2], "v cache");
    ExpectWithin(cpu[3], gpu[3],
                 AttentionBound(q, cpu[1], cpu[2], positions, new_rows, c.heads, c.kv_heads, c.head_dim, scale,
                                c.window, c.softcap, c.causal),
                 "Attention heads " + std::to_string(c.heads) + "/" + std::to_string(c.kv_heads) + " D " +
                     std::to_string(c.head_dim) + " sequences " + std::to_string(sequences) + " query rows " +
                     std::to_string(rows) + " window " + std::to_string(c.window) + " softcap " +
                     std::to_string(c.softcap) + (c.causal ? "" : " non-causal"));
  }
};

TEST_F(CudaAttentionTest, PrefillAndDecodeWithinDerivedBound) {
  // GQA prefill of 37 rows (tiled kernel, a partial query tile); GQA decode over 301 keys; MHA prefill of 130 rows
  // at head_dim 128 (tiled); a short continuation at head_dim 8 (decode kernel); a continuation of the second
  // sequence of a cache (tiled, first key row 80, positions from 20); a batched decode of 3 sequences of different
  // lengths (one of them empty before); 150 prefill rows at head_dim 80 (decode kernel, no tiled form); two
  // sequences with several query rows each (decode kernel).
  const std::vector<AttentionCase> cases = {
      {8, 2, 64, 40, {0}, {37}},     {8, 2, 64, 304, {300}, {1}},      {4, 4, 128, 133, {0}, {130}},
      {8, 4, 8, 17, {5}, {9}},       {8, 2, 64, 80, {7, 20}, {0, 50}}, {8, 2, 64, 200, {5, 130, 0}, {1, 1, 1}},
      {8, 2, 80, 200, {0}, {150}},   {8, 2, 64, 100, {10, 40}, {5, 7}},
  };
  for (const AttentionCase& c : cases) ExpectWithinBound(c);
}

// The split-K decode kernel where its keys split into several chunks: one query per sequence, the longest at an
// odd key count (chunks are multiples of an even step, so its last chunk is partial), another at position 0 (one
// chunk) where there are several. GQA groups (head dims) 1 (64), 2 (130, 256, 290, 1024), 3 (6), 4 (64, 128, 512),
// 8 (80, 128): every row tier of the kernel (float4 rows of 8, 16 and 32 lanes, 1 to 8 vectors each; scalar rows
// at head_dims 6, 130 and 290), and a group served by two head blocks at 80, 128 (8 heads), 512 (4) and 1024 (2).
TEST_F(CudaAttentionTest, SplitKeyDecodeWithinDerivedBound) {
  const std::vector<AttentionCase> cases = {
      {32, 8, 128, 1600, {1500, 700, 0}, {1, 1, 1}}, {8, 8, 64, 1536, {1400, 0}, {1, 1}},
      {32, 4, 128, 1536, {1450, 3}, {1, 1}},         {16, 2, 80, 1536, {1200, 0, 516}, {1, 1, 1}},
      {16, 4, 64, 1024, {998, 31}, {1, 1}},          {6, 2, 6, 600, {554, 0}, {1, 1}},
      {4, 2, 130, 400, {332, 0}, {1, 1}},            {2, 1, 290, 200, {150}, {1}},
      {4, 2, 256, 700, {650}, {1}},                  {4, 1, 512, 300, {280}, {1}},
      {2, 1, 1024, 300, {290}, {1}},
  };
  const int sm_count = gpu_->Facts().value("sm_count", 0);
  ASSERT_GT(sm_count, 0);
  for (const AttentionCase& c : cases) {
    const int64_t sequences = static_cast<int64_t>(c.cached.size());
    const int64_t longest = *std::max_element(c.cached.begin(), c.cached.end()) + 1;  // keys of the longest query
#ifdef FP4LAB_WITH_CUDA
    const cuda::AttentionPlan plan =
        cuda::PlanAttention({sequences, c.heads, c.kv_heads, c.head_dim, sequences * c.capacity, false}, sm_count);
    ASSERT_FALSE(plan.prefill);
    const int64_t chunk = cuda::DecodeChunkKeys(longest, plan.splits, cuda::DecodeStepKeys(plan.tier));
    EXPECT_GE((longest + chunk - 1) / chunk, 2) << "splits " << plan.splits << " chunk " << chunk;
    EXPECT_NE(longest % chunk, 0) << "chunk " << chunk;
#endif
    ExpectWithinBound(c);
  }
}

// Gemma's sliding window and score soft-capping: a window shorter than a prefill tile (8 keys, so rows of one tile
// start in different tiles and some rows see none of the first tile), a window longer than a tile (40), a window
// on batched decode and on split-key decode, soft-capping alone and with a window.
TEST_F(CudaAttentionTest, SlidingWindowAndSoftCapWithinDerivedBound) {
  const std::vector<AttentionCase> cases = {
      {8, 2, 64, 80, {0}, {70}, 8, 0.0f},          {4, 4, 128, 140, {0}, {130}, 40, 0.0f},
      {8, 2, 64, 200, {5, 130, 0}, {1, 1, 1}, 8, 0.0f}, {32, 8, 128, 1600, {1500, 700}, {1, 1}, 1024, 0.0f},
      {8, 2, 64, 80, {0}, {70}, 0, 50.0f},         {8, 2, 64, 200, {5, 130, 0}, {1, 1, 1}, 16, 5.0f},
      {4, 2, 32, 60, {0}, {40}, 8, 50.0f},
  };
  for (const AttentionCase& c : cases) ExpectWithinBound(c);
}

// Non-causal passes (a diffusion canvas over a cached prompt): the tiled prefill kernel (head_dim 64 and 128, a
// partial query tile), the decode kernel (head_dim 80, and Gemma 4's 512 with split keys), with a sliding window
// bounding the earlier keys, and a canvas with nothing cached before it.
TEST_F(CudaAttentionTest, NonCausalWithinDerivedBound) {
  const std::vector<AttentionCase> cases = {
      {8, 2, 64, 120, {20}, {37}, 0, 0.0f, false},  {4, 4, 128, 200, {100}, {40}, 0, 50.0f, false},
      {4, 2, 80, 60, {30}, {5}, 0, 0.0f, false},    {8, 2, 512, 80, {10}, {20}, 8, 0.0f, false},
      {8, 2, 64, 64, {0}, {48}, 16, 0.0f, false},
  };
  for (const AttentionCase& c : cases) ExpectWithinBound(c);
}

// GatedMul (SiLU) tolerance: y = g / (1 + exp(-g)) * up. exp differs by at most 1 ulp (glibc) + 2 ulp (CUDA) = 6u
// relatively; 1 + e shrinks a relative error of e (e / (1 + e) <= 1); the addition, division and multiplication
// round once per side (6u): |y_gpu - y_cpu| <= 12u |y| to first order, bounded by 16u |y|.
TEST_F(CudaOpsTest, SiluGatedMulWithinDerivedBoundAndAddInPlaceBitIdentical) {
  const std::vector<float> gate = Normal(3000, 9, 4.0f), up = Normal(3000, 10);
  auto [cpu, gpu] = RunBoth({{3, 1000, gate}, {3, 1000, up}},
                            [&](Backend& b, auto& t) { return b.GatedMul(Activation::kSilu, *t[0], *t[1], *t[0]); });
  std::vector<double> bound(cpu[0].size());
  for (size_t i = 0; i < bound.size(); ++i) bound[i] = 16 * kF32Unit * std::fabs(cpu[0][i]) + FLT_MIN;
  ExpectWithin(cpu[0], gpu[0], bound, "SiluMul");

  // The fused gate|up form: the same per-element operations, so the same bound.
  auto [cpu_halves, gpu_halves] = RunBoth({{3, 2000, Normal(6000, 12, 4.0f)}, {3, 1000, std::vector<float>(3000)}},
                                          [&](Backend& b, auto& t) {
                                            return b.GatedMulHalves(Activation::kSilu, *t[0], *t[1]);
                                          });
  std::vector<double> halves_bound(cpu_halves[1].size());
  for (size_t i = 0; i < halves_bound.size(); ++i) {
    halves_bound[i] = 16 * kF32Unit * std::fabs(cpu_halves[1][i]) + FLT_MIN;
  }
  ExpectWithin(cpu_halves[1], gpu_halves[1], halves_bound, "SiluMulHalves");

  auto [cpu_sum, gpu_sum] = RunBoth({{3, 1000, gate}, {3, 1000, up}},
                                    [&](Backend& b, auto& t) { return b.AddInPlace(*t[0], *t[1]); });
  ExpectBitIdentical(cpu_sum[0], gpu_sum[0], "AddInPlace");
}

// GELU-tanh GatedMul: y = 0.5 g (1 + tanh(a)) * up with a = sqrt(2/pi) (g + 0.044715 g^3) computed by the same
// operations on both sides (no contraction on either), so a is identical; tanh differs by at most 1 ulp (glibc) +
// 2 ulp (CUDA) <= 6u |tanh a| <= 6u absolutely, which moves y by at most 0.5 |g up| 6u = 3u |g up|; the remaining
// addition and three multiplications round once per side on slightly different values: 8u |y| more, bounded by
// 16u |y| with the first-order slack. Bound: 3u |g up| + 16u |y|.
TEST_F(CudaOpsTest, GeluTanhGatedMulWithinDerivedBound) {
  const std::vector<float> gate = Normal(3000, 21, 4.0f), up = Normal(3000, 22);
  auto [cpu, gpu] = RunBoth({{3, 1000, gate}, {3, 1000, up}}, [&](Backend& b, auto& t) {
    return b.GatedMul(Activation::kGeluTanh, *t[0], *t[1], *t[0]);
  });
  std::vector<double> bound(cpu[0].size());
  for (size_t i = 0; i < bound.size(); ++i) {
    bound[i] = 3 * kF32Unit * std::fabs(double{gate[i]} * up[i]) + 16 * kF32Unit * std::fabs(cpu[0][i]) + FLT_MIN;
  }
  ExpectWithin(cpu[0], gpu[0], bound, "GeluTanhMul");
  std::vector<float> gate_up(6000);
  for (int r = 0; r < 3; ++r) {
    std::copy_n(gate.begin() + r * 1000, 1000, gate_up.begin() + r * 2000);
    std::copy_n(up.begin() + r * 1000, 1000, gate_up.begin() + r * 2000 + 1000);
  }
  auto [cpu_halves, gpu_halves] =
      RunBoth({{3, 2000, gate_up}, {3, 1000, std::vector<float>(3000)}},
              [&](Backend& b, auto& t) { return b.GatedMulHalves(Activation::kGeluTanh, *t[0], *t[1]); });
  ExpectWithin(cpu_halves[1], gpu_halves[1], bound, "GeluTanhMulHalves");
}

// Scale is one multiplication per element: bit-identical. SoftCap: x / cap rounds identically on both sides, tanh
// differs by at most 3 ulp <= 6u |tanh|, and the multiplication by cap rounds once per side: 8u |y|.
TEST_F(CudaOpsTest, ScaleBitIdenticalAndSoftCapWithinDerivedBound) {
  const std::vector<float> x = Normal(4000, 23, 40.0f);
  auto [cpu, gpu] = RunBoth({{4, 1000, x}}, [&](Backend& b, auto& t) { return b.Scale(*t[0], 11.3137085f); });
  ExpectBitIdentical(cpu[0], gpu[0], "Scale");
  auto [cpu_cap, gpu_cap] = RunBoth({{4, 1000, x}}, [&](Backend& b, auto& t) { return b.SoftCap(*t[0], 30.0f); });
  std::vector<double> bound(x.size());
  for (size_t i = 0; i < bound.size(); ++i) bound[i] = 8 * kF32Unit * std::fabs(cpu_cap[0][i]) + FLT_MIN;
  ExpectWithin(cpu_cap[0], gpu_cap[0], bound, "SoftCap");
}

// ScoreTokens: the argmax (first index of the maximum) is exact on both sides, so is_greedy is identical; a row with
// a tie puts the maximum at two indices. ln p = x_t - (m + log S) in double (u = 2^-53): S = sum of V terms
// exp(x - m) <= 1 each, within (2u (exp: 1 ulp per side) + V u (left-to-right sum)) relatively on the CPU and
// (2u + V u) on the GPU (tree sum), so log S moves by at most (4 + 2V) u absolutely; log, the addition of m and the
// final subtraction round once per side on values at most |m| + |log S| + |ln p|: 6u times that more. Requests
// repeat a row (several targets of one row) and skip rows.
TEST_F(CudaOpsTest, ScoreTokensWithinDerivedBoundAndGreedyFlagsEqual) {
  constexpr int64_t kRows = 5, kVocab = 3001;
  std::vector<float> logits = Normal(kRows * kVocab, 24, 3.0f);
  logits[2 * kVocab + 17] = logits[2 * kVocab + 2999] = 50.0f;  // row 2: a tie, first index 17
  const std::vector<int32_t> rows = {0, 1, 2, 2, 4, 4};
  const std::vector<int32_t> targets = {0, 100, 17, 2999, 3000, 5};
  const int64_t n = static_cast<int64_t>(rows.size());
  std::vector<DecodedScore> scores[2];
  Backend* backends[2] = {cpu_.get(), gpu_.get()};
  for (int b = 0; b < 2; ++b) {
    auto x = Put(*backends[b], kRows, kVocab, logits);
    auto r = PutIndices(*backends[b], rows);
    auto t = PutIndices(*backends[b], targets);
    auto o = Put(*backends[b], n, 3, std::vector<float>(static_cast<size_t>(3 * n), NAN));
    ASSERT_TRUE(backends[b]->ScoreTokens(*x, *r, *t, *o).ok());
    scores[b] = DecodeScores(Get(*backends[b], *o));
  }
  for (int64_t i = 0; i < n; ++i) {
    const double u = 0x1p-53, log_p = scores[0][i].logprob;
    const auto row = std::span<const float>(logits).subspan(static_cast<size_t>(rows[i] * kVocab), kVocab);
    const double row_max = *std::max_element(row.begin(), row.end());
    const double log_s = (row[targets[i]] - row_max) - log_p;
    const double bound = (4.0 + 2.0 * kVocab) * u + 6 * u * (std::fabs(row_max) + std::fabs(log_s) + std::fabs(log_p));
    EXPECT_LE(std::fabs(scores[1][i].logprob - log_p), bound) << "request " << i;
    EXPECT_EQ(scores[0][i].is_greedy, scores[1][i].is_greedy) << "request " << i;
  }
  EXPECT_TRUE(scores[0][2].is_greedy);   // the tie: 17 is the greedy pick
  EXPECT_FALSE(scores[0][3].is_greedy);  // 2999 ties but comes later
}

// AddRmsNorm is AddInPlace + RmsNorm in one kernel at the same block size with the same per-thread order, so it
// must equal the two ops on the same device bit for bit. Group sizes take every launch form (elements per thread in
// registers: 1 for 8, 100 and 256 at 32, 128 and 256 threads; up to 4 for 257 and 1000; up to 16 for 3000 and 4096;
// up to 32 for 5000 and 8192; past that the two kernels: 8200, 20000), most of them not multiples of the block;
// offsets 0 and 1; out a NaN-poisoned tensor (every element must be written) or aliasing delta (as the Llama
// forward calls it). The sum left in x must also equal the host's f32 sum (AddInPlace is bit-identical to the CPU).
TEST_F(CudaOpsTest, AddRmsNormIsBitIdenticalToAddInPlaceThenRmsNorm) {
  struct Case {
    int64_t rows, width, group;
  };
  for (const Case& c : {Case{5, 64, 8}, Case{7, 100, 100}, Case{3, 256, 256}, Case{3, 257, 257},
                        Case{3, 1000, 1000}, Case{4, 3000, 3000}, Case{2, 4096, 4096}, Case{3, 5000, 5000},
                        Case{2, 8192, 8192}, Case{3, 8200, 8200}, Case{2, 20000, 20000}}) {
    const size_t n = static_cast<size_t>(c.rows * c.width);
    const std::vector<float> x = Normal(n, 21, 2.0f), delta = Normal(n, 22), w = Normal(c.group, 23);
    std::vector<float> sum(n);
    for (size_t i = 0; i < n; ++i) sum[i] = x[i] + delta[i];
    auto w_t = Put(*gpu_, 1, c.group, w);
    for (float offset : {0.0f, 1.0f}) {
      for (bool out_is_delta : {false, true}) {
        const std::string what = "AddRmsNorm group " + std::to_string(c.group) + " offset " +
                                 std::to_string(offset) + (out_is_delta ? " out = delta" : " out separate");
        auto x1 = Put(*gpu_, c.rows, c.width, x), d1 = Put(*gpu_, c.rows, c.width, delta);
        auto out1 = Put(*gpu_, c.rows, c.width, std::vector<float>(n, 0.0f));
        ASSERT_TRUE(gpu_->AddInPlace(*x1, *d1).ok());
        ASSERT_TRUE(gpu_->RmsNorm(*x1, *w_t, c.group, 1e-5f, offset, *out1).ok());
        auto x2 = Put(*gpu_, c.rows, c.width, x), d2 = Put(*gpu_, c.rows, c.width, delta);
        auto out2 = Put(*gpu_, c.rows, c.width, std::vector<float>(n, NAN));
        DeviceTensor& out = out_is_delta ? *d2 : *out2;
        const Status s = gpu_->AddRmsNorm(*x2, *d2, *w_t, c.group, 1e-5f, offset, out);
        ASSERT_TRUE(s.ok()) << what << ": " << s.ToString();
        // ExpectBitIdentical's "cpu" side is the expected one: the host sum, then the unfused GPU ops.
        ExpectBitIdentical(sum, Get(*gpu_, *x2), what + ": x");
        ExpectBitIdentical(Get(*gpu_, *out1), Get(*gpu_, out), what + ": out vs unfused");
        if (!out_is_delta) ExpectBitIdentical(delta, Get(*gpu_, *d2), what + ": delta unchanged");
      }
    }
  }
  auto x = Put(*gpu_, 2, 8, Normal(16, 1)), d = Put(*gpu_, 2, 8, Normal(16, 2)), w = Put(*gpu_, 1, 8, Normal(8, 3));
  EXPECT_EQ(gpu_->AddRmsNorm(*x, *d, *w, 8, 1e-5f, 0.0f, *x).code(), StatusCode::kInternal);  // out aliases x
  EXPECT_TRUE(gpu_->Synchronize().ok());
}

TEST_F(CudaOpsTest, ShapeMismatchesAreStatusesNotCrashes) {
  auto a = gpu_->Allocate(2, 8);
  auto b = gpu_->Allocate(3, 8);
  auto w = gpu_->Allocate(1, 5);
  ASSERT_TRUE(a.ok() && b.ok() && w.ok());
  EXPECT_EQ(gpu_->AddInPlace(**a, **b).code(), StatusCode::kInternal);
  EXPECT_EQ(gpu_->GatedMul(Activation::kSilu, **a, **b, **a).code(), StatusCode::kInternal);
  EXPECT_EQ(gpu_->RmsNorm(**a, **w, 5, 1e-5f, 0.0f, **a).code(), StatusCode::kInternal);
  EXPECT_EQ(gpu_->AddRmsNorm(**a, **b, **w, 5, 1e-5f, 0.0f, **b).code(), StatusCode::kInternal);
  std::vector<float> wrong(3);
  EXPECT_EQ(gpu_->Upload(wrong, **a).code(), StatusCode::kInternal);
  EXPECT_EQ(gpu_->Download(**a, wrong).code(), StatusCode::kInternal);
  auto rows = PutIndices(*gpu_, {0, 1});
  EXPECT_EQ(gpu_->Attention(**a, **b, **b, {rows.get(), rows.get()}, {2, 2, 3, 0.5f}, **a).code(),
            StatusCode::kInternal);  // 2 * 3 != 8
  EXPECT_TRUE(gpu_->Synchronize().ok());
}

}  // namespace
}  // namespace fp4lab
