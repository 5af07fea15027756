#include "results/stats.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace fp4lab {
namespace {

// Closed-form values below are a handful of double operations, each rounded to within 2^-53 relative, so
// they agree with the library to a few ulp; 1e-12 relative leaves ample room and still catches any formula
// error (which would show up in the 2nd-4th significant digit).
constexpr double kRel = 1e-12;

void ExpectClose(double actual, double expected) {
  EXPECT_NEAR(actual, expected, kRel * std::max(1.0, std::abs(expected))) << "expected " << expected;
}

TEST(StatsTest, MeanStddevStandardErrorOnHandCase) {
  // x = {2,4,4,4,5,5,7,9}: sum 40, mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32;
  // sample variance 32/7; standard error sqrt(32/7)/sqrt(8) = sqrt(4/7).
  const std::vector<double> x = {2, 4, 4, 4, 5, 5, 7, 9};
  ExpectClose(Mean(x).value(), 5.0);
  ExpectClose(SampleStddev(x).value(), std::sqrt(32.0 / 7.0));
  ExpectClose(StandardError(x).value(), std::sqrt(4.0 / 7.0));
}

TEST(StatsTest, SummariesRejectTooFewValues) {
  const std::vector<double> none;
  const std::vector<double> one = {3.0};
  EXPECT_EQ(Mean(none).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Mean(one).value(), 3.0);
  EXPECT_EQ(SampleStddev(one).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StandardError(one).status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(StandardError(one).status().message().find("at least 2"), std::string::npos);
}

TEST(StatsTest, PercentileInterpolatesLinearlyBetweenClosestRanks) {
  // numpy.percentile([1, 2, 3, 4], q): h = 3q/100. q=25 -> h=0.75 -> 1 + 0.75*(2-1) = 1.75;
  // q=50 -> 2.5; q=90 -> h=2.7 -> 3.7; ends are the min and max. Input order must not matter.
  const std::vector<double> x = {4, 1, 3, 2};
  ExpectClose(Percentile(x, 0).value(), 1.0);
  ExpectClose(Percentile(x, 25).value(), 1.75);
  ExpectClose(Percentile(x, 50).value(), 2.5);
  ExpectClose(Percentile(x, 90).value(), 3.7);
  ExpectClose(Percentile(x, 100).value(), 4.0);
  const std::vector<double> single = {7.0};
  EXPECT_EQ(Percentile(single, 37).value(), 7.0);
}

TEST(StatsTest, PercentileRejectsBadArguments) {
  const std::vector<double> x = {1, 2};
  const std::vector<double> with_nan = {1, std::nan("")};
  EXPECT_EQ(Percentile(x, -1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Percentile(x, 100.5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Percentile(std::vector<double>{}, 50).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Percentile(with_nan, 50).status().code(), StatusCode::kInvalidArgument);
}

// The Wilson bounds are the two roots in p of (phat - p)^2 = z^2 p (1 - p) / n, i.e. of
//   (1 + z^2/n) p^2 - (2 phat + z^2/n) p + phat^2 = 0.
// Solving this quadratic with the textbook formula is an independent route to the same numbers.
std::pair<double, double> WilsonByQuadratic(double k, double n, double z) {
  const double phat = k / n;
  const double a = 1.0 + z * z / n;
  const double b = -(2.0 * phat + z * z / n);
  const double c = phat * phat;
  const double root = std::sqrt(b * b - 4.0 * a * c);
  return {(-b - root) / (2.0 * a), (-b + root) / (2.0 * a)};
}

TEST(StatsTest, WilsonIntervalMatchesQuadraticRoots) {
  for (auto [k, n] : std::vector<std::pair<int, int>>{{8, 10}, {1, 3}, {37, 57}, {570, 1000}}) {
    SCOPED_TRACE(std::to_string(k) + "/" + std::to_string(n));
    auto [low, high] = WilsonByQuadratic(k, n, kZ95TwoSided);
    ConfidenceInterval ci = WilsonInterval(k, n).value();
    // The quadratic formula loses a few more ulp than the library's form (b^2 - 4ac cancels); 1e-12 holds.
    ExpectClose(ci.estimate, static_cast<double>(k) / n);
    ExpectClose(ci.low, low);
    ExpectClose(ci.high, high);
  }
  // The commonly quoted 95 % Wilson interval for 8/10 is [0.4902, 0.9433] (4 decimals).
  ConfidenceInterval ci = WilsonInterval(8, 10).value();
  EXPECT_NEAR(ci.low, 0.4902, 5e-5);
  EXPECT_NEAR(ci.high, 0.9433, 5e-5);
}

TEST(StatsTest, WilsonIntervalAtTheEdges) {
  // k = 0: low is exactly 0 and high = (z^2/n) / (1 + z^2/n); k = n mirrors it.
  const double z2n = kZ95TwoSided * kZ95TwoSided / 10.0;
  ConfidenceInterval zero = WilsonInterval(0, 10).value();
  EXPECT_EQ(zero.low, 0.0);
  ExpectClose(zero.high, z2n / (1.0 + z2n));
  ConfidenceInterval all = WilsonInterval(10, 10).value();
  EXPECT_EQ(all.high, 1.0);
  ExpectClose(all.low, 1.0 - z2n / (1.0 + z2n));
}

TEST(StatsTest, WilsonLowerBoundIsOneSided) {
  // One-sided 95 %: the low root of the quadratic with z = 1.6449 (higher than the two-sided low end).
  auto [low, high] = WilsonByQuadratic(90, 100, kZ95OneSided);
  ExpectClose(WilsonLowerBound(90, 100).value(), low);
  EXPECT_GT(WilsonLowerBound(90, 100).value(), WilsonInterval(90, 100).value().low);
}

TEST(StatsTest, WilsonRejectsImpossibleCounts) {
  EXPECT_EQ(WilsonInterval(0, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(WilsonInterval(11, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(WilsonInterval(-1, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(WilsonInterval(5, 10, 0.0).status().code(), StatusCode::kInvalidArgument);
}

TEST(StatsTest, McNemarExactOnHandCases) {
  // b=0, c=5: 2 * C(5,0) / 2^5 = 2/32.
  ExpectClose(McNemarExactPValue(0, 5).value(), 2.0 / 32.0);
  // b=1, c=9: 2 * (C(10,0) + C(10,1)) / 2^10 = 2 * 11 / 1024.
  ExpectClose(McNemarExactPValue(1, 9).value(), 2.0 * 11.0 / 1024.0);
  ExpectClose(McNemarExactPValue(9, 1).value(), 2.0 * 11.0 / 1024.0);
  // b=2, c=8: 2 * (1 + 10 + 45) / 1024.
  ExpectClose(McNemarExactPValue(2, 8).value(), 2.0 * 56.0 / 1024.0);
  // Balanced flips: the doubled tail exceeds 1 and is capped. No flips at all: p = 1.
  EXPECT_EQ(McNemarExactPValue(4, 4).value(), 1.0);
  EXPECT_EQ(McNemarExactPValue(0, 0).value(), 1.0);
  EXPECT_EQ(McNemarExactPValue(-1, 3).status().code(), StatusCode::kInvalidArgument);
}

TEST(StatsTest, McNemarExactMatchesDirectBinomialSumForLargeCounts) {
  // Independent route: pmf(0) = 2^-n exactly (ldexp), pmf(i+1) = pmf(i) * (n - i) / (i + 1), summed in long double.
  // Error budget: the library's lgamma terms are ~1e3 in size with ~1e-16 relative error, i.e. ~1e-13
  // absolute in the log, ~1e-13 relative in p; the direct sum adds ~n ulp. 1e-10 relative covers both.
  for (auto [b, c] : std::vector<std::pair<int, int>>{{100, 150}, {300, 340}, {12, 60}}) {
    const int n = b + c;
    long double pmf = std::ldexp(1.0L, -n);
    long double tail = 0.0L;
    for (int i = 0; i <= std::min(b, c); ++i) {
      tail += pmf;
      pmf = pmf * (n - i) / (i + 1);
    }
    const double expected = std::min(1.0, static_cast<double>(2.0L * tail));
    const double actual = McNemarExactPValue(b, c).value();
    EXPECT_NEAR(actual, expected, 1e-10 * expected) << "b=" << b << " c=" << c;
  }
}

TEST(StatsTest, CountFlipsCountsDiscordantPairs) {
  const std::vector<double> reference = {1, 1, 0, 0, 1, 0};
  const std::vector<double> candidate = {1, 0, 1, 0, 0, 0};
  FlipCounts flips = CountFlips(reference, candidate).value();
  EXPECT_EQ(flips.b, 2);  // items 1 and 4
  EXPECT_EQ(flips.c, 1);  // item 2
  const std::vector<double> fractional = {1, 0.5, 0, 0, 1, 0};
  EXPECT_EQ(CountFlips(reference, fractional).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CountFlips(reference, std::vector<double>{1}).status().code(), StatusCode::kInvalidArgument);
}

TEST(StatsTest, PairedBootstrapOfIdenticalInputsIsExactlyZero) {
  const std::vector<double> scores = {0.3, 1.7, -2.0, 4.5, 0.0};
  ConfidenceInterval ci = PairedBootstrapCi(scores, scores).value();
  EXPECT_EQ(ci.estimate, 0.0);
  EXPECT_EQ(ci.low, 0.0);
  EXPECT_EQ(ci.high, 0.0);
}

TEST(StatsTest, PairedBootstrapOfAConstantShiftIsThatShift) {
  // Every difference is 0.25 (exact in binary, and sums of up to 8 of them are exact), so every resample mean is
  // exactly 0.25 whatever the draws.
  const std::vector<double> reference = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<double> candidate = reference;
  for (double& v : candidate) v += 0.25;
  ConfidenceInterval ci = PairedBootstrapCi(candidate, reference).value();
  EXPECT_EQ(ci.estimate, 0.25);
  EXPECT_EQ(ci.low, 0.25);
  EXPECT_EQ(ci.high, 0.25);
}

TEST(StatsTest, PairedBootstrapIsSeededAndAgreesWithNormalIntervalOnLargeSample) {
  // 400 paired 0/1 items with ~10 % flips each way and a few more losses: the mean difference is close to
  // normally distributed, so the bootstrap percentile bounds should sit near mean -+ 1.96 se.
  // Tolerance: a 2.5 % quantile estimated from B = 2000 resamples has Monte-Carlo sd
  // sqrt(q (1 - q) / B) / f(x_q) with f the bootstrap density at the quantile, phi(1.96)/se = 0.0584/se:
  // sqrt(0.025 * 0.975 / 2000) / 0.0584 * se = 0.060 se. Five of those (0.3 se) bounds a legitimate miss.
  std::mt19937_64 rng(7);
  std::bernoulli_distribution correct(0.7);
  std::bernoulli_distribution flip(0.12);
  std::vector<double> reference(400), candidate(400);
  for (size_t i = 0; i < reference.size(); ++i) {
    reference[i] = correct(rng) ? 1.0 : 0.0;
    candidate[i] = flip(rng) ? 1.0 - reference[i] : reference[i];
  }
  ConfidenceInterval boot = PairedBootstrapCi(candidate, reference).value();
  ConfidenceInterval normal = PairedNormalCi(candidate, reference).value();
  std::vector<double> d(reference.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = candidate[i] - reference[i];
  const double se = StandardError(d).value();
  EXPECT_EQ(boot.estimate, normal.estimate);
  EXPECT_NEAR(boot.low, normal.low, 0.3 * se);
  EXPECT_NEAR(boot.high, normal.high, 0.3 * se);
  EXPECT_LT(boot.low, boot.estimate);
  EXPECT_GT(boot.high, boot.estimate);

  // Same seed -> the same interval, bit for bit.
  ConfidenceInterval again = PairedBootstrapCi(candidate, reference).value();
  EXPECT_EQ(again.low, boot.low);
  EXPECT_EQ(again.high, boot.high);
}

TEST(StatsTest, PairedBootstrapRejectsBadArguments) {
  const std::vector<double> a = {1, 2, 3};
  const std::vector<double> b = {1, 2};
  EXPECT_EQ(PairedBootstrapCi(a, b).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PairedBootstrapCi(std::vector<double>{}, std::vector<double>{}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PairedBootstrapCi(a, a, {.resamples = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PairedBootstrapCi(a, a, {.confidence = 1.0}).status().code(), StatusCode::kInvalidArgument);
}

TEST(StatsTest, PairedNormalCiOnHandCase) {
  // d = {1, 0, 0, 1}: mean 0.5, squared deviations 4 * 0.25 = 1, sample sd sqrt(1/3), se sqrt(1/3) / 2.
  const std::vector<double> candidate = {1, 1, 0, 1};
  const std::vector<double> reference = {0, 1, 0, 0};
  ConfidenceInterval ci = PairedNormalCi(candidate, reference).value();
  const double se = std::sqrt(1.0 / 3.0) / 2.0;
  ExpectClose(ci.estimate, 0.5);
  ExpectClose(ci.low, 0.5 - 1.959963984540054 * se);
  ExpectClose(ci.high, 0.5 + 1.959963984540054 * se);
  EXPECT_EQ(PairedNormalCi(std::vector<double>{1}, std::vector<double>{0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PairedNormalCi(candidate, std::vector<double>{0}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fp4lab
