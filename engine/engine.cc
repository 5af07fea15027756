#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "engine/cpu/cpu_backend.h"
#include "engine/file_util.h"
#include "engine/host_memory.h"
#include "engine/presets.h"
#include "engine/sampler.h"

namespace fp4lab {

namespace fs = std::filesystem;

Result<LinearScheme> ParsePrecision(const std::string& name) {
  for (LinearScheme s : {LinearScheme::kBf16, LinearScheme::kNvfp4, LinearScheme::kNvfp4W4A16, LinearScheme::kFp8}) {
    if (name == PrecisionName(s)) return s;
  }
  return Status::InvalidArgument("unknown precision '" + name + "' (valid: bf16, nvfp4, nvfp4-w4a16, fp8)");
}

const char* PrecisionName(LinearScheme scheme) { return LinearSchemeName(scheme); }

Result<std::map<std::string, float>> CalibrateActivations(const ModelBlueprint& blueprint,
                                                          const TensorSource& reader, const QuantConfig& quant,
                                                          const std::vector<int32_t>& tokens) {
  const ModelConfig& config = blueprint.config();
  auto cpu = CreateCpuBackend();
  WeightLoader loader(reader, quant, LinearScheme::kBf16);
  FP4LAB_ASSIGN_OR_RETURN(auto model, blueprint.Load(loader, *cpu));
  std::map<std::string, float> amax;
  std::vector<float> host;
  model->SetLinearInputObserver([&](const std::string& name, const DeviceTensor& x) -> Status {
    host.resize(static_cast<size_t>(x.size()));
    FP4LAB_RETURN_IF_ERROR(cpu->Download(x, host));
    float m = amax[name];
    for (float v : host) m = std::max(m, std::fabs(v));
    amax[name] = m;
    return Status::Ok();
  });
  const size_t window = static_cast<size_t>(config.max_position_embeddings);
  for (size_t start = 0; start < tokens.size(); start += window) {
    const size_t n = std::min(window, tokens.size() - start);
    FP4LAB_ASSIGN_OR_RETURN(auto cache, model->NewCache(static_cast<int64_t>(n), 1));
    FP4LAB_ASSIGN_OR_RETURN(auto logits, cpu->Allocate(static_cast<int64_t>(n), config.vocab_size));
    FP4LAB_RETURN_IF_ERROR(model->Forward(std::span(tokens).subspan(start, n), *cache, 0, *logits));
  }
  return amax;
}

namespace {

// The checkpoint's quantization config: config.json's quantization_config and hf_quant_config.json when present.
Result<QuantConfig> ReadCheckpointQuantConfig(const std::string& model_dir, const nlohmann::json& config_json,
                                              const std::string& config_path) {
  const std::string hf_quant_path = (fs::path(model_dir) / "hf_quant_config.json").string();
  std::optional<nlohmann::json> hf_quant;
  if (HasDirectoryEntry(hf_quant_path)) {  // a loop, FIFO or directory there is an error, not "unquantized"
    FP4LAB_ASSIGN_OR_RETURN(hf_quant, ReadJsonFile(hf_quant_path));
  }
  return ParseQuantConfig(config_json, config_path, hf_quant ? &*hf_quant : nullptr, hf_quant_path);
}

}  // namespace

Result<KvCacheFormat> ResolveKvCacheFormatOf(const std::string& model_dir, const std::string& choice) {
  if (choice != "auto" || IsSyntheticModelDir(model_dir)) return ResolveKvCacheFormat(choice, QuantConfig{}, model_dir);
  const std::string config_path = (fs::path(model_dir) / "config.json").string();
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json config_json, ReadJsonFile(config_path));
  FP4LAB_ASSIGN_OR_RETURN(const QuantConfig quant, ReadCheckpointQuantConfig(model_dir, config_json, config_path));
  return ResolveKvCacheFormat(choice, quant, model_dir);
}

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) { return OpenDirectory(options, true); }

Result<std::unique_ptr<Engine>> Engine::OpenWithoutWeights(const EngineOptions& options) {
  return OpenDirectory(options, false);
}

Status Engine::RequireWeights(const char* operation) const {
  if (model_ != nullptr) return Status::Ok();
  return Status::FailedPrecondition(std::string(operation) + ": " + options_.model_dir + " at " + options_.precision +
                                    " was opened without weights (for checks only)");
}

