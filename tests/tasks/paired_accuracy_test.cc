#include "tasks/paired_accuracy.h"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace fp4lab {
namespace {

SampleRecord Sample(const std::string& precision, const std::string& id, double score) {
  SampleRecord s;
  s.task = "mmlu";
  s.precision = precision;
  s.sample_id = id;
  s.score = score;
  return s;
}

// Paired lists from (reference, candidate) score pairs; ids "item/<i>".
void MakePairs(const std::vector<std::pair<double, double>>& pairs, std::vector<SampleRecord>& candidate,
               std::vector<SampleRecord>& reference) {
  for (size_t i = 0; i < pairs.size(); ++i) {
    const std::string id = "item/" + std::to_string(i);
    reference.push_back(Sample("bf16", id, pairs[i].first));
    candidate.push_back(Sample("nvfp4", id, pairs[i].second));
  }
}

// n_rr pairs both right, n_ww both wrong, b right->wrong, c wrong->right.
void MakeCounts(int n_rr, int n_ww, int b, int c, std::vector<SampleRecord>& candidate,
                std::vector<SampleRecord>& reference) {
  std::vector<std::pair<double, double>> pairs;
  pairs.insert(pairs.end(), n_rr, {1.0, 1.0});
  pairs.insert(pairs.end(), n_ww, {0.0, 0.0});
  pairs.insert(pairs.end(), b, {1.0, 0.0});
  pairs.insert(pairs.end(), c, {0.0, 1.0});
  MakePairs(pairs, candidate, reference);
}

TEST(PairedAccuracyTest, IdenticalRunsGiveZeroDeltaPointIntervalAndPOne) {
  std::vector<SampleRecord> reference, candidate;
  MakeCounts(7, 5, 0, 0, candidate, reference);
  const auto result = ComparePairedAccuracy("mmlu", "acc", candidate, reference);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->size(), 1u);
  const ComparisonRecord& c = result->front();
  EXPECT_EQ(c.task, "mmlu");
  EXPECT_EQ(c.metric, "acc");
  EXPECT_EQ(c.precision, "nvfp4");
  EXPECT_EQ(c.reference_precision, "bf16");
  EXPECT_EQ(c.method, "paired_bootstrap+mcnemar_exact");
  EXPECT_EQ(c.delta, 0.0);
  EXPECT_EQ(c.ci_low, 0.0);
  EXPECT_EQ(c.ci_high, 0.0);
  ASSERT_TRUE(c.p_value.has_value());
  EXPECT_EQ(*c.p_value, 1.0);
  EXPECT_EQ(c.extra["right_to_wrong"], 0);
  EXPECT_EQ(c.extra["wrong_to_right"], 0);
  EXPECT_EQ(c.extra["n"], 12);
}

TEST(PairedAccuracyTest, KnownFlipsGiveExactMcNemarAndDelta) {
  std::vector<SampleRecord> reference, candidate;
  MakeCounts(5, 5, /*b=*/1, /*c=*/9, candidate, reference);
  const auto result = ComparePairedAccuracy("mmlu", "acc", candidate, reference);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->size(), 1u);
  const ComparisonRecord& c = result->front();
  // Candidate 14/20 right, reference 6/20: delta = (c - b) / n = 8 / 20.
  EXPECT_DOUBLE_EQ(c.delta, 0.4);
  // Two-sided exact McNemar: 2 * (C(10,0) + C(10,1)) / 2^10. stats.cc gets C(10,1) / 2^10 through lgamma: three
  // lgamma values <= lgamma(11) = 15.1, each within a few ulp (~4e-15 absolute), so exp() of their sum is off by
  // a relative ~1e-14 at most; 1e-12 relative bounds that.
  ASSERT_TRUE(c.p_value.has_value());
  const double exact = 2.0 * (1 + 10) / 1024.0;
  EXPECT_NEAR(*c.p_value, exact, exact * 1e-12);
  EXPECT_EQ(c.extra["right_to_wrong"], 1);
  EXPECT_EQ(c.extra["wrong_to_right"], 9);
  EXPECT_EQ(c.extra["n"], 20);
  // d_i has nine +1, one -1, ten 0: mean 0.4, E[d^2] = 0.5, population variance 0.34, SE = sqrt(0.34 / 20) = 0.130.
  // The percentile interval lies near 0.4 -+ 1.96 SE = [0.144, 0.656]; 3 SE on either side ([0.009, 0.791]) bounds
  // it with room for bootstrap noise (2000 resamples: quantile error ~0.01).
  EXPECT_LT(c.ci_low, c.delta);
  EXPECT_GT(c.ci_high, c.delta);
  EXPECT_GT(c.ci_low, 0.4 - 3 * 0.1304);
  EXPECT_LT(c.ci_high, 0.4 + 3 * 0.1304);
}

