// WeightLoader: reads a checkpoint's tensors into the numeric form a run precision asks for, and records why each
// Linear ended up in its scheme (the layer precision map).
//
// Rules (per Linear, given the checkpoint's quantization config and the run precision):
//   checkpoint layer NVFP4  + run nvfp4        -> kNvfp4 (W4A4; needs the checkpoint's input_scale)
//   checkpoint layer NVFP4  + run nvfp4-w4a16  -> kNvfp4W4A16
//   checkpoint layer FP8                        -> kFp8 (mixed-precision checkpoints keep their FP8 layers)
//   checkpoint layer bf16   + run bf16          -> kBf16
//   checkpoint layer bf16   + run nvfp4*/fp8    -> quantized on load with the same code as `fp4lab quantize`,
//                                                  unless excluded (lm_head, routers) or K % 16 != 0 -> kBf16
//   quantized layer + run bf16 -> FailedPrecondition: the reference needs the BF16 base checkpoint (--reference).
// W4A4 and FP8 quantize-on-load need activation scales: the caller supplies calibrated amax per Linear.
// Synthetic weights (engine/synthetic_weights.h) follow the same rules; with SyntheticPayloads::kOnDevice every
// payload taken as stored (not quantized on load) comes as LinearWeights::synthetic instead of bytes.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/kv_cache_format.h"
#include "engine/linear_weights.h"
#include "engine/quant_config.h"
#include "engine/safetensors.h"
#include "engine/status.h"
#include "engine/synthetic_weights.h"

namespace fp4lab {

// Where the payloads of synthetic weights are generated: here on the host, or by the backend on its device
// (Backend::GeneratesSyntheticWeights).
enum class SyntheticPayloads { kOnHost, kOnDevice };

// The resolved scheme of one Linear, for `fp4lab inspect` and the results store.
struct LayerPrecision {
  std::string layer;
  LinearScheme scheme = LinearScheme::kBf16;
  std::string reason;
  int64_t bytes = 0;  // stored bytes (codes + scales + globals)
  int64_t parameters = 0;
};

class WeightLoader {
 public:
  // `reader` and `quant` must outlive the loader. `activation_amax` maps a Linear prefix to the calibrated max |x|
  // of its input (needed only when quantizing bf16 layers to kNvfp4 or kFp8 on load).
  WeightLoader(const TensorSource& reader, const QuantConfig& quant, LinearScheme run_scheme,
               std::map<std::string, float> activation_amax = {});
  // Loads synthetic weights under their own quantization config. kOnDevice: the Linear and Dense payloads are
  // described, not generated (LinearWeights::synthetic); vectors, biases and scalars are generated here as usual.
  // `source` must outlive the loader.
  WeightLoader(const SyntheticWeights& source, LinearScheme run_scheme, SyntheticPayloads payloads);

  // Loads the Linear at `prefix` (tensors "<prefix>.weight" etc.). `fused_group` lists every prefix that shares one
  // global scale with it when quantized (q/k/v, gate/up; include `prefix` itself); empty = just itself.
  Result<LinearWeights> Linear(const std::string& prefix, std::span<const std::string> fused_group = {});
  // A Linear that stays bf16 in every scheme and whatever the checkpoint's quantization config says (a MoE router,
  // which ModelOpt never quantizes and vLLM loads unquantized): its bf16 weight (+ bias), recorded with `reason`.
  Result<LinearWeights> UnquantizedLinear(const std::string& prefix, const std::string& reason);
  // A dense bf16 matrix that is never quantized (the token embedding).
  Result<LinearWeights> Dense(const std::string& name, const std::string& reason);
  // A 1-D tensor decoded to f32 (norm weights, biases). InvalidArgument if its size is not `expected`.
  Result<std::vector<float>> Vector(const std::string& name, int64_t expected);
  bool Has(const std::string& name) const;
  // The KV-cache format of the run being loaded (engine/kv_cache_format.h); bf16 unless set. Families read it when
  // they load attention (DecoderModel::LoadAttention).
  void SetKvCacheFormat(KvCacheFormat format) { kv_cache_format_ = format; }
  KvCacheFormat kv_cache_format() const { return kv_cache_format_; }
  // The FP8 KV scales of the attention at `prefix` (ending in "self_attn."): the F32 scalars "<prefix>k_proj.k_scale"
  // and "<prefix>v_proj.v_scale" as ModelOpt exports them (amax / 448), combined by KvScalesFromCheckpoint; 1.0 when
  // absent. InvalidArgument naming the file and tensor when one is not a single positive finite F32 value.
  Result<KvScales> KvCacheScales(const std::string& prefix) const;

  LinearScheme run_scheme() const { return run_scheme_; }
  const std::vector<LayerPrecision>& layer_map() const { return layer_map_; }

 private:
  Result<LinearWeights> LoadQuantizedLayer(const std::string& prefix, LinearScheme stored);
  Result<LinearWeights> LoadBf16Layer(const std::string& prefix, std::span<const std::string> fused_group);
  Result<std::vector<uint16_t>> ReadAsBf16(const TensorView& t);
  // The stored tensor `name`. When its payload is left to the device (a kOnDevice source holding it as `dtype`,
  // the dtype taken as stored), the view has no bytes and *deferred receives its description; otherwise the view
  // has the bytes and *deferred is reset.
  Result<const TensorView*> Stored(const std::string& name, DType dtype, std::optional<SyntheticTensor>* deferred);
  // The optional "<prefix>.bias" [N] into w.bias.
  Status ReadBias(const std::string& prefix, LinearWeights& w);
  void Record(const LinearWeights& w);

  const TensorSource& reader_;
  const SyntheticWeights* device_payloads_ = nullptr;  // kOnDevice source, else null
  const QuantConfig& quant_;
  LinearScheme run_scheme_;
  std::map<std::string, float> activation_amax_;
  std::vector<LayerPrecision> layer_map_;
  KvCacheFormat kv_cache_format_ = KvCacheFormat::kBf16;
};

// True when the checkpoint carries a quantization config (ModelOpt or compressed-tensors).
inline bool IsQuantized(const QuantConfig& q) { return q.format != QuantConfig::Format::kNone; }

// Decodes a BF16, F16 or F32 tensor to f32 values (InvalidArgument for other dtypes, naming the tensor).
Result<std::vector<float>> DecodeToF32(const TensorView& t);

}  // namespace fp4lab