Status Engine::RequireCausal(const char* operation) const {
  if (!config_.block_diffusion) return Status::Ok();
  return Status::FailedPrecondition(std::string(operation) + ": " + config_.model_type + " is a block-diffusion " +
                                    "model with no causal next-token distribution (perplexity and next-token " +
                                    "scoring do not apply; its decoder is reached through AsBlockDenoiser)");
}

Result<std::unique_ptr<Engine>> Engine::OpenDirectory(const EngineOptions& options, bool load_weights) {
  auto engine = std::unique_ptr<Engine>(new Engine());
  engine->options_ = options;
  const fs::path dir(options.model_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status::NotFound(options.model_dir + ": model directory does not exist");
  }
  if (IsSyntheticModelDir(options.model_dir)) {
    FP4LAB_ASSIGN_OR_RETURN(SyntheticModelSpec spec, ReadSyntheticModelDir(options.model_dir));
    return OpenSyntheticImpl(spec, options, load_weights);
  }
  const std::string config_path = (dir / "config.json").string();
  FP4LAB_ASSIGN_OR_RETURN(nlohmann::json config_json, ReadJsonFile(config_path));
  FP4LAB_ASSIGN_OR_RETURN(engine->blueprint_, ParseModelBlueprint(config_json, config_path));
  engine->config_ = engine->blueprint_->config();

  FP4LAB_ASSIGN_OR_RETURN(engine->quant_, ReadCheckpointQuantConfig(options.model_dir, config_json, config_path));
  FP4LAB_RETURN_IF_ERROR(engine->ResolvePrecision(options, options.model_dir));
  FP4LAB_ASSIGN_OR_RETURN(auto reader, SafetensorsReader::Open(options.model_dir));
  FP4LAB_ASSIGN_OR_RETURN(engine->reader_, SplitExpertsSource::Wrap(std::move(reader)));
  // A checkpoint without a tokenizer still runs on token ids (the parity fixtures); Encode then says why not.
  auto tokenizer = Tokenizer::Open(options.model_dir, engine->config_.bos_token_id, engine->config_.eos_token_id);
  if (tokenizer.ok()) {
    engine->tokenizer_ = std::move(tokenizer).value();
  } else if (tokenizer.status().code() == StatusCode::kNotFound) {
    engine->tokenizer_error_ = tokenizer.status();
  } else {
    return tokenizer.status();
  }
  FP4LAB_RETURN_IF_ERROR(engine->ReadDiffusionSettings(options.model_dir));

  // Quantizing a bf16 checkpoint to a scheme with static activation scales needs calibrated amax per Linear.
  std::map<std::string, float> amax;
  const bool needs_activation_scales =
      engine->scheme_ == LinearScheme::kNvfp4 || engine->scheme_ == LinearScheme::kFp8;
  if (needs_activation_scales && !IsQuantized(engine->quant_)) {
    if (options.calibration_text.empty()) {
      return Status::FailedPrecondition(options.model_dir + ": quantizing a bf16 checkpoint to " + options.precision +
                                        " on load needs calibration text for the activation scales (--calib FILE)");
    }
    if (!load_weights) return engine;
    FP4LAB_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, engine->Encode(options.calibration_text));
    tokens.insert(tokens.begin(), engine->BosId());
    if (static_cast<int>(tokens.size()) > options.calibration_tokens) tokens.resize(options.calibration_tokens);
    FP4LAB_ASSIGN_OR_RETURN(amax, CalibrateActivations(*engine->blueprint_, *engine->reader_, engine->quant_, tokens));
  }
  if (!load_weights) return engine;

  FP4LAB_ASSIGN_OR_RETURN(engine->backend_, CreateBackend(options.device));
  WeightLoader loader(*engine->reader_, engine->quant_, engine->scheme_, std::move(amax));
  loader.SetKvCacheFormat(engine->kv_cache_format_);
  FP4LAB_ASSIGN_OR_RETURN(engine->model_, engine->blueprint_->Load(loader, *engine->backend_));
  engine->layer_map_ = loader.layer_map();
  return engine;
}

