// Entropy-bound acceptance (EB-sampler, arXiv 2505.24857), as transformers' EntropyBoundSampler.accept_canvas
// applies it to a DiffusionGemma canvas.
//
// Sort the positions' entropies ascending, e_(1) <= e_(2) <= ...; rank k is accepted when
//   cumsum_k - cummax_k = (e_(1) + ... + e_(k)) - e_(k) = e_(1) + ... + e_(k-1) <= bound,
// the left side bounding the joint mutual information of the accepted tokens. The left side never decreases with k,
// so the accepted positions are a prefix of the sorted order; the first is always accepted (0 <= bound), so every
// step accepts at least one token. Ties in entropy are ordered by position (a stable sort; torch.sort promises no
// order among ties, and which tied position is accepted is the only thing that order can change).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fp4lab {

// accepted[p] is 1 when position p's token is accepted, else 0. Entropies in nats, >= 0; the running sum is in
// double. REQUIRES: bound > 0.
std::vector<uint8_t> AcceptByEntropyBound(std::span<const double> entropies, double bound);

}  // namespace fp4lab
