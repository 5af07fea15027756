// Engine: the facade that opens a checkpoint directory on a backend at one precision and implements the
// LanguageModel surface tasks use. Engine::Open is the only entry point the harness needs.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/arch/architecture.h"
#include "engine/backend.h"
#include "engine/diffusion/diffusion_generation_config.h"
#include "engine/diffusion/unloaded_denoiser.h"
#include "engine/kv_cache_format.h"
#include "engine/language_model.h"
#include "engine/quant_config.h"
#include "engine/split_experts_source.h"
#include "engine/synthetic_weights.h"
#include "engine/tokenizer.h"
#include "engine/weight_loader.h"

namespace fp4lab {

struct EngineOptions {
  // HF checkpoint directory (config.json, *.safetensors, tokenizer.json or tokenizer.model), or a synthetic model dir
  // (config.json + fp4lab_synthetic.json, engine/synthetic_weights.h), whose weights are generated on load.
  std::string model_dir;
  // The weights' precision, "bf16" | "nvfp4" | "nvfp4-w4a16" | "fp8", optionally with the KV-cache format as in a
  // stored label ("nvfp4+kv-fp8", engine/kv_cache_format.h), which then wins over `kv_cache`.
  std::string precision = "bf16";
  // The KV-cache format: "auto" (what the checkpoint's kv_cache_quant_algo declares; bf16 for synthetic models,
  // whose quantization config is ignored), "bf16" or "fp8".
  std::string kv_cache = "auto";
  std::string device = "cpu";      // "cpu" | "cuda[:N]"
  // Calibration text for activation scales when a bf16 checkpoint is quantized on load to nvfp4 (W4A4) or fp8:
  // the first `calibration_tokens` tokens (BOS + text) set each Linear's input amax.
  std::string calibration_text;
  int calibration_tokens = 512;
  // Memory budget of one batched pass (ScoreBatch, LogitsBatch, GenerateBatch: engine/batch_memory.h), in bytes;
  // 0 = half of the device's free memory when the batch starts.
  int64_t batch_memory_bytes = 0;
};

// "bf16" -> kBf16 etc.; InvalidArgument listing the valid names otherwise.
Result<LinearScheme> ParsePrecision(const std::string& name);
// The inverse: "bf16", "nvfp4", "nvfp4-w4a16", "fp8".
const char* PrecisionName(LinearScheme scheme);

// Runs a bf16 checkpoint on the CPU reference over `tokens` (in windows of the model's context) and returns the
// max |x| of every Linear's input, keyed by Linear prefix: the activation amax that ModelOpt's "max" calibration
// turns into input_scale = amax / 2688 (NVFP4) or amax / 448 (FP8).
Result<std::map<std::string, float>> CalibrateActivations(const ModelBlueprint& blueprint,
                                                          const TensorSource& reader, const QuantConfig& quant,
                                                          const std::vector<int32_t>& tokens);

// The KV-cache format `choice` (--kv-cache: auto, bf16, fp8) selects for the checkpoint in `model_dir`, as
// Engine::Open resolves it (a synthetic model dir carries no quantization config: auto means bf16). Errors: the
// config files' read and parse errors; ResolveKvCacheFormat's.
Result<KvCacheFormat> ResolveKvCacheFormatOf(const std::string& model_dir, const std::string& choice);
// Tokens an engine has run through its model since it was opened, for throughput reports: `forward` = tokens of
// forward passes (scoring, perplexity windows, generation prefill), `generated` = tokens produced by decode steps.
struct TokenCounts {
  int64_t forward = 0;
  int64_t generated = 0;
};

class Engine : public LanguageModel {
 public:
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  // Everything Open checks and reads before the weights (config, quant config, tensor headers, tokenizer, the
  // calibration precondition), without reading a weight or creating a backend: a model that answers VocabSize,
  // MaxContext, Encode and the like, for checks before a run (Task::Preflight) that must not hold a model's
  // memory. Its compute methods (Logits, ScoreTokens, Generate) return FailedPrecondition; backend(), model() and
  // Provenance() must not be called (has_weights() is false).
  static Result<std::unique_ptr<Engine>> OpenWithoutWeights(const EngineOptions& options);
  // A model with deterministic random weights (engine/synthetic_weights.h) for the config `spec.config` (any
  // family the engine runs), served in the stored form of options.precision (so no calibration is needed; a
  // quantization_config in the config is ignored). options.model_dir is only recorded in provenance (the origin
  // when empty). The generated host copy is released once the backend has prepared every layer.
  // With spec.tokenizer_dir, that tokenizer encodes and decodes text (InvalidArgument when it has more ids than the
  // config's vocabulary; Tokenizer::Open errors).
  // Errors: the config's parse errors naming spec.origin; ResourceExhausted with the bytes needed when host memory
  // cannot hold the generated weights (and, on the CPU backend, their f32 form).
  static Result<std::unique_ptr<Engine>> OpenSynthetic(const SyntheticModelSpec& spec, const EngineOptions& options);
  // OpenSynthetic for a built-in preset (engine/presets.h) with seed 0. InvalidArgument listing the presets if
  // `preset` is unknown.
  static Result<std::unique_ptr<Engine>> OpenPreset(const std::string& preset, const EngineOptions& options);
  ~Engine() override;