Result<std::unique_ptr<Engine>> Engine::OpenSynthetic(const SyntheticModelSpec& spec, const EngineOptions& options) {
  return OpenSyntheticImpl(spec, options, true);
}

Result<std::unique_ptr<Engine>> Engine::OpenSyntheticImpl(const SyntheticModelSpec& spec,
                                                          const EngineOptions& options, bool load_weights) {
  auto engine = std::unique_ptr<Engine>(new Engine());
  const std::string label = spec.origin.empty() ? "synthetic model" : spec.origin;
  engine->options_ = options;
  if (engine->options_.model_dir.empty()) engine->options_.model_dir = label;
  nlohmann::json config = spec.config;
  if (config.is_object()) config.erase("quantization_config");
  FP4LAB_ASSIGN_OR_RETURN(engine->blueprint_, ParseModelBlueprint(config, label));
  engine->config_ = engine->blueprint_->config();
  if (spec.tokenizer_dir.empty()) {
    engine->tokenizer_error_ = Status::NotFound(label + ": a synthetic model has no tokenizer (it runs on token ids)");
  } else {
    FP4LAB_ASSIGN_OR_RETURN(engine->tokenizer_, Tokenizer::Open(spec.tokenizer_dir, engine->config_.bos_token_id,
                                                                engine->config_.eos_token_id));
    if (engine->tokenizer_->vocab_size() > engine->config_.vocab_size) {
      return Status::InvalidArgument(spec.tokenizer_dir + ": the tokenizer has " +
                                     std::to_string(engine->tokenizer_->vocab_size()) + " ids but " + label +
                                     " has a vocabulary of " + std::to_string(engine->config_.vocab_size) +
                                     "; pick the tokenizer of that model");
    }
  }
  // The config's quantization_config is ignored, so quant_ is still empty here: --kv-cache auto means bf16.
  FP4LAB_RETURN_IF_ERROR(engine->ResolvePrecision(options, label));
  FP4LAB_RETURN_IF_ERROR(engine->ReadDiffusionSettings(""));
  if (!load_weights) return engine;
  FP4LAB_ASSIGN_OR_RETURN(auto source,
                          SyntheticWeights::Create(engine->blueprint_->manifest(), {engine->scheme_, spec.seed, label}));
  engine->quant_ = source->quant_config();
  FP4LAB_ASSIGN_OR_RETURN(engine->backend_, CreateBackend(options.device));

  // Host memory: the tensors generated on the host (all, or only the small ones when the backend generates the
  // Linear and embedding payloads on its device), plus the CPU backend's f32 copy of every weight
  // (engine/cpu/cpu_linear.h).
  const bool on_device = engine->backend_->GeneratesSyntheticWeights();
  const int64_t host_generated = source->TotalBytes() - (on_device ? source->MatrixBytes() : 0);
  int64_t host_needed = host_generated;
  if (engine->backend_->Name() == "cpu") host_needed += 4 * engine->blueprint_->ParameterCount();
  FP4LAB_ASSIGN_OR_RETURN(const int64_t host_available, HostAvailableMemoryBytes());
  if (host_needed > host_available) {
    return Status::ResourceExhausted(label + ": loading at " + options.precision + " on " + engine->backend_->Name() +
                                     " needs " + std::to_string(host_needed) + " bytes of host memory (generated "
                                     "weights " + std::to_string(host_generated) + "), but only " +
                                     std::to_string(host_available) + " are available");
  }
  WeightLoader loader(*source, engine->scheme_, on_device ? SyntheticPayloads::kOnDevice : SyntheticPayloads::kOnHost);
  loader.SetKvCacheFormat(engine->kv_cache_format_);
  auto model = engine->blueprint_->Load(loader, *engine->backend_);
  if (!model.ok()) {
    const Status generation = source->generation_status();
    return generation.ok() ? model.status() : generation;
  }
  engine->model_ = std::move(model).value();
  engine->layer_map_ = loader.layer_map();
  engine->synthetic_ = {{"origin", label},
                        {"seed", spec.seed},
                        {"generated_bytes", source->TotalBytes()},
                        {"generated_on", on_device ? "device" : "host"},
                        {"weights", "deterministic random, not a trained model (engine/synthetic_weights.h)"}};
  if (!spec.tokenizer_dir.empty()) engine->synthetic_["tokenizer"] = spec.tokenizer_dir;
  return engine;  // `source` and its generated host copy are released here
}

