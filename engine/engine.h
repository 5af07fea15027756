// Engine: the facade that opens a checkpoint directory on a backend at one precision and implements the
// LanguageModel surface tasks use. Engine::Open is the only entry point the harness needs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/arch/architecture.h"
#include "engine/backend.h"
#include "engine/language_model.h"
#include "engine/quant_config.h"
#include "engine/tokenizer.h"
#include "engine/weight_loader.h"

namespace fp4lab {

struct EngineOptions {
  std::string model_dir;           // HF checkpoint directory (config.json, *.safetensors, tokenizer.model)
  std::string precision = "bf16";  // "bf16" | "nvfp4" | "nvfp4-w4a16" | "fp8"
  std::string device = "cpu";      // "cpu" | "cuda[:N]"
  // Calibration text for activation scales when a bf16 checkpoint is quantized on load to nvfp4 (W4A4) or fp8:
  // the first `calibration_tokens` tokens (BOS + text) set each Linear's input amax.
  std::string calibration_text;
  int calibration_tokens = 512;
};

// "bf16" -> kBf16 etc.; InvalidArgument listing the valid names otherwise.
Result<LinearScheme> ParsePrecision(const std::string& name);
// The inverse: "bf16", "nvfp4", "nvfp4-w4a16", "fp8".
const char* PrecisionName(LinearScheme scheme);

class Engine : public LanguageModel {
 public:
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  ~Engine() override;

  // LanguageModel
  std::string Describe() const override;
  int VocabSize() const override { return config_.vocab_size; }
  int MaxContext() const override { return config_.max_position_embeddings; }
  TokenId BosId() const override { return config_.bos_token_id; }
  TokenId EosId() const override { return config_.eos_token_id; }
  // Fails with the tokenizer's NotFound message when the checkpoint has no tokenizer.model.
  Result<std::vector<TokenId>> Encode(std::string_view text) const override;
  // Empty when the checkpoint has no tokenizer.
  std::string Decode(std::span<const TokenId> tokens) const override;
  Result<std::vector<float>> Logits(std::span<const TokenId> tokens) override;
  Result<std::vector<TokenId>> Generate(std::span<const TokenId> prompt, int max_new_tokens,
                                        const SamplingOptions& sampling,
                                        const std::function<bool(TokenId)>& on_token) override;

  const ModelConfig& config() const { return config_; }
  const QuantConfig& quant_config() const { return quant_; }
  const std::vector<LayerPrecision>& layer_map() const { return layer_map_; }
  LinearScheme precision() const { return scheme_; }
  Backend& backend() { return *backend_; }
  Model& model() { return *model_; }
  // Provenance of this engine: precision, the path each scheme ran on this device, device facts, weight bytes.
  nlohmann::json Provenance() const;

 private:
  Engine() = default;

  EngineOptions options_;
  ModelConfig config_;
  QuantConfig quant_;
  LinearScheme scheme_ = LinearScheme::kBf16;
  std::unique_ptr<SafetensorsReader> reader_;
  std::unique_ptr<Tokenizer> tokenizer_;  // null when the checkpoint has none
  Status tokenizer_error_;                 // why tokenizer_ is null
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Model> model_;
  std::vector<LayerPrecision> layer_map_;
};

}  // namespace fp4lab
