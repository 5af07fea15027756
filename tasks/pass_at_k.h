// pass@k, the unbiased estimator of Chen et al. 2021 (openai/human-eval human_eval/evaluation.py).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace fp4lab {

// For one problem with n samples of which c passed: 1 - C(n-c, k) / C(n, k), computed as the numerically stable
// product 1 - prod_{i=n-c+1..n} (1 - k/i); exactly 1.0 when n - c < k.
// std::nullopt when the estimate is undefined: k > n (not reported, as in human-eval), k < 1, or c outside [0, n].
std::optional<double> PassAtK(int64_t n, int64_t c, int64_t k);

struct PassCounts {
  int64_t n = 0;  // samples run for the problem
  int64_t c = 0;  // samples that passed
};

// Mean of PassAtK over problems. std::nullopt if `problems` is empty or any problem's estimate is undefined
// (human-eval reports pass@k only when every problem has at least k samples).
std::optional<double> MeanPassAtK(std::span<const PassCounts> problems, int64_t k);

}  // namespace fp4lab