Result<std::unique_ptr<Engine>> Engine::OpenPreset(const std::string& preset, const EngineOptions& options) {
  FP4LAB_ASSIGN_OR_RETURN(const ModelPreset* found, FindPreset(preset));
  return OpenSynthetic({found->config, 0, "preset " + found->name}, options);
}

Status Engine::ResolvePrecision(const EngineOptions& options, const std::string& source) {
  FP4LAB_ASSIGN_OR_RETURN(const PrecisionLabel label, ParsePrecisionLabel(options.precision));
  FP4LAB_ASSIGN_OR_RETURN(scheme_, ParsePrecision(label.weights));
  if (label.kv) {
    kv_cache_format_ = *label.kv;
    return Status::Ok();
  }
  FP4LAB_ASSIGN_OR_RETURN(kv_cache_format_, ResolveKvCacheFormat(options.kv_cache, quant_, source));
  return Status::Ok();
}

std::string Engine::StoredLabel() const { return PrecisionLabelFor(PrecisionName(scheme_), kv_cache_format_); }

std::string Engine::Describe() const {
  return config_.model_type + " " + std::to_string(blueprint_->ParameterCount()) + " params, " + PrecisionName(scheme_) +
         ", " + KvCacheFormatName(kv_cache_format_) + " KV cache on " + (backend_ ? backend_->Name() : options_.device);
}

Result<std::vector<TokenId>> Engine::Encode(std::string_view text) const {
  if (!tokenizer_) return tokenizer_error_;
  return tokenizer_->Encode(text);
}

std::string Engine::Decode(std::span<const TokenId> tokens) const {
  // Special tokens are left out, as sentencepiece leaves out its control tokens (an EOS never reaches the text).
  // LanguageModel::Decode returns plain text: a decoder regex that gives up (never seen) yields empty text.
  if (!tokenizer_) return std::string();
  Result<std::string> text = tokenizer_->Decode(tokens, /*skip_special_tokens=*/true);
  return text.ok() ? std::move(text).value() : std::string();
}

Status Engine::Download(const DeviceTensor& src, std::span<float> host) {
  downloaded_bytes_ += static_cast<int64_t>(host.size_bytes());
  return backend_->Download(src, host);
}

Result<std::unique_ptr<DeviceTensor>> Engine::ForwardLogits(std::span<const TokenId> tokens) {
  FP4LAB_RETURN_IF_ERROR(RequireCausal("a causal forward pass"));
  FP4LAB_RETURN_IF_ERROR(RequireWeights("a forward pass"));
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0 || n > MaxContext()) {
    return Status::InvalidArgument("a forward pass of " + std::to_string(n) + " tokens; expected 1.." +
                                   std::to_string(MaxContext()));
  }
  FP4LAB_ASSIGN_OR_RETURN(auto cache, model_->NewCache(n, 1));
  FP4LAB_ASSIGN_OR_RETURN(auto logits, backend_->Allocate(n, config_.vocab_size));
  FP4LAB_RETURN_IF_ERROR(model_->Forward(tokens, *cache, 0, *logits));
  tokens_.forward += n;
  return logits;
}

Result<std::vector<float>> Engine::Logits(std::span<const TokenId> tokens) {
  FP4LAB_ASSIGN_OR_RETURN(auto logits, ForwardLogits(tokens));
  std::vector<float> host(static_cast<size_t>(logits->size()));
  FP4LAB_RETURN_IF_ERROR(Download(*logits, host));
  return host;
}

Result<std::vector<TokenScore>> Engine::ScoreTokens(std::span<const TokenId> tokens,
                                                    std::span<const ScoreRequest> requests) {
  FP4LAB_RETURN_IF_ERROR(RequireCausal("ScoreTokens"));
  FP4LAB_RETURN_IF_ERROR(CheckScoreRequests(requests, tokens.size(), config_.vocab_size));
  if (requests.empty()) return std::vector<TokenScore>();
  FP4LAB_ASSIGN_OR_RETURN(auto logits, ForwardLogits(tokens));
  return GatherScores(*logits, requests);
}

