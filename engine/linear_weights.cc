#include "engine/linear_weights.h"

#include <cstring>

namespace fp4lab {

const char* LinearSchemeName(LinearScheme s) {
  switch (s) {
    case LinearScheme::kBf16: return "bf16";
    case LinearScheme::kNvfp4: return "nvfp4";
    case LinearScheme::kNvfp4W4A16: return "nvfp4-w4a16";
    case LinearScheme::kFp8: return "fp8";
  }
  return "?";
}

int64_t LinearWeights::WeightElements() const {
  if (synthetic) return synthetic->weight.elements;
  switch (scheme) {
    case LinearScheme::kBf16: return static_cast<int64_t>(bf16.size());
    case LinearScheme::kNvfp4:
    case LinearScheme::kNvfp4W4A16: return static_cast<int64_t>(codes.size());
    case LinearScheme::kFp8: return static_cast<int64_t>(fp8.size());
  }
  return 0;
}

int64_t LinearWeights::BlockScaleElements() const {
  return synthetic ? synthetic->block_scales.elements : static_cast<int64_t>(block_scales.size());
}

int64_t LinearWeights::StoredBytes() const {
  const int64_t payload = synthetic ? synthetic->weight.Bytes() + synthetic->block_scales.Bytes()
                                    : static_cast<int64_t>(bf16.size()) * 2 +
                                          static_cast<int64_t>(codes.size() + block_scales.size() + fp8.size());
  int64_t bytes = payload + static_cast<int64_t>(bias.size()) * 2;
  if (scheme == LinearScheme::kNvfp4 || scheme == LinearScheme::kNvfp4W4A16) bytes += 4;  // weight_scale_2
  if (scheme == LinearScheme::kNvfp4 || scheme == LinearScheme::kFp8) bytes += 4;         // input_scale
  if (scheme == LinearScheme::kFp8) bytes += 4;                                          // weight_scale
  return bytes;
}

Status CheckFusable(std::span<const LinearWeights> parts) {
  if (parts.empty()) return Status::FailedPrecondition("nothing to fuse");
  const LinearWeights& a = parts[0];
  const auto same_bits = [](float x, float y) { return std::memcmp(&x, &y, sizeof x) == 0; };
  for (const LinearWeights& b : parts.subspan(1)) {
    const std::string pair = a.name + " and " + b.name;
    if (b.in_features != a.in_features) return Status::FailedPrecondition(pair + " have different in_features");
    if (b.scheme != a.scheme) return Status::FailedPrecondition(pair + " have different schemes");
    if (!same_bits(b.weight_scale_2, a.weight_scale_2) || !same_bits(b.fp8_weight_scale, a.fp8_weight_scale) ||
        !same_bits(b.input_scale, a.input_scale)) {
      return Status::FailedPrecondition(pair + " have different global scales");
    }
    if (b.bias.empty() != a.bias.empty()) return Status::FailedPrecondition(pair + ": only one has a bias");
    if (b.synthetic.has_value() != a.synthetic.has_value()) {
      return Status::FailedPrecondition(pair + ": only one is synthetic");
    }
  }
  return Status::Ok();
}

Result<LinearWeights> StackLinearWeights(std::span<const LinearWeights> parts, const std::string& name) {
  FP4LAB_RETURN_IF_ERROR(CheckFusable(parts));
  LinearWeights out = parts[0];
  out.name = name;
  out.out_features = 0;
  out.bf16.clear();
  out.codes.clear();
  out.block_scales.clear();
  out.fp8.clear();
  out.bias.clear();
  for (const LinearWeights& p : parts) {
    if (p.synthetic) return Status::InvalidArgument(p.name + ": a synthetic payload cannot be stacked on the host");
    out.out_features += p.out_features;
    out.bf16.insert(out.bf16.end(), p.bf16.begin(), p.bf16.end());
    out.codes.insert(out.codes.end(), p.codes.begin(), p.codes.end());
    out.block_scales.insert(out.block_scales.end(), p.block_scales.begin(), p.block_scales.end());
    out.fp8.insert(out.fp8.end(), p.fp8.begin(), p.fp8.end());
    out.bias.insert(out.bias.end(), p.bias.begin(), p.bias.end());
  }
  return out;
}

}  // namespace fp4lab
