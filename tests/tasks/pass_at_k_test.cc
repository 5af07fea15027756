#include "tasks/pass_at_k.h"

#include <vector>

#include <gtest/gtest.h>

namespace fp4lab {
namespace {

// The estimator is a product of at most c factors, each rounded once (relative error 2^-53 ~ 1.1e-16); for the
// small c used here the absolute error stays below 1e-14, so 1e-12 is a safe bound.
constexpr double kTolerance = 1e-12;

// n = 5, c = 2 by hand: pass@k = 1 - C(3, k) / C(5, k).
TEST(PassAtKTest, HandComputedFiveSamplesTwoCorrect) {
  EXPECT_NEAR(*PassAtK(5, 2, 1), 1.0 - 3.0 / 5.0, kTolerance);   // 0.4
  EXPECT_NEAR(*PassAtK(5, 2, 2), 1.0 - 3.0 / 10.0, kTolerance);  // 0.7
  EXPECT_NEAR(*PassAtK(5, 2, 3), 1.0 - 1.0 / 10.0, kTolerance);  // 0.9
  EXPECT_EQ(*PassAtK(5, 2, 4), 1.0);                             // n - c = 3 < 4
  EXPECT_EQ(*PassAtK(5, 2, 5), 1.0);
}

TEST(PassAtKTest, NoneAndAllCorrect) {
  for (int k = 1; k <= 5; ++k) {
    EXPECT_EQ(*PassAtK(5, 0, k), 0.0) << k;
    EXPECT_EQ(*PassAtK(5, 5, k), 1.0) << k;
  }
}

// Against exact integer binomials: C(13, 5) / C(20, 5) = 1287 / 15504.
TEST(PassAtKTest, MatchesExactBinomials) {
  EXPECT_NEAR(*PassAtK(20, 7, 5), 1.0 - 1287.0 / 15504.0, kTolerance);
  // C(199, 10) / C(200, 10) = 190 / 200.
  EXPECT_NEAR(*PassAtK(200, 1, 10), 1.0 - 190.0 / 200.0, kTolerance);
}

TEST(PassAtKTest, UndefinedCasesAreNotReported) {
  EXPECT_FALSE(PassAtK(5, 2, 6).has_value());   // k > n
  EXPECT_FALSE(PassAtK(5, 2, 0).has_value());   // k < 1
  EXPECT_FALSE(PassAtK(5, 6, 1).has_value());   // c > n
  EXPECT_FALSE(PassAtK(5, -1, 1).has_value());  // c < 0
}

TEST(PassAtKTest, MeanOverProblemsNeedsEnoughSamplesEverywhere) {
  const std::vector<PassCounts> problems = {{5, 2}, {5, 0}, {4, 4}};
  EXPECT_NEAR(*MeanPassAtK(problems, 1), (0.4 + 0.0 + 1.0) / 3.0, kTolerance);
  EXPECT_NEAR(*MeanPassAtK(problems, 2), (0.7 + 0.0 + 1.0) / 3.0, kTolerance);
  EXPECT_FALSE(MeanPassAtK(problems, 5).has_value());  // the third problem has only 4 samples
  EXPECT_FALSE(MeanPassAtK({}, 1).has_value());
}

}  // namespace
}  // namespace fp4lab