Result<std::vector<TokenScore>> Engine::GatherScores(const DeviceTensor& logits,
                                                     std::span<const ScoreRequest> requests) {
  if (requests.empty()) return std::vector<TokenScore>();
  const int64_t n = static_cast<int64_t>(requests.size());
  std::vector<int32_t> rows(requests.size()), targets(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    rows[i] = requests[i].row;
    targets[i] = requests[i].target;
  }
  FP4LAB_ASSIGN_OR_RETURN(auto device_rows, backend_->AllocateIndices(n));
  FP4LAB_ASSIGN_OR_RETURN(auto device_targets, backend_->AllocateIndices(n));
  FP4LAB_ASSIGN_OR_RETURN(auto out, backend_->Allocate(n, 3));
  FP4LAB_RETURN_IF_ERROR(backend_->UploadIndices(rows, *device_rows));
  FP4LAB_RETURN_IF_ERROR(backend_->UploadIndices(targets, *device_targets));
  FP4LAB_RETURN_IF_ERROR(backend_->ScoreTokens(logits, *device_rows, *device_targets, *out));
  std::vector<float> host(static_cast<size_t>(out->size()));
  FP4LAB_RETURN_IF_ERROR(Download(*out, host));
  std::vector<TokenScore> scores;
  scores.reserve(requests.size());
  for (const DecodedScore& s : DecodeScores(host)) scores.push_back({s.logprob, s.is_greedy});
  return scores;
}

Result<std::vector<std::vector<TokenScore>>> Engine::ScoreBatch(std::span<const ScoreSequence> batch) {
  FP4LAB_RETURN_IF_ERROR(RequireCausal("scoring"));
  for (size_t i = 0; i < batch.size(); ++i) {
    const size_t n = batch[i].tokens.size();
    if (n == 0 || static_cast<int64_t>(n) > MaxContext()) {
      return Status::InvalidArgument("scoring sequence " + std::to_string(i) + " of a batch: a forward pass of " +
                                     std::to_string(n) + " tokens; expected 1.." + std::to_string(MaxContext()));
    }
    Status checked = CheckScoreRequests(batch[i].requests, n, config_.vocab_size);
    if (!checked.ok()) return checked.WithContext("scoring sequence " + std::to_string(i) + " of a batch");
  }
  std::vector<size_t> lengths;
  for (const ScoreSequence& sequence : batch) lengths.push_back(sequence.tokens.size());
  FP4LAB_ASSIGN_OR_RETURN(const auto passes, PlanPasses(lengths, /*host_logits=*/false));
  std::vector<std::vector<TokenScore>> out(batch.size());
  for (const auto& [begin, end] : passes) FP4LAB_RETURN_IF_ERROR(ScorePass(batch, begin, end, out));
  return out;
}

Status Engine::ScorePass(std::span<const ScoreSequence> batch, size_t begin, size_t end,
                         std::vector<std::vector<TokenScore>>& out) {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<ScoreRequest> requests;
  int64_t longest = 0, offset = 0;
  for (size_t i = begin; i < end; ++i) {
    tokens.emplace_back(batch[i].tokens.begin(), batch[i].tokens.end());
    for (const ScoreRequest& r : batch[i].requests) requests.push_back({static_cast<int>(offset) + r.row, r.target});
    longest = std::max<int64_t>(longest, static_cast<int64_t>(batch[i].tokens.size()));
    offset += static_cast<int64_t>(batch[i].tokens.size());
  }
  FP4LAB_ASSIGN_OR_RETURN(auto cache, model_->NewCache(longest, static_cast<int>(end - begin)));
  FP4LAB_ASSIGN_OR_RETURN(auto logits, backend_->Allocate(offset, config_.vocab_size));
  FP4LAB_RETURN_IF_ERROR(model_->ForwardSequences(tokens, *cache, *logits));
  tokens_.forward += offset;
  FP4LAB_ASSIGN_OR_RETURN(std::vector<TokenScore> scores, GatherScores(*logits, requests));
  size_t next = 0;
  for (size_t i = begin; i < end; ++i) {
    out[i].assign(scores.begin() + static_cast<std::ptrdiff_t>(next),
                  scores.begin() + static_cast<std::ptrdiff_t>(next + batch[i].requests.size()));
    next += batch[i].requests.size();
  }
  return Status::Ok();
}

