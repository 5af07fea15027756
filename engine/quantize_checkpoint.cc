#include "engine/quantize_checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "engine/arch/architecture.h"
#include "engine/codecs.h"
#include "engine/engine.h"
#include "engine/file_util.h"
#include "engine/nvfp4.h"
#include "engine/quant_config.h"
#include "engine/safetensors.h"
#include "engine/split_experts_source.h"
#include "engine/tokenizer.h"

namespace fp4lab {

namespace fs = std::filesystem;

namespace {

// Files a loader or tokenizer needs beside the weights, copied when present.
constexpr const char* kTokenizerFiles[] = {"tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                                           "special_tokens_map.json", "generation_config.json"};

// Linears that consume the same input and therefore share global scales (ModelOpt preprocess_linear_fusion).
const std::vector<std::vector<std::string>> kFusedLeaves = {
    {"q_proj", "k_proj", "v_proj"}, {"gate_proj", "up_proj"}, {"w1", "w3"}};

std::string ParentOf(const std::string& prefix) {
  const size_t dot = prefix.rfind('.');
  return dot == std::string::npos ? "" : prefix.substr(0, dot + 1);
}

std::string LeafOf(const std::string& prefix) {
  const size_t dot = prefix.rfind('.');
  return dot == std::string::npos ? prefix : prefix.substr(dot + 1);
}

// The members of `prefix`'s fused group that exist in `linears` (just `prefix` when it is not fused).
std::vector<std::string> FusedGroup(const std::string& prefix, const std::set<std::string>& linears) {
  const std::string parent = ParentOf(prefix), leaf = LeafOf(prefix);
  for (const auto& leaves : kFusedLeaves) {
    if (std::find(leaves.begin(), leaves.end(), leaf) == leaves.end()) continue;
    std::vector<std::string> group;
    for (const std::string& member : leaves) {
      if (linears.count(parent + member)) group.push_back(parent + member);
    }
    return group;
  }
  return {prefix};
}

bool IsFloat(DType t) { return t == DType::kBF16 || t == DType::kF16 || t == DType::kF32; }

// The fused 3-D expert tensors of a checkpoint ("<p>.experts.gate_up_proj" [E, 2I, H], "<p>.experts.down_proj"
// [E, H, I]), which are written per expert (engine/split_experts_source.h), never copied.
bool IsFusedExperts(const TensorView& t) {
  return t.shape.size() == 3 && IsFloat(t.dtype) &&
         (t.name.ends_with(".experts.gate_up_proj") || t.name.ends_with(".experts.down_proj"));
}

// The Linear prefixes of a checkpoint, in its tensor order: every floating-point 2-D "<prefix>.weight" except the
// token embedding, which the engine reads as a table (WeightLoader::Dense), never as a Linear; and for fused 3-D
// experts the per-expert Linears they hold ("<p>.experts.<e>.gate_proj", "up_proj" / "down_proj").
std::vector<std::string> LinearPrefixes(const SafetensorsReader& reader) {
  std::vector<std::string> out;
  constexpr std::string_view kSuffix = ".weight";
  for (const TensorView& t : reader.tensors()) {
    if (IsFusedExperts(t)) {
      const std::string stem = t.name.substr(0, t.name.rfind('.') + 1);  // "<p>.experts."
      const bool gate_up = t.name.ends_with("gate_up_proj");
      for (int64_t e = 0; e < t.shape[0]; ++e) {
        for (const char* leaf : gate_up ? std::vector<const char*>{"gate_proj", "up_proj"}
                                        : std::vector<const char*>{"down_proj"}) {
          out.push_back(stem + std::to_string(e) + "." + leaf);
        }
      }
      continue;
    }
    if (t.shape.size() != 2 || !IsFloat(t.dtype) || !t.name.ends_with(kSuffix)) continue;
    const std::string prefix = t.name.substr(0, t.name.size() - kSuffix.size());
    if (LeafOf(prefix) == "embed_tokens") continue;
    out.push_back(prefix);
  }
  return out;
}

// Whether `prefix` is a routed expert's Linear ("<layer>.experts.<e>.<leaf>").
bool IsExpertLinear(const std::string& prefix) {
  const size_t at = prefix.rfind(".experts.");
  if (at == std::string::npos) return false;
  const std::string rest = prefix.substr(at + 9);
  const size_t dot = rest.find('.');
  return dot != std::string::npos && dot > 0 && rest.find_first_not_of("0123456789") == dot;
}

// InvalidArgument naming the first NaN/Inf element of any floating-point tensor.
Status CheckFinite(const SafetensorsReader& reader) {
  for (const TensorView& t : reader.tensors()) {
    if (!IsFloat(t.dtype)) continue;
    const size_t size = DTypeSize(t.dtype);
    const int64_t n = t.NumElements();
    for (int64_t i = 0; i < n; ++i) {
      bool nan = false, inf = false;
      const uint8_t* p = t.bytes.data() + i * size;
      if (size == 4) {
        uint32_t bits;
        std::memcpy(&bits, p, 4);
        const bool special = (bits & 0x7F800000u) == 0x7F800000u;
        nan = special && (bits & 0x007FFFFFu);
        inf = special && !nan;
      } else {
        uint16_t bits;
        std::memcpy(&bits, p, 2);
        const uint16_t exponent = t.dtype == DType::kBF16 ? 0x7F80u : 0x7C00u;
        const bool special = (bits & exponent) == exponent;
        nan = special && (bits & static_cast<uint16_t>(~exponent & 0x7FFFu));
        inf = special && !nan;
      }
      if (nan || inf) {
        return Status::InvalidArgument(t.file + ": tensor '" + t.name + "' element " + std::to_string(i) + " is " +
                                       (nan ? "NaN" : "Inf") + "; quantization needs finite weights");
      }
    }
  }
  return Status::Ok();
}

// The tensor's values as bf16 bits (F16/F32 rounded to nearest even, as WeightLoader reads them).
Result<std::vector<uint16_t>> ReadBf16(const TensorView& t) {
  std::vector<uint16_t> bits(static_cast<size_t>(t.NumElements()));
  if (t.dtype == DType::kBF16) {
    std::memcpy(bits.data(), t.bytes.data(), t.bytes.size());
    return bits;
  }
  FP4LAB_ASSIGN_OR_RETURN(std::vector<float> values, DecodeToF32(t));
  EncodeBf16Row(values, bits);
  return bits;
}

TensorToWrite Copy(const TensorView& t) { return {t.name, t.dtype, t.shape, {t.bytes.begin(), t.bytes.end()}}; }

TensorToWrite Scalar(const std::string& name, float value, bool one_element_shape) {
  TensorToWrite t{name, DType::kF32, {}, std::vector<uint8_t>(4)};
  if (one_element_shape) t.shape = {1};
  std::memcpy(t.bytes.data(), &value, 4);
  return t;
}

// Ordering of the safetensors library's serializer: dtypes in descending order of its Dtype enum (I64 > F32 > I32 >
// BF16 > F16 > F8_E4M3 > I8 > U8), then names ascending. Larger dtypes first also keeps every tensor aligned.
int SafetensorsDtypeRank(DType t) {
  switch (t) {
    case DType::kU8: return 0;
    case DType::kI8: return 1;
    case DType::kF8E4M3: return 2;
    case DType::kF16: return 3;
    case DType::kBF16: return 4;
    case DType::kI32: return 5;
    case DType::kF32: return 6;
    case DType::kI64: return 7;
  }
  return 0;
}

// The calibration token sequences of `o` (empty when the scheme needs no activation scales).
Result<std::vector<std::vector<int32_t>>> CalibrationSequences(const QuantizeOptions& o, const ModelConfig& config) {
  if (o.scheme != LinearScheme::kNvfp4 && o.scheme != LinearScheme::kFp8) return std::vector<std::vector<int32_t>>{};
  std::vector<std::vector<int32_t>> sequences = o.calibration_sequences;
  if (sequences.empty()) {
    if (o.calibration_text.empty()) {
      return Status::FailedPrecondition(o.model_dir + ": quantizing to " + LinearSchemeName(o.scheme) +
                                        " calibrates activation scales and needs calibration text or token ids");
    }
    if (o.calibration_tokens < 2) {
      return Status::InvalidArgument("calibration_tokens must be at least 2 (BOS and one text token), got " +
                                     std::to_string(o.calibration_tokens));
    }
    auto tokenizer = Tokenizer::Open(o.model_dir, config.bos_token_id, config.eos_token_id);
    if (!tokenizer.ok()) return tokenizer.status().WithContext("calibration text needs the checkpoint's tokenizer");
    FP4LAB_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, (*tokenizer)->Encode(o.calibration_text));
    tokens.insert(tokens.begin(), config.bos_token_id);
    if (static_cast<int>(tokens.size()) > o.calibration_tokens) tokens.resize(o.calibration_tokens);
    sequences.push_back(std::move(tokens));
  }
  for (size_t s = 0; s < sequences.size(); ++s) {
    if (sequences[s].empty()) {
      return Status::InvalidArgument("calibration sequence " + std::to_string(s) + " is empty");
    }
    for (size_t i = 0; i < sequences[s].size(); ++i) {
      const int32_t id = sequences[s][i];
      if (id < 0 || id >= config.vocab_size) {
        return Status::InvalidArgument("calibration sequence " + std::to_string(s) + " position " +
                                       std::to_string(i) + ": token id " + std::to_string(id) + " is outside [0, " +
                                       std::to_string(config.vocab_size) + ")");
      }
    }
  }
  return sequences;
}

// FailedPrecondition when `dir` exists and is not an empty directory (and force is off).
Status CheckOutputDir(const fs::path& dir, bool force) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::Ok();
  if (!fs::is_directory(dir, ec)) {
    return Status::FailedPrecondition(dir.string() + ": exists and is not a directory");
  }
  if (!force && !fs::is_empty(dir, ec)) {
    return Status::FailedPrecondition(dir.string() + ": exists and is not empty (pass --force to replace it)");
  }
  return Status::Ok();
}

// Removes a temporary directory unless Release()d.
class TempDirGuard {
 public:
  explicit TempDirGuard(fs::path dir) : dir_(std::move(dir)) {}
  ~TempDirGuard() {
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }
  TempDirGuard(const TempDirGuard&) = delete;
  TempDirGuard& operator=(const TempDirGuard&) = delete;
  void Release() { dir_.clear(); }