  // LanguageModel
  std::string Describe() const override;
  int VocabSize() const override { return config_.vocab_size; }
  int MaxContext() const override { return config_.max_position_embeddings; }
  TokenId BosId() const override { return config_.bos_token_id; }
  TokenId EosId() const override { return config_.eos_token_id; }
  // config.json's eos ids, then the tokenizer's (generation_config.json, tokenizer_config.json), without repeats.
  std::vector<TokenId> EosIds() const override;
  // Fails with the tokenizer's NotFound message when the checkpoint has neither tokenizer.json nor tokenizer.model.
  Result<std::vector<TokenId>> Encode(std::string_view text) const override;
  // Empty when the checkpoint has no tokenizer.
  std::string Decode(std::span<const TokenId> tokens) const override;
  bool HasTokenizer() const { return tokenizer_ != nullptr; }
  Result<std::vector<float>> Logits(std::span<const TokenId> tokens) override;
  // On the device (Backend::ScoreTokens): only 12 bytes per request come back to the host.
  Result<std::vector<TokenScore>> ScoreTokens(std::span<const TokenId> tokens,
                                              std::span<const ScoreRequest> requests) override;
  // Consecutive sequences share one forward pass (Model::ForwardSequences) while the pass holds at most
  // kScoreBatchRows rows (a longer sequence gets a pass of its own), then one device gather answers every request
  // of the pass. On the CPU reference each row's numbers do not depend on the other rows of its pass, so the scores
  // equal ScoreTokens' bit for bit (tests/engine/score_batch_test.cc).
  Result<std::vector<std::vector<TokenScore>>> ScoreBatch(std::span<const ScoreSequence> batch) override;
  // Rows one ScoreBatch pass may hold: bounds its logits at kScoreBatchRows x vocab f32 (1 GiB at Llama 3's vocab).
  // A pass also stays within the memory budget (EngineOptions::batch_memory_bytes, engine/batch_memory.h
  // ScorePassBytes: activations per row from the blueprint plus a KV cache of sequences x the longest sequence);
  // callers that send sequences sorted by length waste the least of it.
  static constexpr int64_t kScoreBatchRows = 2048;
  // Packed as ScoreBatch (the host copy of each pass's logits counted in its budget); on the CPU reference each
  // row equals Logits' row bit for bit.
  Status LogitsBatch(std::span<const LogitsSequence> batch, const LogitRowsConsumer& on_rows) override;
  // Slots: GenerationSlots (engine/batch_memory.h) of the budget, for a cache whose every slot holds the longest
  // request (prompt + new tokens); more requests than slots wait for a slot. Each prompt is prefilled alone
  // (Model::Forward into its slot), then one Model::DecodeStep advances every live request; a request that ends
  // (EOS, on_token false, its token limit) frees its slot, which the next waiting request takes (lowest slot
  // first). Each step decodes only slots 0 .. the highest live one (the cache narrowed to its first sequences):
  // finished requests past it cost nothing, holes below it one row each. On the CPU reference every request's
  // tokens equal Generate's (each row's numbers do not depend on the other rows of a step, and each request samples
  // with its own generator); on CUDA a step's batched GEMMs may round differently from batch 1.
  Result<std::vector<std::vector<TokenId>>> GenerateBatch(std::span<const GenerationRequest> requests,
                                                          const BatchTokenCallback& on_token) override;
  // On a block-diffusion model (config().block_diffusion) Logits, ScoreTokens, ScoreBatch and LogitsBatch return
  // FailedPrecondition (no causal next-token distribution), and Generate runs block-diffusion sampling
  // (GenerateByDiffusion, engine/engine_diffusion.cc).
  Result<std::vector<TokenId>> Generate(std::span<const TokenId> prompt, int max_new_tokens,
                                        const SamplingOptions& sampling,
                                        const std::function<bool(TokenId)>& on_token) override;
  // A diffusion model's denoiser (an UnloadedDenoiser, whose sizes answer but which cannot run, when the engine was
  // opened without weights); null for a causal model.
  BlockDenoiser* AsBlockDenoiser() override;
  // A diffusion model's sampler settings: its generation_config.json (defaults where absent; EosIds() added to its
  // EOS ids); empty for a causal model.
  const std::optional<DiffusionGenerationConfig>& diffusion_generation() const { return diffusion_generation_; }

