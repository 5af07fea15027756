#include "engine/synthetic_spec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <system_error>
#include <thread>
#include <vector>

namespace fp4lab {

namespace {

static_assert(std::endian::native == std::endian::little, "word bytes are stored little-endian");

constexpr float kBlockScaleCenter = 256.0f;  // block scales span 256 * 2^[-1/2, 1/2)

std::unique_ptr<SyntheticLevelTables> BuildLevels() {
  auto t = std::make_unique<SyntheticLevelTables>();
  // Standard normal quantiles by bisection on Phi, exactly antisymmetric (so the table's mean is 0).
  for (int i = 0; i < kSyntheticLevels / 2; ++i) {
    const double p = (i + 0.5) / kSyntheticLevels;
    double lo = -8.0, hi = 0.0;  // Phi(lo) < p <= Phi(hi) = 1/2
    for (int iter = 0; iter < 56; ++iter) {
      const double mid = 0.5 * (lo + hi);
      if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    t->normal[i] = static_cast<float>(0.5 * (lo + hi));
    t->normal[kSyntheticLevels - 1 - i] = -t->normal[i];
  }
  const float to_fp8 = kE4M3MaxValue / std::fabs(t->normal[0]);
  for (int level = 0; level < kSyntheticLevels; ++level) {
    const double u = (level + 0.5) / kSyntheticLevels;
    t->block_scale[level] = F32ToE4M3(static_cast<float>(kBlockScaleCenter * std::exp2(u - 0.5)));
    t->fp8_normal[level] = F32ToE4M3(t->normal[level] * to_fp8);
  }
  return t;
}

// Runs fill(begin, end) over words [0, words), split across threads for large tensors. Every word is computed from
// its index alone, so the split never changes the bytes.
template <typename Fill>
void ParallelFill(int64_t words, const Fill& fill) {
  constexpr int64_t kMinWordsPerThread = int64_t{1} << 18;
  const int64_t hardware = std::max(1u, std::thread::hardware_concurrency());
  const int64_t threads = std::clamp<int64_t>(words / kMinWordsPerThread, 1, hardware);
  const int64_t chunk = (words + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t begin = t * chunk, end = std::min(words, begin + chunk);
    if (begin >= end) break;
    try {
      pool.emplace_back(fill, begin, end);
    } catch (const std::system_error&) {
      fill(begin, end);  // no thread available: do this chunk here
    }
  }
  fill(0, std::min(words, chunk));
  for (auto& thread : pool) thread.join();
}

}  // namespace

const SyntheticLevelTables& SyntheticLevels() {
  static const std::unique_ptr<SyntheticLevelTables> tables = BuildLevels();
  return *tables;
}

void GenerateSyntheticBytes(const SyntheticTensor& t, std::span<uint8_t> out) {
  const SyntheticLevelTables& levels = SyntheticLevels();
  const int64_t bytes = static_cast<int64_t>(out.size());
  const int64_t per_word = SyntheticBytesPerWord(t.fill);
  uint8_t* data = out.data();
  ParallelFill(t.Words(), [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const uint64_t value = SyntheticWordBytes(t, levels, static_cast<uint64_t>(j));
      std::memcpy(data + j * per_word, &value, static_cast<size_t>(std::min(per_word, bytes - j * per_word)));
    }
  });
}

}  // namespace fp4lab