TEST(PairedAccuracyTest, JoinsByIdRegardlessOfOrderAndCountsUnpaired) {
  std::vector<SampleRecord> reference, candidate;
  MakeCounts(6, 4, 3, 2, candidate, reference);
  candidate.push_back(Sample("nvfp4", "only/candidate", 1.0));
  reference.push_back(Sample("bf16", "only/reference1", 0.0));
  reference.push_back(Sample("bf16", "only/reference2", 1.0));
  const auto sorted = ComparePairedAccuracy("mmlu", "acc", candidate, reference);
  ASSERT_TRUE(sorted.ok()) << sorted.status().ToString();
  std::reverse(reference.begin(), reference.end());
  std::rotate(candidate.begin(), candidate.begin() + 4, candidate.end());
  const auto shuffled = ComparePairedAccuracy("mmlu", "acc", candidate, reference);
  ASSERT_TRUE(shuffled.ok()) << shuffled.status().ToString();
  const ComparisonRecord& a = sorted->front();
  const ComparisonRecord& b = shuffled->front();
  EXPECT_EQ(a.delta, b.delta);
  EXPECT_EQ(a.ci_low, b.ci_low);
  EXPECT_EQ(a.ci_high, b.ci_high);
  EXPECT_EQ(a.p_value, b.p_value);
  EXPECT_DOUBLE_EQ(a.delta, (2.0 - 3.0) / 15.0);
  EXPECT_EQ(a.extra["n"], 15);
  EXPECT_EQ(a.extra["unpaired_candidate"], 1);
  EXPECT_EQ(a.extra["unpaired_reference"], 2);
}

TEST(PairedAccuracyTest, SeedChangesTheIntervalButNotTheEstimate) {
  std::vector<SampleRecord> reference, candidate;
  MakeCounts(10, 10, 4, 7, candidate, reference);
  const auto first = ComparePairedAccuracy("mmlu", "acc", candidate, reference);
  const auto again = ComparePairedAccuracy("mmlu", "acc", candidate, reference);
  BootstrapOptions other = kPairedAccuracyBootstrap;
  other.seed = 99;
  const auto reseeded = ComparePairedAccuracy("mmlu", "acc", candidate, reference, other);
  ASSERT_TRUE(first.ok() && again.ok() && reseeded.ok());
  EXPECT_EQ(first->front().ci_low, again->front().ci_low);
  EXPECT_EQ(first->front().ci_high, again->front().ci_high);
  EXPECT_EQ(first->front().delta, reseeded->front().delta);
  EXPECT_TRUE(first->front().ci_low != reseeded->front().ci_low ||
              first->front().ci_high != reseeded->front().ci_high);
}

TEST(PairedAccuracyTest, NoSharedIdsGiveNoComparison) {
  const std::vector<SampleRecord> candidate = {Sample("nvfp4", "a/0", 1.0)};
  const std::vector<SampleRecord> reference = {Sample("bf16", "b/0", 1.0)};
  const auto result = ComparePairedAccuracy("mmlu", "acc", candidate, reference);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(result->empty());
}

TEST(PairedAccuracyTest, RejectsNonBinaryScoresAndDuplicateIds) {
  const std::vector<SampleRecord> reference = {Sample("bf16", "a/0", 1.0), Sample("bf16", "a/1", 0.0)};
  const std::vector<SampleRecord> fractional = {Sample("nvfp4", "a/0", 0.5), Sample("nvfp4", "a/1", 0.0)};
  const auto bad_score = ComparePairedAccuracy("humaneval", "pass@1", fractional, reference);
  ASSERT_FALSE(bad_score.ok());
  EXPECT_EQ(bad_score.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_score.status().message().find("a/0"), std::string::npos) << bad_score.status().message();
  EXPECT_NE(bad_score.status().message().find("humaneval"), std::string::npos);

  const std::vector<SampleRecord> duplicated = {Sample("nvfp4", "a/1", 1.0), Sample("nvfp4", "a/1", 0.0)};
  const auto duplicate = ComparePairedAccuracy("mmlu", "acc", duplicated, reference);
  ASSERT_FALSE(duplicate.ok());
  EXPECT_NE(duplicate.status().message().find("occurs twice"), std::string::npos) << duplicate.status().message();
}

}  // namespace
}  // namespace fp4lab