 private:
  fs::path dir_;
};

Status WriteJson(const fs::path& path, const nlohmann::json& value) {
  return WriteFileAtomically(path.string(), [&](std::ostream& out) {
    out << value.dump(2) << "\n";
    return Status::Ok();
  });
}

// Moves the finished temporary directory to `out`, replacing an existing `out` (already checked by
// CheckOutputDir) so that some complete directory is always in place.
Status Commit(const fs::path& tmp, const fs::path& out, bool force) {
  FP4LAB_RETURN_IF_ERROR(CheckOutputDir(out, force));
  std::error_code ec;
  if (!fs::exists(out, ec)) {
    fs::rename(tmp, out, ec);
    if (ec) return Status::IoError(out.string() + ": cannot rename " + tmp.string() + " into place: " + ec.message());
    return Status::Ok();
  }
  const fs::path old = out.string() + ".old." + std::to_string(::getpid());
  fs::rename(out, old, ec);
  if (ec) return Status::IoError(out.string() + ": cannot move the existing directory aside: " + ec.message());
  fs::rename(tmp, out, ec);
  if (ec) {
    std::error_code restore;
    fs::rename(old, out, restore);
    return Status::IoError(out.string() + ": cannot rename " + tmp.string() + " into place: " + ec.message());
  }
  fs::remove_all(old, ec);
  return Status::Ok();
}

// Everything QuantizeCheckpoint has decided and computed for one Linear.
struct QuantizedLinear {
  LayerPrecision precision;
  std::vector<TensorToWrite> tensors;  // empty when the layer stays bf16 (its tensors are copied)
};

class CheckpointQuantizer {
 public:
  // `reader` is the checkpoint seen through SplitExpertsSource (fused experts as per-expert Linears).
  CheckpointQuantizer(const QuantizeOptions& options, const TensorSource& reader, std::map<std::string, float> amax)
      : o_(options),
        reader_(reader),
        amax_(amax),
        loader_(reader, no_quant_, options.scheme, std::move(amax)) {
    user_excludes_.format = QuantConfig::Format::kModelOpt;
    user_excludes_.algorithm = "NVFP4";
    user_excludes_.uniform_scheme = options.scheme;
    user_excludes_.exclude_modules = options.exclude;
    user_excludes_.source = "--exclude";
  }

