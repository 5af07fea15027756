#include "engine/diffusion/entropy_bound.h"

#include <algorithm>
#include <numeric>

namespace fp4lab {

std::vector<uint8_t> AcceptByEntropyBound(std::span<const double> entropies, double bound) {
  std::vector<size_t> order(entropies.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return entropies[a] < entropies[b]; });
  std::vector<uint8_t> accepted(entropies.size(), 0);
  double below = 0.0;  // sum of the entropies ranked before the current one
  for (const size_t position : order) {
    if (below > bound) break;
    accepted[position] = 1;
    below += entropies[position];
  }
  return accepted;
}

}  // namespace fp4lab
