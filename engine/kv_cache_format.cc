#include "engine/kv_cache_format.h"

#include <algorithm>

#include "engine/codecs.h"

namespace fp4lab {

namespace {

constexpr const char* kKvSuffix = "+kv-";

Result<KvCacheFormat> ParseFormatName(const std::string& name) {
  if (name == "bf16") return KvCacheFormat::kBf16;
  if (name == "fp8") return KvCacheFormat::kFp8;
  return Status::InvalidArgument("unknown KV-cache format '" + name + "' (valid: bf16, fp8)");
}

}  // namespace

const char* KvCacheFormatName(KvCacheFormat format) { return format == KvCacheFormat::kFp8 ? "fp8" : "bf16"; }

int KvCacheBytesPerElement(KvCacheFormat format) { return format == KvCacheFormat::kFp8 ? 1 : 2; }

std::string KvCacheChoiceError(const std::string& choice) {
  if (choice == "auto" || choice == "bf16" || choice == "fp8") return "";
  return "unknown KV-cache format '" + choice + "' (valid: " + kKvCacheChoices + ")";
}

Result<KvCacheFormat> ResolveKvCacheFormat(const std::string& choice, const QuantConfig& quant,
                                           const std::string& source) {
  const std::string error = KvCacheChoiceError(choice);
  if (!error.empty()) return Status::InvalidArgument("--kv-cache: " + error);
  if (choice != "auto") return ParseFormatName(choice);
  const std::string& declared = quant.kv_cache_quant_algo;
  if (declared.empty()) return KvCacheFormat::kBf16;
  if (declared == "FP8") return KvCacheFormat::kFp8;
  return Status::Unimplemented(source + ": kv_cache_quant_algo " + declared +
                               " is not emulated (only FP8); pass --kv-cache bf16 or --kv-cache fp8");
}

KvScales KvScalesFromCheckpoint(std::optional<float> k_scale, std::optional<float> v_scale) {
  if (k_scale && v_scale) return {*k_scale, *v_scale};
  if (k_scale || v_scale) {
    const float only = k_scale ? *k_scale : *v_scale;
    return {only, only};
  }
  return {};
}

float Fp8KvRoundTrip(float x, float scale) { return E4M3ToF32(F32ToE4M3(x / scale)) * scale; }

Result<PrecisionLabel> ParsePrecisionLabel(const std::string& label) {
  PrecisionLabel out;
  const size_t suffix = label.find(kKvSuffix);
  out.weights = label.substr(0, suffix);
  if (out.weights.empty()) {
    return Status::InvalidArgument("precision '" + label + "': expected WEIGHTS or WEIGHTS+kv-FORMAT, e.g. nvfp4+kv-fp8");
  }
  if (suffix != std::string::npos) {
    auto kv = ParseFormatName(label.substr(suffix + std::string(kKvSuffix).size()));
    if (!kv.ok()) return kv.status().WithContext("precision '" + label + "'");
    out.kv = *kv;
  }
  return out;
}

std::string PrecisionLabelFor(const std::string& weights, KvCacheFormat kv) {
  return kv == KvCacheFormat::kFp8 ? weights + kKvSuffix + KvCacheFormatName(kv) : weights;
}

}  // namespace fp4lab