  Result<QuantizedLinear> Quantize(const std::string& prefix, const std::vector<std::string>& group) {
    QuantizedLinear out;
    out.precision.layer = prefix;
    FP4LAB_ASSIGN_OR_RETURN(const TensorView* weight, reader_.Require(prefix + ".weight"));
    out.precision.parameters = weight->NumElements();
    FP4LAB_ASSIGN_OR_RETURN(std::optional<std::string> excluded, UserExclusion(prefix, group));
    if (!excluded && o_.recipe == QuantizeRecipe::kExpertsOnly && !IsExpertLinear(prefix)) {
      excluded = "not a routed expert (recipe experts-only)";
    }
    if (excluded) {
      out.precision.reason = *excluded;
      out.precision.bytes = StoredBf16Bytes(prefix);
      return out;
    }
    FP4LAB_ASSIGN_OR_RETURN(LinearWeights w, loader_.Linear(prefix, group));
    if (w.scheme == LinearScheme::kBf16) {
      out.precision.reason = w.reason;
      out.precision.bytes = StoredBf16Bytes(prefix);
      return out;
    }
    out.precision.scheme = w.scheme;
    out.precision.reason = group.size() > 1 ? "quantized, global scales shared with its fused group"
                                            : "quantized";
    if (o_.format == CheckpointFormat::kModelOpt) {
      out.tensors = ModelOptTensors(prefix, w);
    } else {
      FP4LAB_ASSIGN_OR_RETURN(out.tensors, CompressedTensorsTensors(prefix, *weight, group));
    }
    out.precision.bytes = StoredBf16Bytes(prefix) - static_cast<int64_t>(weight->bytes.size());
    for (const TensorToWrite& t : out.tensors) out.precision.bytes += static_cast<int64_t>(t.bytes.size());
    return out;
  }

