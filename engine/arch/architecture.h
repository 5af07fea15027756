// The architecture layer: one file per model family (engine/arch/<family>.cc), listed once in
// engine/arch/registry.cc. A family parses its config.json fields, loads its weights through a WeightLoader and
// implements its forward pass against the Backend ops. Nothing else in the engine knows about families.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/backend.h"
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
  // Device bytes held by weights.
  virtual int64_t WeightDeviceBytes() const = 0;
};

struct ArchitectureSpec {
  std::string family;                    // "llama"
  std::vector<std::string> model_types;  // config.json model_type values this family runs
  Result<ModelConfig> (*parse_config)(const nlohmann::json& config, const std::string& path);
  Result<std::unique_ptr<Model>> (*load)(const ModelConfig& config, WeightLoader& loader, Backend& backend);
};

// Every family compiled in (engine/arch/registry.cc).
const std::vector<ArchitectureSpec>& Architectures();
// The family for a model_type; InvalidArgument naming the config file and listing supported types otherwise.
Result<const ArchitectureSpec*> FindArchitecture(const std::string& model_type, const std::string& config_path);

// Families (one line each in registry.cc).
ArchitectureSpec LlamaArchitecture();

}  // namespace fp4lab