std::vector<TokenId> Engine::EosIds() const {
  std::vector<TokenId> ids(config_.eos_token_ids.begin(), config_.eos_token_ids.end());
  if (tokenizer_) {
    for (const int32_t id : tokenizer_->eos_ids()) {
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
  }
  return ids;
}

Result<std::vector<TokenId>> Engine::Generate(std::span<const TokenId> prompt, int max_new_tokens,
                                              const SamplingOptions& sampling,
                                              const std::function<bool(TokenId)>& on_token) {
  FP4LAB_RETURN_IF_ERROR(RequireWeights("Generate"));
  if (config_.block_diffusion) return GenerateByDiffusion(prompt, max_new_tokens, sampling, on_token);
  if (prompt.empty()) return Status::InvalidArgument("Generate: empty prompt (add BOS at least)");
  const int64_t capacity = std::min<int64_t>(MaxContext(), static_cast<int64_t>(prompt.size()) + max_new_tokens);
  if (static_cast<int64_t>(prompt.size()) >= capacity && max_new_tokens > 0) {
    return Status::InvalidArgument("Generate: prompt of " + std::to_string(prompt.size()) +
                                   " tokens leaves no room in the context of " + std::to_string(MaxContext()));
  }
  FP4LAB_ASSIGN_OR_RETURN(auto cache, model_->NewCache(capacity, 1));
  const std::vector<TokenId> eos_ids = EosIds();
  std::mt19937_64 rng(sampling.seed);
  std::vector<TokenId> generated;
  std::vector<float> row(static_cast<size_t>(config_.vocab_size));
  std::vector<float> host;
  // Prefill: one pass over the prompt; only the last row of logits is sampled.
  FP4LAB_ASSIGN_OR_RETURN(auto logits, backend_->Allocate(static_cast<int64_t>(prompt.size()), config_.vocab_size));
  FP4LAB_RETURN_IF_ERROR(model_->Forward(prompt, *cache, 0, *logits));
  tokens_.forward += static_cast<int64_t>(prompt.size());
  host.resize(static_cast<size_t>(logits->size()));
  FP4LAB_RETURN_IF_ERROR(Download(*logits, host));
  std::copy(host.end() - config_.vocab_size, host.end(), row.begin());
  FP4LAB_ASSIGN_OR_RETURN(auto step_logits, backend_->Allocate(1, config_.vocab_size));
  while (static_cast<int>(generated.size()) < max_new_tokens) {
    const TokenId next = SampleToken(row, sampling, rng);
    if (std::find(eos_ids.begin(), eos_ids.end(), next) != eos_ids.end()) break;
    generated.push_back(next);
    ++tokens_.generated;
    if (on_token && !on_token(next)) break;
    if (cache->lengths[0] >= cache->capacity) break;
    FP4LAB_RETURN_IF_ERROR(model_->DecodeStep(std::span<const TokenId>(&next, 1), *cache, *step_logits));
    FP4LAB_RETURN_IF_ERROR(Download(*step_logits, row));
  }
  return generated;
}

nlohmann::json Engine::Provenance() const {
  nlohmann::json paths = nlohmann::json::object();
  std::map<std::string, int> scheme_counts;
  for (const auto& layer : layer_map_) scheme_counts[LinearSchemeName(layer.scheme)]++;
  for (const auto& [scheme_name, count] : scheme_counts) {
    auto scheme = ParsePrecision(scheme_name);
    auto path = backend_->LinearPath(*scheme);
    paths[scheme_name] = path.ok() ? *path : path.status().message();
  }
  nlohmann::json provenance = {{"precision", PrecisionName(scheme_)},
                               {"kv_cache", KvCacheFormatName(kv_cache_format_)},
                               {"model_dir", options_.model_dir},
                               {"model_type", config_.model_type},
                               {"parameters", blueprint_->ParameterCount()},
                               {"quantization",
                                IsQuantized(quant_) ? quant_.algorithm + " (" + quant_.source + ")" : "none (bf16)"},
                               {"linear_paths", paths},
                               {"weight_device_bytes", model_->WeightDeviceBytes()},
                               {"device", backend_->Facts()}};
  if (!synthetic_.is_null()) provenance["synthetic"] = synthetic_;
  return provenance;
}

}  // namespace fp4lab