 private:
  // The reason when an --exclude pattern keeps `prefix` bf16. A pattern that matches only part of a fused group
  // is an error: vLLM (and any fused GEMM) needs one scheme per fused group.
  Result<std::optional<std::string>> UserExclusion(const std::string& prefix, const std::vector<std::string>& group) {
    std::optional<std::string> mine;
    bool any_excluded = false, any_kept = false;
    for (const std::string& member : group) {
      FP4LAB_ASSIGN_OR_RETURN(const QuantConfig::Resolution r, user_excludes_.Resolve(member));
      const bool excluded = r.scheme == LinearScheme::kBf16;
      (excluded ? any_excluded : any_kept) = true;
      if (member == prefix && excluded) mine = r.reason;
    }
    if (any_excluded && any_kept) {
      std::string names;
      for (const std::string& member : group) names += (names.empty() ? "" : ", ") + member;
      return Status::InvalidArgument("--exclude patterns " + JoinPatterns() + " keep only part of the fused group {" +
                                     names + "} bf16; exclude all of its members or none");
    }
    return mine;
  }

  std::string JoinPatterns() const {
    std::string out;
    for (const std::string& p : o_.exclude) out += (out.empty() ? "'" : ", '") + p + "'";
    return out;
  }

  // Bytes of the layer's weight and bias as stored in the input (what a bf16 layer keeps).
  int64_t StoredBf16Bytes(const std::string& prefix) const {
    int64_t bytes = 0;
    for (const char* suffix : {".weight", ".bias"}) {
      if (const TensorView* t = reader_.Find(prefix + suffix)) bytes += static_cast<int64_t>(t->bytes.size());
    }
    return bytes;
  }

  std::vector<TensorToWrite> ModelOptTensors(const std::string& p, LinearWeights& w) const {
    std::vector<TensorToWrite> out;
    if (w.scheme == LinearScheme::kFp8) {
      out.push_back({p + ".weight", DType::kF8E4M3, {w.out_features, w.in_features}, std::move(w.fp8)});
      out.push_back(Scalar(p + ".weight_scale", w.fp8_weight_scale, false));
      out.push_back(Scalar(p + ".input_scale", w.input_scale, false));
      return out;
    }
    out.push_back({p + ".weight", DType::kU8, {w.out_features, w.in_features / 2}, std::move(w.codes)});
    out.push_back({p + ".weight_scale", DType::kF8E4M3, {w.out_features, w.in_features / kNvfp4BlockSize},
                   std::move(w.block_scales)});
    out.push_back(Scalar(p + ".weight_scale_2", w.weight_scale_2, false));
    if (w.scheme == LinearScheme::kNvfp4) out.push_back(Scalar(p + ".input_scale", w.input_scale, false));
    return out;
  }

