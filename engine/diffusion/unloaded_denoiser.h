// UnloadedDenoiser: the BlockDenoiser of a block-diffusion model opened without weights (Engine::OpenWithoutWeights,
// the runner's checks before it loads a precision). Its sizes answer as the loaded model's would, so task checks can
// read them; Commit and Denoise return FailedPrecondition.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "engine/diffusion/block_denoiser.h"
#include "engine/model_config.h"

namespace fp4lab {

class UnloadedDenoiser : public BlockDenoiser {
 public:
  // `model_dir` names the model in errors.
  UnloadedDenoiser(const ModelConfig& config, std::string model_dir) : config_(config), model_dir_(std::move(model_dir)) {}

  int64_t vocab_size() const override { return config_.vocab_size; }
  int canvas_length() const override { return config_.canvas_length; }
  int64_t max_context() const override { return config_.max_position_embeddings; }
  void Reset() override {}
  int64_t committed_tokens() const override { return 0; }
  Status Commit(std::span<const int32_t>) override { return Unloaded("Commit"); }
  Status Denoise(std::span<const int32_t>, std::span<const float>, std::span<float>) override {
    return Unloaded("Denoise");
  }

 private:
  Status Unloaded(const char* operation) const {
    return Status::FailedPrecondition(std::string(operation) + ": " + model_dir_ +
                                      " was opened without weights (for checks only)");
  }

  const ModelConfig& config_;
  std::string model_dir_;
};

}  // namespace fp4lab
