// DiffusionDraws: every random number the block-diffusion sampler uses, behind an interface so that tests fix them.
//
// A draw is named by where it is used: the canvas (0 for the first block of a generation), the step (0 for a
// canvas's initial noise, s >= 1 for denoising step s: its sampling uniforms and the renoise ids that follow it) and
// the canvas position. Naming draws instead of consuming a stream keeps a generation independent of the order in
// which positions are evaluated, so a device implementation may draw them in parallel and agree with this one.
#pragma once

#include <cstdint>

namespace fp4lab {

class DiffusionDraws {
 public:
  virtual ~DiffusionDraws() = default;
  // A uniformly random vocabulary id in [0, vocab_size): the initial canvas (step 0), and the renoise of a rejected
  // position after denoising step `step` (transformers' torch.randint over the vocabulary).
  virtual int32_t NoiseToken(int canvas, int step, int position, int64_t vocab_size) = 0;
  // A uniform in [0, 1) that draws position `position`'s token at denoising step `step` (>= 1).
  virtual double SampleUniform(int canvas, int step, int position) = 0;
};

// The seeded default: each draw is a hash of (seed, kind of draw, canvas, step, position) through chained SplitMix64
// finalizers, so a generation is a pure function of its seed (on one machine and any other).
class CounterDraws final : public DiffusionDraws {
 public:
  explicit CounterDraws(uint64_t seed) : seed_(seed) {}
  // Lemire's multiply-shift of a 64-bit hash: the bias towards some ids is at most vocab_size / 2^64.
  int32_t NoiseToken(int canvas, int step, int position, int64_t vocab_size) override;
  // The top 53 bits of a 64-bit hash times 2^-53.
  double SampleUniform(int canvas, int step, int position) override;

 private:
  uint64_t Hash(uint64_t kind, int canvas, int step, int position) const;
  uint64_t seed_;
};

}  // namespace fp4lab