  // compressed-tensors' own formulas on the same decision and the same fused-group amax as the loader's.
  Result<std::vector<TensorToWrite>> CompressedTensorsTensors(const std::string& p, const TensorView& weight,
                                                              const std::vector<std::string>& group) const {
    float weight_amax = 0.0f, input_amax = 0.0f;
    std::vector<uint16_t> bits;
    for (const std::string& member : group) {
      FP4LAB_ASSIGN_OR_RETURN(const TensorView* t, reader_.Require(member + ".weight"));
      FP4LAB_ASSIGN_OR_RETURN(std::vector<uint16_t> member_bits, ReadBf16(*t));
      weight_amax = std::max(weight_amax, AmaxOfBf16(member_bits));
      if (member == p) bits = std::move(member_bits);
      auto it = amax_.find(member);
      if (it != amax_.end()) input_amax = std::max(input_amax, it->second);
    }
    const int64_t n = weight.shape[0], k = weight.shape[1];
    auto q = QuantizeNvfp4CtWeightBf16(weight.name, bits, n, k, CtGlobalScaleFromAmax(weight_amax));
    if (!q.ok()) return q.status().WithContext(weight.file);
    std::vector<TensorToWrite> out;
    out.push_back({p + ".weight_packed", DType::kU8, {n, k / 2}, std::move(q->packed)});
    out.push_back({p + ".weight_scale", DType::kF8E4M3, {n, k / kNvfp4BlockSize}, std::move(q->scales)});
    out.push_back(Scalar(p + ".weight_global_scale", q->weight_global_scale, true));
    if (o_.scheme == LinearScheme::kNvfp4) {
      out.push_back(Scalar(p + ".input_global_scale", CtGlobalScaleFromAmax(input_amax), true));
    }
    return out;
  }

  const QuantizeOptions& o_;
  const TensorSource& reader_;
  const std::map<std::string, float> amax_;
  const QuantConfig no_quant_;  // the input is a plain bf16 checkpoint
  QuantConfig user_excludes_;   // --exclude patterns resolved with ModelOpt's matching rules
  WeightLoader loader_;
};

Status ValidateOptions(const QuantizeOptions& o) {
  if (o.scheme == LinearScheme::kBf16) {
    return Status::InvalidArgument("quantize: scheme bf16 is not a quantization (valid: nvfp4, nvfp4-w4a16, fp8)");
  }
  if (o.format == CheckpointFormat::kCompressedTensors && o.scheme == LinearScheme::kFp8) {
    return Status::InvalidArgument("quantize: the compressed-tensors writer supports nvfp4 and nvfp4-w4a16, not fp8 "
                                   "(use --format modelopt)");
  }
  if (o.model_dir.empty() || o.out_dir.empty()) {
    return Status::InvalidArgument("quantize: both the model directory and the output directory are required");
  }
  std::error_code ec;
  if (!fs::is_directory(o.model_dir, ec)) return Status::NotFound(o.model_dir + ": model directory does not exist");
  if (fs::weakly_canonical(o.model_dir, ec) == fs::weakly_canonical(o.out_dir, ec)) {
    return Status::InvalidArgument(o.out_dir + ": the output directory must differ from the model directory");
  }
  return CheckOutputDir(o.out_dir, o.force);
}

// Writes model.safetensors, config.json, hf_quant_config.json and the tokenizer files into `dir`.
Status WriteCheckpoint(const fs::path& dir, const QuantizeOptions& o, nlohmann::json config,
                       const std::vector<TensorToWrite>& tensors, const std::vector<std::string>& excluded) {
  FP4LAB_RETURN_IF_ERROR(WriteSafetensors((dir / "model.safetensors").string(), tensors, {{"format", "pt"}}));
  if (o.format == CheckpointFormat::kModelOpt) {
    FP4LAB_ASSIGN_OR_RETURN(ModelOptJson j, ModelOptQuantConfigJson(o.scheme, excluded, o.producer_version));
    if (o.recipe == QuantizeRecipe::kExpertsOnly) {  // the recipe's fp8_cast KV cache: FP8, no k/v scales
      j.hf_quant_config["quantization"]["kv_cache_quant_algo"] = "FP8";
      j.quantization_config["kv_cache_quant_algo"] = "FP8";
    }
    config["quantization_config"] = j.quantization_config;
    FP4LAB_RETURN_IF_ERROR(WriteJson(dir / "hf_quant_config.json", j.hf_quant_config));
  } else {
    FP4LAB_ASSIGN_OR_RETURN(config["quantization_config"], CompressedTensorsQuantConfigJson(o.scheme, excluded));
  }
  FP4LAB_RETURN_IF_ERROR(WriteJson(dir / "config.json", config));
  for (const char* name : kTokenizerFiles) {
    const fs::path from = fs::path(o.model_dir) / name;
    std::error_code ec;
    if (!fs::exists(from, ec)) continue;
    fs::copy_file(from, dir / name, ec);
    if (ec) return Status::IoError((dir / name).string() + ": cannot copy " + from.string() + ": " + ec.message());
  }
  return Status::Ok();
}

}  // namespace

