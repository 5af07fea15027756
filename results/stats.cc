#include "results/stats.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace fp4lab {
namespace {

Status CheckAtLeast(std::span<const double> values, size_t min_size, const char* function) {
  if (values.size() >= min_size) return Status::Ok();
  return Status::InvalidArgument(std::string(function) + ": needs at least " + std::to_string(min_size) +
                                 " values, got " + std::to_string(values.size()));
}

// d_i = candidate[i] - reference[i].
Result<std::vector<double>> Differences(std::span<const double> candidate, std::span<const double> reference,
                                        const char* function) {
  if (candidate.size() != reference.size()) {
    return Status::InvalidArgument(std::string(function) + ": paired inputs differ in length: candidate has " +
                                   std::to_string(candidate.size()) + " items, reference " +
                                   std::to_string(reference.size()));
  }
  std::vector<double> d(candidate.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = candidate[i] - reference[i];
  return d;
}

double UncheckedMean(std::span<const double> values) {
  double sum = 0.0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

}  // namespace

Result<double> Mean(std::span<const double> values) {
  FP4LAB_RETURN_IF_ERROR(CheckAtLeast(values, 1, "Mean"));
  return UncheckedMean(values);
}

Result<double> SampleStddev(std::span<const double> values) {
  FP4LAB_RETURN_IF_ERROR(CheckAtLeast(values, 2, "SampleStddev"));
  const double mean = UncheckedMean(values);
  double sum_sq = 0.0;
  for (double v : values) sum_sq += (v - mean) * (v - mean);
  return std::sqrt(sum_sq / static_cast<double>(values.size() - 1));
}

Result<double> StandardError(std::span<const double> values) {
  FP4LAB_RETURN_IF_ERROR(CheckAtLeast(values, 2, "StandardError"));
  FP4LAB_ASSIGN_OR_RETURN(double stddev, SampleStddev(values));
  return stddev / std::sqrt(static_cast<double>(values.size()));
}

Result<double> Percentile(std::span<const double> values, double q) {
  FP4LAB_RETURN_IF_ERROR(CheckAtLeast(values, 1, "Percentile"));
  if (!(q >= 0.0 && q <= 100.0)) {
    return Status::InvalidArgument("Percentile: q is " + std::to_string(q) + ", expected 0 <= q <= 100");
  }
  std::vector<double> sorted(values.begin(), values.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (std::isnan(sorted[i])) return Status::InvalidArgument("Percentile: value " + std::to_string(i) + " is NaN");
  }
  std::sort(sorted.begin(), sorted.end());
  const double h = static_cast<double>(sorted.size() - 1) * q / 100.0;
  const size_t lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

Result<ConfidenceInterval> WilsonInterval(int64_t successes, int64_t n, double z) {
  if (n <= 0 || successes < 0 || successes > n) {
    return Status::InvalidArgument("WilsonInterval: " + std::to_string(successes) + " successes of " +
                                   std::to_string(n) + " trials; expected 0 <= successes <= n and n > 0");
  }
  if (!(z > 0.0)) return Status::InvalidArgument("WilsonInterval: z is " + std::to_string(z) + ", expected > 0");
  const double nd = static_cast<double>(n);
  const double p = static_cast<double>(successes) / nd;
  const double z2 = z * z;
  const double denom = 1.0 + z2 / nd;
  const double center = (p + z2 / (2.0 * nd)) / denom;
  const double half = z / denom * std::sqrt(p * (1.0 - p) / nd + z2 / (4.0 * nd * nd));
  // Exact arithmetic gives low = 0 at p = 0 and high = 1 at p = 1; clamp the rounding.
  return ConfidenceInterval{.estimate = p,
                            .low = std::clamp(center - half, 0.0, p),
                            .high = std::clamp(center + half, p, 1.0)};
}

Result<double> WilsonLowerBound(int64_t successes, int64_t n, double z) {
  FP4LAB_ASSIGN_OR_RETURN(ConfidenceInterval interval, WilsonInterval(successes, n, z));
  return interval.low;
}

Result<double> McNemarExactPValue(int64_t b, int64_t c) {
  if (b < 0 || c < 0) {
    return Status::InvalidArgument("McNemarExactPValue: flip counts b = " + std::to_string(b) +
                                   ", c = " + std::to_string(c) + "; expected both >= 0");
  }
  const int64_t n = b + c;
  if (n == 0) return 1.0;
  const int64_t k = std::min(b, c);
  // sum_{i<=k} C(n,i) = C(n,k) * sum_{i<=k} r_i with r_k = 1, r_{i-1} = r_i * i / (n - i + 1). Since k <= n/2 the
  // ratios are <= 1, so nothing overflows and only negligible terms underflow; C(n,k) / 2^n comes from lgamma.
  double ratio_sum = 1.0;
  double r = 1.0;
  for (int64_t i = k; i > 0; --i) {
    r *= static_cast<double>(i) / static_cast<double>(n - i + 1);
    ratio_sum += r;
  }
  const double nd = static_cast<double>(n);
  const double kd = static_cast<double>(k);
  const double log_head =
      std::lgamma(nd + 1.0) - std::lgamma(kd + 1.0) - std::lgamma(nd - kd + 1.0) - nd * std::log(2.0);
  return std::min(1.0, 2.0 * std::exp(log_head) * ratio_sum);
}

Result<FlipCounts> CountFlips(std::span<const double> reference, std::span<const double> candidate) {
  if (reference.size() != candidate.size()) {
    return Status::InvalidArgument("CountFlips: paired inputs differ in length: reference has " +
                                   std::to_string(reference.size()) + " items, candidate " +
                                   std::to_string(candidate.size()));
  }
  FlipCounts flips;
  for (size_t i = 0; i < reference.size(); ++i) {
    for (double v : {reference[i], candidate[i]}) {
      if (v != 0.0 && v != 1.0) {
        return Status::InvalidArgument("CountFlips: item " + std::to_string(i) + " has score " + std::to_string(v) +
                                       ", expected 0 or 1");
      }
    }
    if (reference[i] == 1.0 && candidate[i] == 0.0) ++flips.b;
    if (reference[i] == 0.0 && candidate[i] == 1.0) ++flips.c;
  }
  return flips;
}

Result<ConfidenceInterval> PairedBootstrapCi(std::span<const double> candidate, std::span<const double> reference,
                                             const BootstrapOptions& options) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<double> d, Differences(candidate, reference, "PairedBootstrapCi"));
  FP4LAB_RETURN_IF_ERROR(CheckAtLeast(d, 1, "PairedBootstrapCi"));
  if (options.resamples < 1) {
    return Status::InvalidArgument("PairedBootstrapCi: resamples is " + std::to_string(options.resamples) +
                                   ", expected >= 1");
  }
  if (!(options.confidence > 0.0 && options.confidence < 1.0)) {
    return Status::InvalidArgument("PairedBootstrapCi: confidence is " + std::to_string(options.confidence) +
                                   ", expected 0 < confidence < 1");
  }
  std::mt19937_64 rng(options.seed);
  const uint64_t n = d.size();
  std::vector<double> means(static_cast<size_t>(options.resamples));
  for (double& mean : means) {
    double sum = 0.0;
    for (uint64_t draw = 0; draw < n; ++draw) {
      const uint64_t index = static_cast<uint64_t>((static_cast<unsigned __int128>(rng()) * n) >> 64);
      sum += d[index];
    }
    mean = sum / static_cast<double>(n);
  }
  const double tail = (1.0 - options.confidence) / 2.0 * 100.0;
  FP4LAB_ASSIGN_OR_RETURN(double low, Percentile(means, tail));
  FP4LAB_ASSIGN_OR_RETURN(double high, Percentile(means, 100.0 - tail));
  return ConfidenceInterval{.estimate = UncheckedMean(d), .low = low, .high = high};
}

Result<ConfidenceInterval> PairedNormalCi(std::span<const double> candidate, std::span<const double> reference,
                                          double z) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<double> d, Differences(candidate, reference, "PairedNormalCi"));
  if (!(z > 0.0)) return Status::InvalidArgument("PairedNormalCi: z is " + std::to_string(z) + ", expected > 0");
  FP4LAB_ASSIGN_OR_RETURN(double se, StandardError(d));
  const double mean = UncheckedMean(d);
  return ConfidenceInterval{.estimate = mean, .low = mean - z * se, .high = mean + z * se};
}

}  // namespace fp4lab
