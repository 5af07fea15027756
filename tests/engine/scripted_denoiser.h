// Test doubles for the block-diffusion sampler: a BlockDenoiser whose logits come from a script and which records
// every call, and DiffusionDraws that return fixed, recognisable values.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/diffusion/block_denoiser.h"
#include "engine/diffusion/diffusion_draws.h"

namespace fp4lab::testing {

class ScriptedDenoiser : public BlockDenoiser {
 public:
  // Fills `logits` ([canvas_length, vocab] row-major) for the Denoise call number `call` (0-based, over the whole
  // generation), given the tokens committed so far and the canvas.
  using Script = std::function<void(int call, std::span<const int32_t> committed, std::span<const int32_t> canvas,
                                    std::span<float> logits)>;

  ScriptedDenoiser(int64_t vocab, int canvas_length, int64_t max_context, Script script)
      : vocab_(vocab), canvas_length_(canvas_length), max_context_(max_context), script_(std::move(script)) {}

  int64_t vocab_size() const override { return vocab_; }
  int canvas_length() const override { return canvas_length_; }
  int64_t max_context() const override { return max_context_; }
  void Reset() override {
    ++resets;
    committed.clear();
  }
  int64_t committed_tokens() const override { return static_cast<int64_t>(committed.size()); }
  Status Commit(std::span<const int32_t> tokens) override {
    if (static_cast<int64_t>(committed.size() + tokens.size()) > max_context_ - canvas_length_) {
      return Status::InvalidArgument("ScriptedDenoiser: context full");
    }
    commits.emplace_back(tokens.begin(), tokens.end());
    committed.insert(committed.end(), tokens.begin(), tokens.end());
    return Status::Ok();
  }
  Status Denoise(std::span<const int32_t> canvas, std::span<const float> self_conditioning,
                 std::span<float> logits) override {
    if (static_cast<int>(canvas.size()) != canvas_length_ ||
        static_cast<int64_t>(logits.size()) != canvas_length_ * vocab_ ||
        !(self_conditioning.empty() || self_conditioning.size() == logits.size())) {
      return Status::InvalidArgument("ScriptedDenoiser: wrong sizes");
    }
    canvases.emplace_back(canvas.begin(), canvas.end());
    conditionings.emplace_back(self_conditioning.begin(), self_conditioning.end());
    script_(static_cast<int>(canvases.size()) - 1, committed, canvas, logits);
    return Status::Ok();
  }

  // What the sampler did.
  int resets = 0;
  std::vector<int32_t> committed;                // since the last Reset
  std::vector<std::vector<int32_t>> commits;     // each Commit's tokens
  std::vector<std::vector<int32_t>> canvases;    // each Denoise call's canvas
  std::vector<std::vector<float>> conditionings;  // each Denoise call's self-conditioning (empty: none)

 private:
  int64_t vocab_;
  int canvas_length_;
  int64_t max_context_;
  Script script_;
};

// Row `position` of a [canvas, vocab] logits buffer: every id impossible (-inf) but `ids`, which share the mass
// equally, so the row's entropy is ln(ids.size()) at any temperature.
inline void SetEqualMass(std::span<float> logits, int64_t vocab, int position, std::initializer_list<int32_t> ids) {
  std::span<float> row = logits.subspan(static_cast<size_t>(position * vocab), static_cast<size_t>(vocab));
  for (float& value : row) value = -std::numeric_limits<float>::infinity();
  for (const int32_t id : ids) row[id] = 0.0f;
}

// Noise ids 1000 + 100 * canvas + 10 * step + position (outside any scripted row's ids, so a renoised position is
// recognisable; the scripted denoiser does not check ids against its vocabulary), and sampling uniforms of 0.25
// unless set for a place.
class FixedDraws : public DiffusionDraws {
 public:
  static int32_t Noise(int canvas, int step, int position) { return 1000 + 100 * canvas + 10 * step + position; }
  int32_t NoiseToken(int canvas, int step, int position, int64_t) override { return Noise(canvas, step, position); }
  double SampleUniform(int canvas, int step, int position) override {
    const auto it = uniforms.find({canvas, step, position});
    return it == uniforms.end() ? 0.25 : it->second;
  }
  std::map<std::tuple<int, int, int>, double> uniforms;
};

}  // namespace fp4lab::testing
