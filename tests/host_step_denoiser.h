// A BlockDenoiser that forwards everything to `inner` but DenoiseStep, which stays BlockDenoiser's default: Denoise
// into host memory, then ProcessCanvasRow on the host (engine/diffusion/block_denoiser.h). Tests compare a model's own
// device-resident step against it.
#pragma once

#include <cstdint>
#include <span>

#include "engine/diffusion/block_denoiser.h"

namespace fp4lab::testing {

class HostStepDenoiser : public BlockDenoiser {
 public:
  explicit HostStepDenoiser(BlockDenoiser& inner) : inner_(inner) {}
  int64_t vocab_size() const override { return inner_.vocab_size(); }
  int canvas_length() const override { return inner_.canvas_length(); }
  int64_t max_context() const override { return inner_.max_context(); }
  void Reset() override { inner_.Reset(); }
  int64_t committed_tokens() const override { return inner_.committed_tokens(); }
  Status Commit(std::span<const int32_t> tokens) override { return inner_.Commit(tokens); }
  Status Denoise(std::span<const int32_t> canvas, std::span<const float> self_conditioning,
                 std::span<float> logits) override {
    return inner_.Denoise(canvas, self_conditioning, logits);
  }

 private:
  BlockDenoiser& inner_;  // not owned
};

}  // namespace fp4lab::testing