  bool has_weights() const { return model_ != nullptr; }
  const ModelConfig& config() const { return config_; }
  // The family's view of the config: tensor manifest, KV-cache and activation sizes (engine/arch/architecture.h).
  const ModelBlueprint& blueprint() const { return *blueprint_; }
  const QuantConfig& quant_config() const { return quant_; }
  const std::vector<LayerPrecision>& layer_map() const { return layer_map_; }
  LinearScheme precision() const { return scheme_; }
  KvCacheFormat kv_cache_format() const { return kv_cache_format_; }
  // The stored label of what this engine runs: weights and KV-cache format (PrecisionLabelFor).
  std::string StoredLabel() const;
  Backend& backend() { return *backend_; }
  Model& model() { return *model_; }
  // Bytes this engine has copied from its device to the host (logits, scores, generated tokens' rows) since it
  // was opened: what a scoring call costs in transfers.
  int64_t DownloadedBytes() const { return downloaded_bytes_; }
  // Tokens processed by Logits, ScoreTokens and Generate since the engine was opened (TokenCounts).
  TokenCounts TokensProcessed() const { return tokens_; }
  // Provenance of this engine: precision, the path each scheme ran on this device, device facts, weight bytes.
  nlohmann::json Provenance() const;

 private:
  Engine() = default;
  static Result<std::unique_ptr<Engine>> OpenDirectory(const EngineOptions& options, bool load_weights);
  static Result<std::unique_ptr<Engine>> OpenSyntheticImpl(const SyntheticModelSpec& spec,
                                                           const EngineOptions& options, bool load_weights);
  // FailedPrecondition for an engine opened without weights.
  Status RequireWeights(const char* operation) const;
  // FailedPrecondition for a block-diffusion model, which has no causal next-token distribution.
  Status RequireCausal(const char* operation) const;

  EngineOptions options_;
  std::unique_ptr<ModelBlueprint> blueprint_;
  ModelConfig config_;
  QuantConfig quant_;
  LinearScheme scheme_ = LinearScheme::kBf16;
  KvCacheFormat kv_cache_format_ = KvCacheFormat::kBf16;
  std::unique_ptr<SplitExpertsSource> reader_;  // the checkpoint, fused experts served per expert
  std::unique_ptr<Tokenizer> tokenizer_;  // null when the checkpoint has none
  Status tokenizer_error_;                 // why tokenizer_ is null
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Model> model_;
  std::vector<LayerPrecision> layer_map_;
  nlohmann::json synthetic_;  // {origin, seed, ...} for a synthetic model; null otherwise
  int64_t downloaded_bytes_ = 0;
  TokenCounts tokens_;
  std::optional<DiffusionGenerationConfig> diffusion_generation_;  // set for block-diffusion models
  std::unique_ptr<UnloadedDenoiser> unloaded_denoiser_;             // a diffusion model opened without weights

  // For a block-diffusion model: reads `model_dir`'s generation_config.json (empty: a synthetic model, defaults)
  // into diffusion_generation_ and makes unloaded_denoiser_. InvalidArgument naming the file and field.
  Status ReadDiffusionSettings(const std::string& model_dir);
  // Generate on a block-diffusion model (engine/engine_diffusion.cc).
  Result<std::vector<TokenId>> GenerateByDiffusion(std::span<const TokenId> prompt, int max_new_tokens,
                                                   const SamplingOptions& sampling,
                                                   const std::function<bool(TokenId)>& on_token);

  // backend_->Download, counted in downloaded_bytes_.
  Status Download(const DeviceTensor& src, std::span<float> host);
  // Sets scheme_ and kv_cache_format_ from options.precision and options.kv_cache for a checkpoint whose
  // quantization config is quant_ (`source` names it in errors).
  Status ResolvePrecision(const EngineOptions& options, const std::string& source);
  // A forward pass over `tokens` (fresh cache) into device logits [tokens, vocab].
  Result<std::unique_ptr<DeviceTensor>> ForwardLogits(std::span<const TokenId> tokens);
  // The device gather of `requests` (rows of `logits`) into scores.
  Result<std::vector<TokenScore>> GatherScores(const DeviceTensor& logits, std::span<const ScoreRequest> requests);
  // Consecutive [begin, end) ranges of sequences of these lengths, each one pass within kScoreBatchRows and the
  // memory budget (with `host_logits`: the pass's logits also copied to the host).
  Result<std::vector<std::pair<size_t, size_t>>> PlanPasses(std::span<const size_t> lengths, bool host_logits) const;
  // One ScoreBatch pass over batch[begin, end).
  Status ScorePass(std::span<const ScoreSequence> batch, size_t begin, size_t end,
                   std::vector<std::vector<TokenScore>>& out);
};

}  // namespace fp4lab
