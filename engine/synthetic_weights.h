// SyntheticWeights: a TensorSource that serves deterministic pseudo-random tensors for a family's tensor manifest,
// under the exact names, dtypes and shapes a Hugging Face / ModelOpt checkpoint of that model would hold, so a
// real-size model runs (latency, memory) in any precision without downloading weights. Values are for speed and
// memory measurements only: they carry no accuracy meaning.
//
// What is served for each scheme (N = out_features, K = in_features of a Linear; sigma = 1 / sqrt(K)):
//   every scheme : model.embed_tokens.weight BF16 [V, D] ~ N(0, 1/D); lm_head.weight BF16 [V, D] ~ N(0, 1/D) when
//                  untied (excluded from quantization, as ModelOpt does by default); vectors (norm weights) BF16 = the manifest's synthetic value (1.0, or 0.0 for (1 + w) norms);
//                  q/k/v biases (attention_bias) BF16 ~ N(0, sigma^2).
//   bf16         : <linear>.weight BF16 [N, K] ~ N(0, sigma^2).
//   nvfp4        : ModelOpt NVFP4: <linear>.weight U8 [N, K/2] (uniformly random E2M1 codes, two per byte),
//                  .weight_scale F8_E4M3 [N, K/16] (block scales 256 * 2^(u - 1/2), u uniform in [0, 1), rounded
//                  to E4M3), .weight_scale_2 F32 [] chosen so that the dequantized weight has RMS sigma,
//                  .input_scale F32 [] = 16 / 2688 (an assumed activation amax of 16; not calibrated).
//   nvfp4-w4a16  : the same without .input_scale (ModelOpt W4A16_NVFP4).
//   fp8          : ModelOpt FP8: <linear>.weight F8_E4M3 [N, K] = e4m3(w / weight_scale) with w ~ N(0, sigma^2),
//                  .weight_scale F32 [] = max|z| * sigma / 448, .input_scale F32 [] = 16 / 448.
// A Linear whose K is not a multiple of 16 stays bf16 under the NVFP4 schemes and is listed in exclude_modules.
//
// Randomness (engine/synthetic_spec.h, shared with the CUDA generator): tensor t's word j is output j of SplitMix64
// seeded with SplitMix64(seed) ^ FNV-1a-64(t's name), so any tensor is reproducible in isolation, independent of
// the order tensors are asked for and of the number of threads that fill it. A standard normal value is the
// inverse normal CDF at (u16 + 1/2) / 65536 of one 16-bit slice of a word: 65536 equiprobable levels (finer than
// bf16's 8 significant bits), truncated at +-4.33.
//
// Memory: a tensor is generated on its first Find() (several threads for large tensors) and held until the source
// is destroyed (TensorSource views must stay valid for its lifetime); Engine::OpenSynthetic destroys the source as
// soon as the backend has prepared every layer, so the host copy lives only while the model loads. For a backend
// that generates weights on its device, Describe() hands out the description of a tensor instead, and its bytes
// never exist on the host (WeightLoader with SyntheticPayloads::kOnDevice).
// Thread safety: Find() and Describe() may be called from several threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/linear_scheme.h"
#include "engine/arch/tensor_manifest.h"
#include "engine/quant_config.h"
#include "engine/safetensors.h"
#include "engine/status.h"
#include "engine/synthetic_spec.h"

namespace fp4lab {

// The assumed activation amax behind the synthetic input_scale of W4A4 and FP8 layers.
inline constexpr float kSyntheticActivationAmax = 16.0f;

// One tensor of a SyntheticWeights source, described without generating it.
struct SyntheticTensorInfo {
  TensorView view;          // name, dtype, shape and file (the source's label); no bytes
  SyntheticTensor payload;  // what its bytes are (GenerateSyntheticBytes, or a device generator)
};

struct SyntheticWeightsOptions {
  LinearScheme scheme = LinearScheme::kBf16;  // the stored form to serve (table above)
  uint64_t seed = 0;
  std::string label = "synthetic weights";  // names the source in messages, e.g. "preset llama-3.1-8b"
};

class SyntheticWeights : public TensorSource {
 public:
  // Serves every tensor of `manifest` (a family's, engine/arch/tensor_manifest.h). InvalidArgument for sizes a
  // checkpoint cannot have (a non-positive dimension).
  static Result<std::unique_ptr<SyntheticWeights>> Create(const TensorManifest& manifest,
                                                          const SyntheticWeightsOptions& options);
  ~SyntheticWeights() override;

