// FakeBlockDenoiser: a deterministic BlockDenoiser for task tests (no weights), and FakeDiffusionModel, a
// FakeLanguageModel whose AsBlockDenoiser() returns one.
//
// Logits of canvas position j: a pseudo-random value in [-3, 3) per vocab id from a hash of (seed, the committed
// tokens, the canvas, j), plus `noise` times another such value in [-1, 1) (a "quantized" twin of the same seed),
// plus 4 x softmax(self_conditioning row j) when self-conditioning is given. Records every Commit and Denoise input.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/diffusion/block_denoiser.h"
#include "tasks/fake_language_model.h"

namespace fp4lab::testing {

struct FakeDenoiserOptions {
  int64_t vocab_size = 259;
  int canvas_length = 8;
  int64_t max_context = 64;
  uint64_t seed = 0;
  float noise = 0.0f;
};

class FakeBlockDenoiser : public BlockDenoiser {
 public:
  struct DenoiseCall {
    std::vector<int32_t> canvas;
    std::vector<float> self_conditioning;
  };

  explicit FakeBlockDenoiser(FakeDenoiserOptions options = {}) : options_(options) {}

  int64_t vocab_size() const override { return options_.vocab_size; }
  int canvas_length() const override { return options_.canvas_length; }
  int64_t max_context() const override { return options_.max_context; }
  void Reset() override { committed_.clear(); }
  int64_t committed_tokens() const override { return static_cast<int64_t>(committed_.size()); }

  Status Commit(std::span<const int32_t> tokens) override {
    if (committed_.size() + tokens.size() > static_cast<size_t>(options_.max_context - options_.canvas_length)) {
      return Status::InvalidArgument("FakeBlockDenoiser::Commit: context full");
    }
    committed_.insert(committed_.end(), tokens.begin(), tokens.end());
    commits_.emplace_back(tokens.begin(), tokens.end());
    return Status::Ok();
  }

  Status Denoise(std::span<const int32_t> canvas, std::span<const float> self_conditioning,
                 std::span<float> logits) override {
    const size_t c = static_cast<size_t>(options_.canvas_length), vocab = static_cast<size_t>(options_.vocab_size);
    if (canvas.size() != c || logits.size() != c * vocab ||
        (!self_conditioning.empty() && self_conditioning.size() != c * vocab)) {
      return Status::InvalidArgument("FakeBlockDenoiser::Denoise: wrong sizes");
    }
    calls_.push_back({{canvas.begin(), canvas.end()}, {self_conditioning.begin(), self_conditioning.end()}});
    uint64_t hash = Mix(options_.seed);
    for (int32_t t : committed_) hash = Mix(hash ^ static_cast<uint64_t>(t));
    hash = Mix(hash ^ 0xC0FFEEull);
    for (int32_t t : canvas) hash = Mix(hash ^ static_cast<uint64_t>(t));
    for (size_t j = 0; j < c; ++j) {
      const uint64_t position = Mix(hash ^ j);
      double max_sc = -INFINITY, sum = 0.0;
      for (size_t v = 0; v < vocab && !self_conditioning.empty(); ++v) {
        max_sc = std::max(max_sc, static_cast<double>(self_conditioning[j * vocab + v]));
      }
      for (size_t v = 0; v < vocab && !self_conditioning.empty(); ++v) {
        sum += std::exp(self_conditioning[j * vocab + v] - max_sc);
      }
      for (size_t v = 0; v < vocab; ++v) {
        double x = 6.0 * (Uniform(position, v, 1) - 0.5);
        if (options_.noise != 0.0f) x += options_.noise * 2.0 * (Uniform(position, v, 2) - 0.5);
        if (!self_conditioning.empty()) x += 4.0 * std::exp(self_conditioning[j * vocab + v] - max_sc) / sum;
        logits[j * vocab + v] = static_cast<float>(x);
      }
    }
    return Status::Ok();
  }

  const std::vector<std::vector<int32_t>>& commits() const { return commits_; }
  const std::vector<DenoiseCall>& calls() const { return calls_; }

 private:
  static uint64_t Mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }
  static double Uniform(uint64_t hash, size_t v, uint64_t stream) {
    return static_cast<double>(Mix(hash ^ Mix(static_cast<uint64_t>(v) * 4 + stream)) >> 40) / 16777216.0;
  }

  FakeDenoiserOptions options_;
  std::vector<int32_t> committed_;
  std::vector<std::vector<int32_t>> commits_;
  std::vector<DenoiseCall> calls_;
};

// A FakeLanguageModel (tokenizer, context) that is a block-diffusion model.
class FakeDiffusionModel : public FakeLanguageModel {
 public:
  explicit FakeDiffusionModel(FakeDenoiserOptions denoiser = {}, FakeModelOptions model = {})
      : FakeLanguageModel(WithVocab(model, denoiser)), denoiser_(denoiser) {}
  BlockDenoiser* AsBlockDenoiser() override { return &denoiser_; }
  FakeBlockDenoiser& denoiser() { return denoiser_; }

 private:
  static FakeModelOptions WithVocab(FakeModelOptions model, const FakeDenoiserOptions& denoiser) {
    model.vocab_size = static_cast<int>(denoiser.vocab_size);
    model.max_context = static_cast<int>(denoiser.max_context);
    return model;
  }
  FakeBlockDenoiser denoiser_;
};

}  // namespace fp4lab::testing
