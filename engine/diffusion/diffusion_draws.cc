#include "engine/diffusion/diffusion_draws.h"

namespace fp4lab {

namespace {

// SplitMix64's output function (Steele, Lea, Flood 2014): a bijection of 64-bit words with full avalanche.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

constexpr uint64_t kNoiseDraw = 1;
constexpr uint64_t kSampleDraw = 2;

}  // namespace

uint64_t CounterDraws::Hash(uint64_t kind, int canvas, int step, int position) const {
  uint64_t h = SplitMix64(seed_);
  h = SplitMix64(h ^ kind);
  h = SplitMix64(h ^ static_cast<uint32_t>(canvas));
  h = SplitMix64(h ^ static_cast<uint32_t>(step));
  return SplitMix64(h ^ static_cast<uint32_t>(position));
}

int32_t CounterDraws::NoiseToken(int canvas, int step, int position, int64_t vocab_size) {
  const unsigned __int128 product =
      static_cast<unsigned __int128>(Hash(kNoiseDraw, canvas, step, position)) * static_cast<uint64_t>(vocab_size);
  return static_cast<int32_t>(product >> 64);
}

double CounterDraws::SampleUniform(int canvas, int step, int position) {
  return static_cast<double>(Hash(kSampleDraw, canvas, step, position) >> 11) * 0x1.0p-53;
}

}  // namespace fp4lab