Result<CheckpointFormat> ParseCheckpointFormat(const std::string& name) {
  for (CheckpointFormat f : {CheckpointFormat::kModelOpt, CheckpointFormat::kCompressedTensors}) {
    if (name == CheckpointFormatName(f)) return f;
  }
  return Status::InvalidArgument("unknown checkpoint format '" + name + "' (valid: modelopt, compressed-tensors)");
}

const char* CheckpointFormatName(CheckpointFormat format) {
  return format == CheckpointFormat::kModelOpt ? "modelopt" : "compressed-tensors";
}

Result<QuantizeRecipe> ParseQuantizeRecipe(const std::string& name) {
  for (QuantizeRecipe r : {QuantizeRecipe::kAllLinears, QuantizeRecipe::kExpertsOnly}) {
    if (name == QuantizeRecipeName(r)) return r;
  }
  return Status::InvalidArgument("unknown quantization recipe '" + name + "' (valid: all-linears, experts-only)");
}

const char* QuantizeRecipeName(QuantizeRecipe recipe) {
  return recipe == QuantizeRecipe::kAllLinears ? "all-linears" : "experts-only";
}

Result<QuantizeReport> QuantizeCheckpoint(const QuantizeOptions& o) {
  FP4LAB_RETURN_IF_ERROR(ValidateOptions(o));
  const fs::path model_dir(o.model_dir);
  const std::string config_path = (model_dir / "config.json").string();
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json config_json, ReadJsonFile(config_path));
  FP4LAB_ASSIGN_OR_RETURN(const auto blueprint, ParseModelBlueprint(config_json, config_path));
  const ModelConfig& config = blueprint->config();
  const std::string hf_quant_path = (model_dir / "hf_quant_config.json").string();
  std::optional<nlohmann::json> hf_quant;
  std::error_code ec;
  if (HasDirectoryEntry(hf_quant_path)) {
    FP4LAB_ASSIGN_OR_RETURN(hf_quant, ReadJsonFile(hf_quant_path));
  }
  FP4LAB_ASSIGN_OR_RETURN(const QuantConfig stored,
                          ParseQuantConfig(config_json, config_path, hf_quant ? &*hf_quant : nullptr, hf_quant_path));
  if (IsQuantized(stored)) {
    return Status::FailedPrecondition(o.model_dir + ": is already quantized (" + stored.algorithm + ", " +
                                      stored.source + "); quantize needs the bf16 checkpoint");
  }
  FP4LAB_ASSIGN_OR_RETURN(auto opened, SafetensorsReader::Open(o.model_dir));
  // Fused 3-D experts are also served per expert, under the names the manifests and ModelOpt's exports use.
  FP4LAB_ASSIGN_OR_RETURN(const auto source, SplitExpertsSource::Wrap(std::move(opened)));
  const SafetensorsReader* reader = &source->reader();
  FP4LAB_RETURN_IF_ERROR(CheckFinite(*reader));

  QuantizeReport report;
  FP4LAB_ASSIGN_OR_RETURN(const auto sequences, CalibrationSequences(o, config));
  std::map<std::string, float> amax;
  for (const auto& tokens : sequences) {
    FP4LAB_ASSIGN_OR_RETURN(const auto sequence_amax, CalibrateActivations(*blueprint, *source, stored, tokens));
    for (const auto& [name, value] : sequence_amax) amax[name] = std::max(amax[name], value);
    report.calibration_tokens += static_cast<int64_t>(tokens.size());
  }

  const std::vector<std::string> prefixes = LinearPrefixes(*reader);
  const std::set<std::string> linears(prefixes.begin(), prefixes.end());
  if (o.recipe == QuantizeRecipe::kExpertsOnly &&
      std::none_of(prefixes.begin(), prefixes.end(), [](const std::string& p) { return IsExpertLinear(p); })) {
    return Status::InvalidArgument(o.model_dir + ": recipe experts-only needs routed experts (tensors "
                                   "'<layer>.experts.<e>.*_proj.weight' or '<layer>.experts.gate_up_proj'), and "
                                   "this checkpoint has none");
  }
  CheckpointQuantizer quantizer(o, *source, std::move(amax));
  std::set<std::string> replaced;  // "<prefix>.weight" of quantized layers
  std::vector<TensorToWrite> tensors;
  for (const std::string& prefix : prefixes) {
    FP4LAB_ASSIGN_OR_RETURN(QuantizedLinear q, quantizer.Quantize(prefix, FusedGroup(prefix, linears)));
    if (q.precision.scheme == LinearScheme::kBf16) {
      report.excluded.push_back(prefix);
    } else {
      replaced.insert(prefix + ".weight");
      for (TensorToWrite& t : q.tensors) tensors.push_back(std::move(t));
    }
    report.layers.push_back(std::move(q.precision));
  }
  for (const TensorView& t : reader->tensors()) {
    if (!replaced.count(t.name) && !IsFusedExperts(t)) tensors.push_back(Copy(t));
  }
  // Experts kept bf16 are written per expert too (one layout for the whole checkpoint).
  for (const LayerPrecision& layer : report.layers) {
    if (layer.scheme != LinearScheme::kBf16 || !IsExpertLinear(layer.layer) || reader->Find(layer.layer + ".weight")) {
      continue;
    }
    FP4LAB_ASSIGN_OR_RETURN(const TensorView* t, source->Require(layer.layer + ".weight"));
    tensors.push_back(Copy(*t));
  }
  if (o.recipe == QuantizeRecipe::kExpertsOnly) {
    report.excluded.push_back("lm_head");  // ModelOpt lists the head's disabled quantizer also when it is tied
    std::sort(report.excluded.begin(), report.excluded.end());
    report.excluded.erase(std::unique(report.excluded.begin(), report.excluded.end()), report.excluded.end());
  }
  std::sort(tensors.begin(), tensors.end(), [](const TensorToWrite& a, const TensorToWrite& b) {
    const int ra = SafetensorsDtypeRank(a.dtype), rb = SafetensorsDtypeRank(b.dtype);
    return ra != rb ? ra > rb : a.name < b.name;
  });
  for (const TensorToWrite& t : tensors) report.tensor_bytes += static_cast<int64_t>(t.bytes.size());

  fs::path out = fs::path(o.out_dir).lexically_normal();
  if (!out.has_filename()) out = out.parent_path();  // "dir/" names "dir"
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  fs::create_directories(parent, ec);
  if (ec) return Status::IoError(parent.string() + ": cannot create the output's parent directory: " + ec.message());
  const fs::path tmp = out.string() + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec) || ec) {
    return Status::IoError(tmp.string() + ": cannot create the temporary output directory: " + ec.message());
  }
  TempDirGuard guard(tmp);
  FP4LAB_RETURN_IF_ERROR(WriteCheckpoint(tmp, o, config_json, tensors, report.excluded));
  FP4LAB_RETURN_IF_ERROR(Commit(tmp, out, o.force));
  guard.Release();
  return report;
}

}  // namespace fp4lab