  // Generates the tensor on first use. nullptr if the model has no such tensor, or if generating it failed (then
  // generation_status() says why).
  const TensorView* Find(std::string_view name) const override;
  // The tensor described, generating nothing. nullptr if the model has no such tensor.
  const SyntheticTensorInfo* Describe(std::string_view name) const;
  const std::string& path() const override { return options_.label; }

  // The quantization description a checkpoint holding these tensors carries: Format::kNone for bf16, otherwise
  // ModelOpt with quant_algo NVFP4 / W4A16_NVFP4 / FP8 and exclude_modules ["lm_head", ...].
  const QuantConfig& quant_config() const { return quant_; }
  // The same as the config.json "quantization_config" object (null for bf16).
  const nlohmann::json& quantization_config_json() const { return quant_json_; }
  // Every tensor name, in checkpoint order.
  const std::vector<std::string>& names() const { return names_; }
  // Bytes of every tensor the model has (what a checkpoint file would hold, headers aside).
  int64_t TotalBytes() const;
  // Bytes of the 2-D tensors (Linear weights and block scales, the embedding, an untied lm_head): the payloads a
  // WeightLoader with SyntheticPayloads::kOnDevice leaves to the backend, so only the rest is generated on the host.
  int64_t MatrixBytes() const;
  // Bytes generated so far and still held.
  int64_t HeldBytes() const;
  // Ok, or ResourceExhausted naming the tensor and its bytes when a host allocation failed inside Find().
  Status generation_status() const;

 private:
  struct Generated;
  SyntheticWeights() = default;
  void AddLinear(const std::string& prefix, int64_t n, int64_t k, bool quantizable,
                 std::vector<std::string>* excluded);
  void Add(const std::string& name, DType dtype, std::vector<int64_t> shape, SyntheticFill fill, float value = 0.0f);
  std::unique_ptr<Generated> Generate(const SyntheticTensorInfo& info) const;

  SyntheticWeightsOptions options_;
  std::vector<std::string> names_;
  std::map<std::string, SyntheticTensorInfo, std::less<>> specs_;
  QuantConfig quant_;
  nlohmann::json quant_json_;

  mutable std::mutex mutex_;
  mutable std::map<std::string, std::unique_ptr<Generated>, std::less<>> cache_;
  mutable int64_t held_bytes_ = 0;
  mutable Status generation_status_;
};

// A synthetic model directory: config.json (an HF config) plus this marker file, {"seed": N, "origin": "..."},
// and no weights. Engine::Open recognizes it and generates the weights, so a synthetic model travels through
// everything that takes a model directory (fp4lab run, the runner, provenance hashing).
inline constexpr char kSyntheticMarkerFile[] = "fp4lab_synthetic.json";

struct SyntheticModelSpec {
  nlohmann::json config;  // config.json without any quantization_config
  uint64_t seed = 0;
  std::string origin;     // "preset llama-3.1-8b" or "config /path/to/config.json"
  // A directory holding a real tokenizer (tokenizer.json or tokenizer.model, with tokenizer_config.json), so text
  // tasks run on the synthetic weights; empty = none (the model runs on token ids). Marker key "tokenizer".
  std::string tokenizer_dir;
};

// Writes `dir`/config.json and `dir`/fp4lab_synthetic.json (creating `dir`), each atomically.
Status WriteSyntheticModelDir(const std::string& dir, const SyntheticModelSpec& spec);
// True when `dir` holds the marker file.
bool IsSyntheticModelDir(const std::string& dir);
// Reads both files. InvalidArgument naming the file and field when the marker is malformed.
Result<SyntheticModelSpec> ReadSyntheticModelDir(const std::string& dir);

}  // namespace fp4lab
