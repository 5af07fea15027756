#include "tasks/pass_at_k.h"

namespace fp4lab {

std::optional<double> PassAtK(int64_t n, int64_t c, int64_t k) {
  if (k < 1 || k > n || c < 0 || c > n) return std::nullopt;
  if (n - c < k) return 1.0;
  double all_fail = 1.0;  // C(n-c, k) / C(n, k)
  for (int64_t i = n - c + 1; i <= n; ++i) all_fail *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - all_fail;
}

std::optional<double> MeanPassAtK(std::span<const PassCounts> problems, int64_t k) {
  if (problems.empty()) return std::nullopt;
  double sum = 0.0;
  for (const PassCounts& p : problems) {
    const std::optional<double> estimate = PassAtK(p.n, p.c, k);
    if (!estimate) return std::nullopt;
    sum += *estimate;
  }
  return sum / static_cast<double>(problems.size());
}

}  // namespace fp4lab
