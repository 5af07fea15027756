// The CPU reference's non-causal attention mode (AttentionParams::causal false): every query of a one-sequence pass
// attends through the pass's last row. Its output for a query equals, bit for bit, the causal output of that same
// query placed at the last row (the same keys in the same order, the same arithmetic).
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "engine/backend.h"

namespace fp4lab {
namespace {

constexpr int kHeads = 4, kKvHeads = 2, kHeadDim = 8;
constexpr int64_t kQDim = kHeads * kHeadDim, kKvDim = kKvHeads * kHeadDim;

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

class CpuAttentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto backend = CreateBackend("cpu");
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    backend_ = std::move(backend).value();
  }

  std::unique_ptr<DeviceTensor> Tensor(int64_t rows, int64_t cols, const std::vector<float>& values) {
    auto t = backend_->Allocate(rows, cols);
    EXPECT_TRUE(t.ok());
    EXPECT_TRUE(backend_->Upload(values, **t).ok());
    return std::move(t).value();
  }
  std::unique_ptr<DeviceIndices> Indices(const std::vector<int32_t>& values) {
    auto t = backend_->AllocateIndices(static_cast<int64_t>(values.size()));
    EXPECT_TRUE(t.ok());
    EXPECT_TRUE(backend_->UploadIndices(values, **t).ok());
    return std::move(t).value();
  }
  // Attention of `q` [rows, kQDim] at `positions` (cache row = position) over the given caches.
  std::vector<float> Attend(const std::vector<float>& q, const std::vector<int32_t>& positions, const DeviceTensor& k,
                            const DeviceTensor& v, bool causal, int window) {
    const int64_t rows = static_cast<int64_t>(positions.size());
    auto q_t = Tensor(rows, kQDim, q);
    auto out = Tensor(rows, kQDim, std::vector<float>(q.size()));
    auto pos = Indices(positions), cache_rows = Indices(positions);
    const AttentionParams params{kHeads, kKvHeads, kHeadDim, 0.35f, window, 0.0f, causal};
    EXPECT_TRUE(backend_->Attention(*q_t, k, v, {pos.get(), cache_rows.get(), true}, params, *out).ok());
    std::vector<float> host(q.size());
    EXPECT_TRUE(backend_->Download(*out, host).ok());
    return host;
  }

  std::unique_ptr<Backend> backend_;
};

TEST_F(CpuAttentionTest, NonCausalQueriesSeeThePassThroughItsLastRow) {
  // 6 cached rows, then a canvas of 5 rows at positions 6..10.
  const int64_t cache = 11;
  auto k = Tensor(cache, kKvDim, Random(cache * kKvDim, 1));
  auto v = Tensor(cache, kKvDim, Random(cache * kKvDim, 2));
  const std::vector<int32_t> canvas = {6, 7, 8, 9, 10};
  const std::vector<float> q = Random(canvas.size() * kQDim, 3);
  const std::vector<float> non_causal = Attend(q, canvas, *k, *v, /*causal=*/false, 0);
  const std::vector<float> causal = Attend(q, canvas, *k, *v, /*causal=*/true, 0);
  for (size_t i = 0; i < canvas.size(); ++i) {
    const std::vector<float> q_i(q.begin() + i * kQDim, q.begin() + (i + 1) * kQDim);
    const std::vector<float> at_last = Attend(q_i, {10}, *k, *v, /*causal=*/true, 0);
    const std::vector<float> got(non_causal.begin() + i * kQDim, non_causal.begin() + (i + 1) * kQDim);
    EXPECT_EQ(got, at_last) << "canvas row " << i;
  }
  // The last row sees the same keys either way; the earlier rows see more keys than causally.
  EXPECT_TRUE(std::equal(non_causal.end() - kQDim, non_causal.end(), causal.end() - kQDim));
  EXPECT_FALSE(std::equal(non_causal.begin(), non_causal.begin() + kQDim, causal.begin()));
}

TEST_F(CpuAttentionTest, NonCausalWindowBoundsOnlyTheEarlierKeys) {
  const int64_t cache = 11;
  auto k = Tensor(cache, kKvDim, Random(cache * kKvDim, 4));
  auto v = Tensor(cache, kKvDim, Random(cache * kKvDim, 5));
  const std::vector<float> q = Random(2 * kQDim, 6);
  // Row at position 9 with window 3 sees keys 7..10 (7, 8, 9 behind and itself; 10 ahead); the row at 10 sees 8..10.
  const std::vector<float> windowed = Attend(q, {9, 10}, *k, *v, /*causal=*/false, 3);
  // The same keys as a causal query at 10 with a window of 4 (7..10).
  const std::vector<float> q_0(q.begin(), q.begin() + kQDim);
  EXPECT_EQ(std::vector<float>(windowed.begin(), windowed.begin() + kQDim), Attend(q_0, {10}, *k, *v, true, 4));
}

TEST_F(CpuAttentionTest, NonCausalNeedsOneSequence) {
  auto k = Tensor(4, kKvDim, Random(4 * kKvDim, 7));
  auto v = Tensor(4, kKvDim, Random(4 * kKvDim, 8));
  auto q = Tensor(2, kQDim, Random(2 * kQDim, 9));
  auto out = Tensor(2, kQDim, std::vector<float>(2 * kQDim));
  auto pos = Indices({0, 0}), rows = Indices({0, 2});
  const AttentionParams params{kHeads, kKvHeads, kHeadDim, 0.35f, 0, 0.0f, /*causal=*/false};
  EXPECT_EQ(backend_->Attention(*q, *k, *v, {pos.get(), rows.get(), false}, params, *out).code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace fp4lab
