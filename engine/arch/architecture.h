// The architecture layer: one file per model family (engine/arch/<family>.cc), listed once in
// engine/arch/registry.cc. A family parses its config.json into a ModelBlueprint: the task-facing ModelConfig, the
// tensor manifest (every weight, its shape and role), the KV-cache and activation sizes, and the forward pass
// (Load). Nothing outside engine/arch/ knows a family's tensor names or config fields.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/arch/tensor_manifest.h"
#include "engine/backend.h"
#include "engine/diffusion/block_denoiser.h"
#include "engine/kv_cache.h"
#include "engine/model_config.h"
#include "engine/status.h"
#include "engine/weight_loader.h"

namespace fp4lab {

// Called with each Linear's name and input before the Linear runs (activation calibration).
using LinearInputObserver = std::function<Status(const std::string& linear, const DeviceTensor& input)>;

// A model whose weights are resident on one backend.
class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  // Installs (or clears, with an empty function) the observer of Linear inputs.
  virtual void SetLinearInputObserver(LinearInputObserver observer) = 0;
  // Allocates a KV cache for `sequences` sequences of up to `capacity` positions each (engine/kv_cache.h).
  virtual Result<std::unique_ptr<KvCache>> NewCache(int64_t capacity, int sequences) = 0;
  // Runs `tokens` of sequence `sequence` at positions L .. L + n - 1 (L = cache.lengths[sequence]), appends their
  // K/V to the cache, and writes the logits of every position into `logits` [n, vocab_size] (prefill, scoring).
  // InvalidArgument when L + n exceeds cache.capacity, a token id is outside the vocabulary or `sequence` does not
  // exist.
  virtual Status Forward(std::span<const int32_t> tokens, KvCache& cache, int sequence, DeviceTensor& logits) = 0;
  // One decode step of every sequence at once (batched decode): tokens[s] is appended to sequence s at position
  // cache.lengths[s], and logits [cache.sequences(), vocab_size] gets row s = the distribution after it.
  // REQUIRES tokens.size() == cache.sequences(); InvalidArgument when a sequence is full or an id is out of range.
  // On a backend that can record (CUDA), repeated steps with the same cache and logits replay one recorded
  // program (a CUDA graph) instead of issuing every op again.
  virtual Status DecodeStep(std::span<const int32_t> tokens, KvCache& cache, DeviceTensor& logits) = 0;
  // Several sequences in one pass (batched scoring): tokens[s] runs for sequence s of the cache at positions
  // L_s .. L_s + n_s - 1 (L_s = cache.lengths[s]), appending their K/V, and logits [n_0 + n_1 + ..., vocab_size] gets
  // their rows in sequence order. Each row attends to exactly the keys a Forward of its sequence alone gives it.
  // REQUIRES tokens.size() == cache.sequences(); InvalidArgument for an empty sequence and as Forward.
  virtual Status ForwardSequences(std::span<const std::vector<int32_t>> tokens, KvCache& cache,
                                  DeviceTensor& logits) = 0;
  // Device bytes held by weights.
  virtual int64_t WeightDeviceBytes() const = 0;
  // The block-diffusion surface of a diffusion model (engine/diffusion/block_denoiser.h), owned by the model; null
  // for a causal one.
  virtual BlockDenoiser* AsBlockDenoiser() { return nullptr; }
};

// Everything a family derives from a config.json alone, before any weight is read.
class ModelBlueprint {
 public:
  virtual ~ModelBlueprint() = default;
  virtual const ModelConfig& config() const = 0;
  // Every weight tensor of the checkpoint (engine/arch/tensor_manifest.h).
  virtual const TensorManifest& manifest() const = 0;
  // Per decoder layer: the f32 values one position occupies in that layer's K buffer and in its V buffer
  // (kv_heads * head_dim each).
  virtual std::vector<int64_t> KvWidths() const = 0;
  // The f32 activation values a forward pass holds per row (the model's buffers at their largest), for workspace
  // sizing: bytes = 4 * rows * this.
  virtual int64_t ActivationFloatsPerRow() const = 0;
  // Loads the weights through `loader` onto `backend` (which must outlive the model).
  virtual Result<std::unique_ptr<Model>> Load(WeightLoader& loader, Backend& backend) const = 0;

  int64_t ParameterCount() const { return manifest().ParameterCount(); }
  // f32 bytes of a KV cache holding `positions` positions (all sequences together): what the engine allocates
  // (it emulates every cache format in f32 buffers). A format's deployed bytes: KvCacheBytesPerToken
  // (engine/role_memory.h).
  int64_t KvCacheBytes(int64_t positions) const;
};

struct ArchitectureSpec {
  std::string family;                    // "llama"
  std::vector<std::string> model_types;  // config.json model_type values this family runs
  // Parses a config.json object; `path` names it in errors.
  Result<std::unique_ptr<ModelBlueprint>> (*parse)(const nlohmann::json& config, const std::string& path);
};

// Every family compiled in (engine/arch/registry.cc).
const std::vector<ArchitectureSpec>& Architectures();
// The family for a model_type; InvalidArgument naming the config file and listing supported types otherwise.
Result<const ArchitectureSpec*> FindArchitecture(const std::string& model_type, const std::string& config_path);
// The blueprint of a config.json object: its model_type's family parses it. InvalidArgument naming `path` when
// model_type is missing or unknown, or a field is malformed.
Result<std::unique_ptr<ModelBlueprint>> ParseModelBlueprint(const nlohmann::json& config, const std::string& path);

// Families (one line each in registry.cc).
ArchitectureSpec LlamaArchitecture();
ArchitectureSpec Qwen3Architecture();
ArchitectureSpec Gemma3Architecture();
ArchitectureSpec Qwen3MoeArchitecture();
ArchitectureSpec Gemma4Architecture();
ArchitectureSpec DiffusionGemmaArchitecture();

}  // namespace fp4lab
