#include "engine/weight_loader.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/codecs.h"
#include "engine/fp8.h"
#include "engine/nvfp4.h"

namespace fp4lab {

namespace {

// Module names that stay bf16 when a bf16 checkpoint is quantized on load (ModelOpt's default exclusions that
// apply to the families fp4lab runs).
bool ExcludedByDefault(const std::string& prefix, std::string* pattern) {
  for (const char* p : {"lm_head", "router", "mlp.gate"}) {
    const std::string needle = p;
    const bool match = needle == "mlp.gate" ? prefix.size() >= 8 && prefix.compare(prefix.size() - 8, 8, needle) == 0
                                            : prefix.find(needle) != std::string::npos;
    if (match) {
      *pattern = needle;
      return true;
    }
  }
  return false;
}

Result<float> ReadScalarF32(const TensorSource& reader, const std::string& name) {
  FP4LAB_ASSIGN_OR_RETURN(const TensorView* t, reader.Require(name));
  if (t->dtype != DType::kF32 || t->NumElements() != 1) {
    return Status::InvalidArgument(t->file + ": tensor '" + name + "' must be one F32 value, got " +
                                   std::string(DTypeName(t->dtype)) + " " + t->ShapeString());
  }
  float v;
  std::memcpy(&v, t->bytes.data(), 4);
  if (!std::isfinite(v) || v <= 0.0f) {
    return Status::InvalidArgument(t->file + ": tensor '" + name + "' must be a positive finite scale, got " +
                                   std::to_string(v));
  }
  return v;
}

Status ExpectTensor(const TensorView& t, DType dtype, std::vector<int64_t> shape, const char* what) {
  if (t.dtype != dtype || t.shape != shape) {
    std::string expected = "[";
    for (size_t i = 0; i < shape.size(); ++i) expected += (i ? ", " : "") + std::to_string(shape[i]);
    expected += "]";
    return Status::InvalidArgument(t.file + ": tensor '" + t.name + "' (" + what + ") must be " +
                                   std::string(DTypeName(dtype)) + " " + expected + ", got " +
                                   std::string(DTypeName(t.dtype)) + " " + t.ShapeString());
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<float>> DecodeToF32(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.NumElements()));
  switch (t.dtype) {
    case DType::kF32:
      std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
      break;
    case DType::kBF16:
    case DType::kF16: {
      std::vector<uint16_t> bits(out.size());
      std::memcpy(bits.data(), t.bytes.data(), t.bytes.size());
      if (t.dtype == DType::kBF16) {
        DecodeBf16Row(bits, out);
      } else {
        DecodeF16Row(bits, out);
      }
      break;
    }
    default:
      return Status::InvalidArgument(t.file + ": tensor '" + t.name + "' has dtype " +
                                     std::string(DTypeName(t.dtype)) + "; expected BF16, F16 or F32");
  }
  return out;
}

WeightLoader::WeightLoader(const TensorSource& reader, const QuantConfig& quant, LinearScheme run_scheme,
                           std::map<std::string, float> activation_amax)
    : reader_(reader), quant_(quant), run_scheme_(run_scheme), activation_amax_(std::move(activation_amax)) {}

WeightLoader::WeightLoader(const SyntheticWeights& source, LinearScheme run_scheme, SyntheticPayloads payloads)
    : reader_(source), quant_(source.quant_config()), run_scheme_(run_scheme) {
  if (payloads == SyntheticPayloads::kOnDevice) device_payloads_ = &source;
}

bool WeightLoader::Has(const std::string& name) const {
  // A kOnDevice source answers from its descriptions: asking it to Find() would generate the tensor.
  if (device_payloads_ != nullptr) return device_payloads_->Describe(name) != nullptr;
  return reader_.Find(name) != nullptr;
}

Result<const TensorView*> WeightLoader::Stored(const std::string& name, DType dtype,
                                               std::optional<SyntheticTensor>* deferred) {
  deferred->reset();
  if (device_payloads_ != nullptr) {
    if (const SyntheticTensorInfo* info = device_payloads_->Describe(name); info && info->view.dtype == dtype) {
      *deferred = info->payload;
      return &info->view;
    }
  }
  return reader_.Require(name);
}

Result<std::vector<uint16_t>> WeightLoader::ReadAsBf16(const TensorView& t) {
  std::vector<uint16_t> bits(static_cast<size_t>(t.NumElements()));
  if (t.dtype == DType::kBF16) {
    std::memcpy(bits.data(), t.bytes.data(), t.bytes.size());
    return bits;
  }
  // F16/F32 checkpoints: rounded to bf16 (RNE), the precision of the reference path.
  FP4LAB_ASSIGN_OR_RETURN(std::vector<float> values, DecodeToF32(t));
  EncodeBf16Row(values, bits);
  return bits;
}

Result<KvScales> WeightLoader::KvCacheScales(const std::string& prefix) const {
  std::optional<float> scales[2];
  const std::string names[2] = {prefix + "k_proj.k_scale", prefix + "v_proj.v_scale"};
  for (int i = 0; i < 2; ++i) {
    if (!Has(names[i])) continue;
    FP4LAB_ASSIGN_OR_RETURN(scales[i], ReadScalarF32(reader_, names[i]));
  }
  return KvScalesFromCheckpoint(scales[0], scales[1]);
}

Result<std::vector<float>> WeightLoader::Vector(const std::string& name, int64_t expected) {
  FP4LAB_ASSIGN_OR_RETURN(const TensorView* t, reader_.Require(name));
  if (t->shape.size() != 1 || t->shape[0] != expected) {
    return Status::InvalidArgument(t->file + ": tensor '" + name + "' must have shape [" + std::to_string(expected) +
                                   "], got " + t->ShapeString());
  }
  return DecodeToF32(*t);
}

Result<LinearWeights> WeightLoader::Dense(const std::string& name, const std::string& reason) {
  std::optional<SyntheticTensor> deferred;
  FP4LAB_ASSIGN_OR_RETURN(const TensorView* t, Stored(name, DType::kBF16, &deferred));
  if (t->shape.size() != 2) {
    return Status::InvalidArgument(t->file + ": tensor '" + name + "' must be 2-D, got " + t->ShapeString());
  }
  LinearWeights w;
  w.name = name.substr(0, name.rfind(".weight"));
  w.out_features = t->shape[0];
  w.in_features = t->shape[1];
  w.scheme = LinearScheme::kBf16;
  w.reason = reason;
  if (deferred) {
    w.synthetic = SyntheticLinearPayload{*deferred, {}};
  } else {
    FP4LAB_ASSIGN_OR_RETURN(w.bf16, ReadAsBf16(*t));
  }
  return w;
}

void WeightLoader::Record(const LinearWeights& w) {
  layer_map_.push_back({w.name, w.scheme, w.reason, w.StoredBytes(), w.out_features * w.in_features});
}

Result<LinearWeights> WeightLoader::Linear(const std::string& prefix, std::span<const std::string> fused_group) {
  FP4LAB_ASSIGN_OR_RETURN(const QuantConfig::Resolution stored, quant_.Resolve(prefix));
  Result<LinearWeights> w = stored.scheme == LinearScheme::kBf16 ? LoadBf16Layer(prefix, fused_group)
                                                                 : LoadQuantizedLayer(prefix, stored.scheme);
  if (!w.ok()) return w.status();
  if (stored.scheme == LinearScheme::kBf16 && IsQuantized(quant_)) w->reason = stored.reason;
  FP4LAB_RETURN_IF_ERROR(ReadBias(prefix, *w));
  Record(*w);
  return w;
}

Result<LinearWeights> WeightLoader::UnquantizedLinear(const std::string& prefix, const std::string& reason) {
  FP4LAB_ASSIGN_OR_RETURN(LinearWeights w, Dense(prefix + ".weight", reason));
  FP4LAB_RETURN_IF_ERROR(ReadBias(prefix, w));
  Record(w);
  return w;
}

Status WeightLoader::ReadBias(const std::string& prefix, LinearWeights& w) {
  const std::string bias_name = prefix + ".bias";
  const TensorView* b = reader_.Find(bias_name);
  if (b == nullptr) return Status::Ok();
  if (b->shape != std::vector<int64_t>{w.out_features}) {
    return Status::InvalidArgument(b->file + ": tensor '" + bias_name + "' must have shape [" +
                                   std::to_string(w.out_features) + "], got " + b->ShapeString());
  }
  FP4LAB_ASSIGN_OR_RETURN(w.bias, DecodeToF32(*b));
  return Status::Ok();
}

Result<LinearWeights> WeightLoader::LoadQuantizedLayer(const std::string& prefix, LinearScheme stored) {
  if (run_scheme_ == LinearScheme::kBf16) {
    return Status::FailedPrecondition(reader_.path() + ": layer '" + prefix + "' is stored " +
                                      LinearSchemeName(stored) +
                                      "; a bf16 run needs the BF16 base checkpoint (pass it as --reference)");
  }
  LinearWeights w;
  w.name = prefix;
  std::optional<SyntheticTensor> deferred_weight, deferred_scales;
  if (stored == LinearScheme::kFp8) {
    FP4LAB_ASSIGN_OR_RETURN(const TensorView* weight, Stored(prefix + ".weight", DType::kF8E4M3, &deferred_weight));
    if (weight->dtype != DType::kF8E4M3 || weight->shape.size() != 2) {
      return Status::InvalidArgument(weight->file + ": tensor '" + weight->name + "' is in an FP8 layer and must be "
                                     "F8_E4M3 [N, K], got " + std::string(DTypeName(weight->dtype)) + " " +
                                     weight->ShapeString());
    }
    w.out_features = weight->shape[0];
    w.in_features = weight->shape[1];
    w.scheme = LinearScheme::kFp8;
    w.reason = "checkpoint FP8";
    if (deferred_weight) {
      w.synthetic = SyntheticLinearPayload{*deferred_weight, {}};
    } else {
      w.fp8.assign(weight->bytes.begin(), weight->bytes.end());
    }
    FP4LAB_ASSIGN_OR_RETURN(w.fp8_weight_scale, ReadScalarF32(reader_, prefix + ".weight_scale"));
    FP4LAB_ASSIGN_OR_RETURN(w.input_scale, ReadScalarF32(reader_, prefix + ".input_scale"));
    return w;
  }
  // NVFP4, in ModelOpt names (weight, weight_scale, weight_scale_2, input_scale) or compressed-tensors names
  // (weight_packed, weight_scale, weight_global_scale = 1/weight_scale_2, input_global_scale = 1/input_scale).
  const bool ct = quant_.format == QuantConfig::Format::kCompressedTensors;
  const std::string packed_name = prefix + (ct ? ".weight_packed" : ".weight");
  FP4LAB_ASSIGN_OR_RETURN(const TensorView* packed, Stored(packed_name, DType::kU8, &deferred_weight));
  if (packed->dtype != DType::kU8 || packed->shape.size() != 2) {
    return Status::InvalidArgument(packed->file + ": tensor '" + packed_name + "' is in an NVFP4 layer and must be "
                                   "packed U8 [N, K/2], got " + std::string(DTypeName(packed->dtype)) + " " +
                                   packed->ShapeString());
  }
  w.out_features = packed->shape[0];
  w.in_features = packed->shape[1] * 2;
  if (w.in_features % kNvfp4BlockSize != 0) {
    return Status::InvalidArgument(packed->file + ": tensor '" + packed_name + "': K = " +
                                   std::to_string(w.in_features) + " is not a multiple of 16 in an NVFP4 layer");
  }
  FP4LAB_ASSIGN_OR_RETURN(const TensorView* scales,
                          Stored(prefix + ".weight_scale", DType::kF8E4M3, &deferred_scales));
  FP4LAB_RETURN_IF_ERROR(ExpectTensor(*scales, DType::kF8E4M3, {w.out_features, w.in_features / 16},
                                      "NVFP4 block scales [N, K/16]"));
  // One source holds both tensors and their dtypes are checked above, so both are deferred or neither is (a mix
  // would leave a view without bytes, which ValidateNvfp4View rejects).
  if (deferred_weight && deferred_scales) {
    // The sizes ValidateNvfp4View checks follow from the shapes checked above.
    w.synthetic = SyntheticLinearPayload{*deferred_weight, *deferred_scales};
  } else {
    w.codes.assign(packed->bytes.begin(), packed->bytes.end());
    w.block_scales.assign(scales->bytes.begin(), scales->bytes.end());
    FP4LAB_RETURN_IF_ERROR(ValidateNvfp4View({w.out_features, w.in_features, w.codes, w.block_scales})
                               .WithContext(packed->file));
  }
  if (ct) {
    FP4LAB_ASSIGN_OR_RETURN(float global, ReadScalarF32(reader_, prefix + ".weight_global_scale"));
    w.weight_scale_2 = 1.0f / global;
  } else {
    FP4LAB_ASSIGN_OR_RETURN(w.weight_scale_2, ReadScalarF32(reader_, prefix + ".weight_scale_2"));
  }
  const std::string input_name = prefix + (ct ? ".input_global_scale" : ".input_scale");
  const bool has_input_scale = reader_.Find(input_name) != nullptr;
  if (run_scheme_ == LinearScheme::kNvfp4 && has_input_scale && stored == LinearScheme::kNvfp4) {
    FP4LAB_ASSIGN_OR_RETURN(float s, ReadScalarF32(reader_, input_name));
    w.input_scale = ct ? 1.0f / s : s;
    w.scheme = LinearScheme::kNvfp4;
    w.reason = "checkpoint NVFP4 (W4A4)";
  } else if (run_scheme_ == LinearScheme::kNvfp4 && stored == LinearScheme::kNvfp4) {
    return Status::InvalidArgument(reader_.path() + ": NVFP4 layer '" + prefix + "' has no " + input_name +
                                   " tensor; W4A4 needs it (run nvfp4-w4a16 for weight-only)");
  } else {
    w.scheme = LinearScheme::kNvfp4W4A16;
    w.reason = stored == LinearScheme::kNvfp4W4A16 ? "checkpoint W4A16_NVFP4" : "checkpoint NVFP4, weight-only run";
  }
  return w;
}

Result<LinearWeights> WeightLoader::LoadBf16Layer(const std::string& prefix, std::span<const std::string> group) {
  FP4LAB_ASSIGN_OR_RETURN(LinearWeights w, Dense(prefix + ".weight", ""));
  if (run_scheme_ == LinearScheme::kBf16) {
    w.reason = "bf16 run";
    return w;
  }
  std::string pattern;
  if (IsQuantized(quant_)) return w;  // excluded or unlisted in the checkpoint's config: Linear() sets the reason
  if (ExcludedByDefault(prefix, &pattern)) {
    w.reason = "excluded by default ('" + pattern + "')";
    return w;
  }
  if (w.in_features % kNvfp4BlockSize != 0 && run_scheme_ != LinearScheme::kFp8) {
    w.reason = "K=" + std::to_string(w.in_features) + " is not a multiple of 16";
    return w;
  }
  if (w.synthetic) {  // quantized on load: the bf16 values are needed here
    FP4LAB_ASSIGN_OR_RETURN(const TensorView* t, reader_.Require(prefix + ".weight"));
    FP4LAB_ASSIGN_OR_RETURN(w.bf16, ReadAsBf16(*t));
    w.synthetic.reset();
  }
  // The global scales are shared by every member of the fused group (ModelOpt's preprocess_linear_fusion).
  std::vector<std::string> members(group.begin(), group.end());
  if (members.empty()) members.push_back(prefix);
  float weight_amax = 0.0f;
  float input_amax = 0.0f;
  for (const auto& member : members) {
    FP4LAB_ASSIGN_OR_RETURN(const TensorView* t, reader_.Require(member + ".weight"));
    FP4LAB_ASSIGN_OR_RETURN(std::vector<uint16_t> bits, ReadAsBf16(*t));
    weight_amax = std::max(weight_amax, AmaxOfBf16(bits));
    auto it = activation_amax_.find(member);
    if (it != activation_amax_.end()) input_amax = std::max(input_amax, it->second);
  }
  const bool needs_input = run_scheme_ == LinearScheme::kNvfp4 || run_scheme_ == LinearScheme::kFp8;
  if (needs_input && !(input_amax > 0.0f)) {
    return Status::FailedPrecondition(prefix + ": no calibrated activation amax for quantizing to " +
                                      std::string(LinearSchemeName(run_scheme_)));
  }
  if (run_scheme_ == LinearScheme::kFp8) {
    w.fp8_weight_scale = Fp8ScaleFromAmax(weight_amax);
    FP4LAB_ASSIGN_OR_RETURN(w.fp8, QuantizeFp8WeightBf16(prefix, w.bf16, w.fp8_weight_scale));
    w.input_scale = Fp8ScaleFromAmax(input_amax);
  } else {
    FP4LAB_ASSIGN_OR_RETURN(Nvfp4Weight q, QuantizeNvfp4WeightBf16(prefix, w.bf16, w.out_features, w.in_features,
                                                                   WeightScale2FromAmax(weight_amax)));
    w.codes = std::move(q.packed);
    w.block_scales = std::move(q.scales);
    w.weight_scale_2 = q.weight_scale_2;
    w.input_scale = input_amax / kNvfp4ScaleRange;
  }
  w.bf16.clear();
  w.scheme = run_scheme_;
  w.reason = "quantized on load";
  return w;
}

}  // namespace fp4lab
