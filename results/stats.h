// Statistics for reports and the regression gate: per-metric summaries (mean, standard error, percentiles),
// binomial intervals (Wilson), and paired tests of a candidate precision against a reference evaluated on the
// SAME items in the same order (McNemar exact, paired bootstrap, paired normal interval). Pure functions of
// their arguments; no I/O. Input problems (empty input, mismatched lengths, out-of-range arguments) return
// InvalidArgument naming the function and the offending value.
#pragma once

#include <cstdint>
#include <span>

#include "engine/status.h"

namespace fp4lab {

// Standard normal quantiles: 97.5 % (two-sided 95 %, the "1.96") and 95 % (one-sided 95 %).
inline constexpr double kZ95TwoSided = 1.959963984540054;
inline constexpr double kZ95OneSided = 1.6448536269514722;

// A point estimate with the bounds of its interval (low <= high; a bootstrap percentile interval need not
// contain its estimate when the resampled means are skewed).
struct ConfidenceInterval {
  double estimate = 0.0;
  double low = 0.0;
  double high = 0.0;
};

// Discordant pairs of two paired binary outcomes: the only counts McNemar's test uses.
struct FlipCounts {
  int64_t b = 0;  // reference correct, candidate wrong
  int64_t c = 0;  // reference wrong, candidate correct
};

// Arithmetic mean. REQUIRES non-empty.
Result<double> Mean(std::span<const double> values);
// Sample standard deviation with the n - 1 denominator (lm-eval's sample_stddev). REQUIRES n >= 2.
Result<double> SampleStddev(std::span<const double> values);
// Standard error of the mean: SampleStddev / sqrt(n), as lm-eval's mean_stderr. REQUIRES n >= 2.
Result<double> StandardError(std::span<const double> values);

// The q-th percentile, q in [0, 100], by linear interpolation between closest ranks (numpy's default
// "linear" method): sort x, h = (n - 1) * q / 100, result = x[floor(h)] + (h - floor(h)) *
// (x[floor(h) + 1] - x[floor(h)]). REQUIRES non-empty, no NaN.
Result<double> Percentile(std::span<const double> values, double q);

// Wilson score interval for `successes` out of `n` trials: estimate = successes / n, with
//   center = (p + z^2 / 2n) / (1 + z^2 / n),  half = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2),
// bounds clamped to [0, 1]. The default z gives a two-sided 95 % interval. REQUIRES 0 <= successes <= n, n > 0,
// z > 0.
Result<ConfidenceInterval> WilsonInterval(int64_t successes, int64_t n, double z = kZ95TwoSided);
// One-sided 95 % lower confidence bound (the Wilson low end with z = 1.645): "the true rate is at least this"
// (vLLM's accuracy gate uses it for absolute floors).
Result<double> WilsonLowerBound(int64_t successes, int64_t n, double z = kZ95OneSided);

// Exact two-sided McNemar p-value from flip counts: a binomial test of min(b, c) against Binomial(b + c, 1/2),
//   p = min(1, 2 * sum_{i <= min(b, c)} C(b + c, i) / 2^(b + c));  b + c == 0 gives p = 1.
// REQUIRES b, c >= 0.
Result<double> McNemarExactPValue(int64_t b, int64_t c);
// Counts flips between paired 0/1 scores. REQUIRES equal lengths and every value exactly 0 or 1.
Result<FlipCounts> CountFlips(std::span<const double> reference, std::span<const double> candidate);

struct BootstrapOptions {
  int resamples = 2000;        // B
  uint64_t seed = 20261127;    // std::mt19937_64 seed: same inputs + options -> same interval
  double confidence = 0.95;    // two-sided coverage; the interval is the (1 -+ confidence) / 2 percentiles
};

// Paired bootstrap of the mean difference d_i = candidate[i] - reference[i]: estimate = mean(d); each of B
// resamples draws n indices uniformly with replacement (index = (rng() * n) >> 64, 128-bit product, so the
// draw sequence is the same on every platform) and averages d over them; low/high are Percentile()s of the
// B means (percentile method). Identical inputs give exactly [0, 0]. REQUIRES equal, non-zero lengths;
// resamples >= 1; 0 < confidence < 1.
Result<ConfidenceInterval> PairedBootstrapCi(std::span<const double> candidate, std::span<const double> reference,
                                             const BootstrapOptions& options = {});

// Normal-approximation interval of the mean difference: mean(d) -+ z * StandardError(d), d as above.
// REQUIRES equal lengths >= 2, z > 0.
Result<ConfidenceInterval> PairedNormalCi(std::span<const double> candidate, std::span<const double> reference,
                                          double z = kZ95TwoSided);

}  // namespace fp4lab
