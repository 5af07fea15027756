// The KV-cache precision axis: what the attention keys and values are stored as, independent of the weights.
//
// kBf16: the unquantized cache (the engine keeps f32 activations; a deployment stores bf16, 2 bytes per element).
// kFp8 : E4M3 with one f32 scale per layer for K and one for V, as vLLM stores it for a checkpoint with
//        kv_cache_quant_algo FP8 (design/REAL_CHECKPOINTS.md section 2; vLLM reshape_and_cache_flash):
//          store  k8 = E4M3(k / k_scale), RNE, saturating at +-448 (__NV_SATFINITE)
//          load   k  = f32(k8) * k_scale
//        keys after QK-norm and RoPE, values as projected; 1 byte per element. The engine emulates it exactly: the
//        rows written to its f32 cache are replaced by load(store(x)) (Backend::RoundKvRowsToFp8).
//
// A run precision names both axes in one label (ParsePrecisionLabel): "nvfp4" is NVFP4 weights with the bf16 cache,
// "nvfp4+kv-fp8" NVFP4 weights with the FP8 cache, so one stored run can hold every combination.
#pragma once

#include <optional>
#include <string>

#include "engine/quant_config.h"
#include "engine/status.h"

namespace fp4lab {

enum class KvCacheFormat { kBf16, kFp8 };

// "bf16", "fp8".
const char* KvCacheFormatName(KvCacheFormat format);
// Bytes one cached element occupies in a deployment's cache: 2 (bf16), 1 (fp8).
int KvCacheBytesPerElement(KvCacheFormat format);

// The values of --kv-cache: "auto" (what the checkpoint declares) or a format name.
inline constexpr const char* kKvCacheChoices = "auto, bf16, fp8";
// "" for a valid choice, else "unknown KV-cache format '<x>' (valid: auto, bf16, fp8)".
std::string KvCacheChoiceError(const std::string& choice);

// The format a --kv-cache choice selects for a checkpoint: bf16/fp8 as named; auto follows the checkpoint's
// kv_cache_quant_algo (none -> bf16, "FP8" -> fp8), as vLLM's --kv-cache-dtype auto does. Unimplemented naming
// `source` and the field when the checkpoint declares a KV format the engine cannot emulate (NVFP4, INT8).
Result<KvCacheFormat> ResolveKvCacheFormat(const std::string& choice, const QuantConfig& quant,
                                           const std::string& source);

// Per-layer FP8 KV scales (f32, > 0): the divisors of the E4M3 store.
struct KvScales {
  float k = 1.0f;
  float v = 1.0f;
};

// vLLM's rule for the scales a checkpoint carries (BaseKVCacheMethod): both present -> each its own; none -> 1.0;
// only one -> both take it.
KvScales KvScalesFromCheckpoint(std::optional<float> k_scale, std::optional<float> v_scale);

// load(store(x)) of one element: E4M3ToF32(F32ToE4M3(x / scale)) * scale, every operation in f32 (IEEE division,
// RNE saturating conversion, one f32 multiply). NaN stays NaN. REQUIRES scale finite and > 0.
float Fp8KvRoundTrip(float x, float scale);

// One run precision: weights scheme name plus, when given, the KV-cache format.
struct PrecisionLabel {
  std::string weights;                // "bf16", "nvfp4", "nvfp4-w4a16", "fp8" (checked by the engine)
  std::optional<KvCacheFormat> kv;    // from a "+kv-<format>" suffix; empty = not said
};
// "nvfp4" -> {nvfp4, none}; "nvfp4+kv-fp8" -> {nvfp4, fp8}; "bf16+kv-bf16" -> {bf16, bf16}. InvalidArgument for
// another suffix or an empty weights part.
Result<PrecisionLabel> ParsePrecisionLabel(const std::string& label);
// The stored label of what ran: the weights name alone for the bf16 cache, "<weights>+kv-fp8" for FP8.
std::string PrecisionLabelFor(const std::string& weights, KvCacheFormat kv);

}  // namespace fp4lab
