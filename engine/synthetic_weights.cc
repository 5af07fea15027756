#include "engine/synthetic_weights.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <new>

#include "engine/codecs.h"
#include "engine/file_util.h"
#include "engine/nvfp4.h"

namespace fp4lab {

namespace {

// E[s^2] over the block scale distribution after E4M3 rounding, and E[c^2] over uniformly random E2M1 codes: the
// dequantized weight c * s * weight_scale_2 then has mean square E[c^2] * E[s^2] * weight_scale_2^2.
double MeanSquareOfDequantizedUnit() {
  static const double value = [] {
    const SyntheticLevelTables& levels = SyntheticLevels();
    double s2 = 0.0;
    for (int level = 0; level < kSyntheticLevels; ++level) {
      const double s = E4M3ToF32(levels.block_scale[level]);
      s2 += s * s;
    }
    double c2 = 0.0;
    for (uint8_t code = 0; code < 16; ++code) c2 += E2M1ToF32(code) * E2M1ToF32(code);
    return (s2 / kSyntheticLevels) * (c2 / 16.0);
  }();
  return value;
}

}  // namespace

struct SyntheticWeights::Generated {
  std::vector<uint8_t> bytes;
  TensorView view;
};

SyntheticWeights::~SyntheticWeights() = default;

void SyntheticWeights::Add(const std::string& name, DType dtype, std::vector<int64_t> shape, SyntheticFill fill,
                           float value) {
  SyntheticTensorInfo info;
  info.view.name = name;
  info.view.dtype = dtype;
  info.view.shape = std::move(shape);
  info.view.file = options_.label;
  info.payload = {SyntheticKey(options_.seed, name), fill, value, info.view.NumElements()};
  names_.push_back(name);
  specs_.emplace(name, std::move(info));
}

void SyntheticWeights::AddLinear(const std::string& prefix, int64_t n, int64_t k, bool quantizable,
                                 std::vector<std::string>* excluded) {
  using Fill = SyntheticFill;
  const float sigma = static_cast<float>(1.0 / std::sqrt(static_cast<double>(k)));
  const LinearScheme scheme = options_.scheme;
  const bool nvfp4 = scheme == LinearScheme::kNvfp4 || scheme == LinearScheme::kNvfp4W4A16;
  if (scheme == LinearScheme::kBf16 || !quantizable || (nvfp4 && k % kNvfp4BlockSize != 0)) {
    if (scheme != LinearScheme::kBf16 && quantizable) excluded->push_back(prefix);
    Add(prefix + ".weight", DType::kBF16, {n, k}, Fill::kNormalBf16, sigma);
    return;
  }
  if (nvfp4) {
    const float weight_scale_2 = static_cast<float>(sigma / std::sqrt(MeanSquareOfDequantizedUnit()));
    Add(prefix + ".weight", DType::kU8, {n, k / 2}, Fill::kE2M1Codes);
    Add(prefix + ".weight_scale", DType::kF8E4M3, {n, k / kNvfp4BlockSize}, Fill::kBlockScales);
    Add(prefix + ".weight_scale_2", DType::kF32, {}, Fill::kScalarF32, weight_scale_2);
    if (scheme == LinearScheme::kNvfp4) {
      Add(prefix + ".input_scale", DType::kF32, {}, Fill::kScalarF32, kSyntheticActivationAmax / kNvfp4ScaleRange);
    }
    return;
  }
  // FP8: w = z * sigma is stored as e4m3(z * 448 / max|z|) with weight_scale = max|z| * sigma / 448.
  const float z_max = std::fabs(SyntheticLevels().normal[0]);
  Add(prefix + ".weight", DType::kF8E4M3, {n, k}, Fill::kFp8Normal);
  Add(prefix + ".weight_scale", DType::kF32, {}, Fill::kScalarF32, z_max * sigma / kE4M3MaxValue);
  Add(prefix + ".input_scale", DType::kF32, {}, Fill::kScalarF32, kSyntheticActivationAmax / kE4M3MaxValue);
}

Result<std::unique_ptr<SyntheticWeights>> SyntheticWeights::Create(const TensorManifest& manifest,
                                                                   const SyntheticWeightsOptions& options) {
  auto source = std::unique_ptr<SyntheticWeights>(new SyntheticWeights());
  source->options_ = options;
  using Fill = SyntheticFill;
  std::vector<std::string> excluded = {"lm_head"};  // ModelOpt's default exclusion (also listed when tied)
  for (const ManifestTensor& t : manifest.tensors) {
    for (const int64_t dim : t.shape) {
      if (dim <= 0) {
        return Status::InvalidArgument(options.label + ": tensor " + t.name + " would have a non-positive dimension");
      }
    }
    switch (t.kind) {
      case TensorKind::kEmbedding:
        source->Add(t.name, DType::kBF16, t.shape, Fill::kNormalBf16,
                    static_cast<float>(1.0 / std::sqrt(static_cast<double>(t.shape[1]))));
        break;
      case TensorKind::kVector:
        source->Add(t.name, DType::kBF16, t.shape, Fill::kConstantBf16, t.synthetic_value);
        break;
      case TensorKind::kLinear:
        // An experts entry is one Linear per expert, each under its own name.
        for (int64_t e = 0; e < std::max<int64_t>(t.experts, 1); ++e) {
          const std::string name = t.experts > 0 ? t.ExpertName(e) : t.name;
          if (!t.keep_bf16.empty() && name != "lm_head") excluded.push_back(name);
          source->AddLinear(name, t.shape[0], t.shape[1], t.keep_bf16.empty(), &excluded);
          if (t.bias) {
            source->Add(name + ".bias", DType::kBF16, {t.shape[0]}, Fill::kNormalBf16,
                        static_cast<float>(1.0 / std::sqrt(static_cast<double>(t.shape[1]))));
          }
        }
        break;
    }
  }
  if (options.scheme != LinearScheme::kBf16) {
    FP4LAB_ASSIGN_OR_RETURN(ModelOptJson json, ModelOptQuantConfigJson(options.scheme, excluded, "fp4lab-synthetic"));
    source->quant_json_ = json.quantization_config;
    FP4LAB_ASSIGN_OR_RETURN(source->quant_,
                            ParseQuantConfig({{"quantization_config", json.quantization_config}},
                                             options.label + " (synthetic quantization_config)", nullptr, ""));
  }
  return source;
}

std::unique_ptr<SyntheticWeights::Generated> SyntheticWeights::Generate(const SyntheticTensorInfo& info) const {
  auto out = std::make_unique<Generated>();
  out->bytes.resize(static_cast<size_t>(info.payload.Bytes()));
  GenerateSyntheticBytes(info.payload, out->bytes);
  out->view = info.view;
  out->view.bytes = std::span<const uint8_t>(out->bytes.data(), out->bytes.size());
  return out;
}

const TensorView* SyntheticWeights::Find(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = cache_.find(name); it != cache_.end()) return &it->second->view;
  auto spec = specs_.find(name);
  if (spec == specs_.end()) return nullptr;
  std::unique_ptr<Generated> generated;
  try {
    generated = Generate(spec->second);
  } catch (const std::bad_alloc&) {
    generation_status_ = Status::ResourceExhausted(
        options_.label + ": out of host memory generating tensor '" + spec->first + "' (" +
        std::to_string(spec->second.payload.Bytes()) + " bytes) with " + std::to_string(held_bytes_) +
        " bytes of synthetic weights already held");
    return nullptr;
  }
  held_bytes_ += static_cast<int64_t>(generated->bytes.size());
  const TensorView* view = &generated->view;
  cache_.emplace(spec->first, std::move(generated));
  return view;
}

const SyntheticTensorInfo* SyntheticWeights::Describe(std::string_view name) const {
  auto it = specs_.find(name);
  return it == specs_.end() ? nullptr : &it->second;
}

int64_t SyntheticWeights::TotalBytes() const {
  int64_t total = 0;
  for (const auto& [name, info] : specs_) total += info.payload.Bytes();
  return total;
}

int64_t SyntheticWeights::MatrixBytes() const {
  int64_t total = 0;
  for (const auto& [name, info] : specs_) {
    if (info.view.shape.size() == 2) total += info.payload.Bytes();
  }
  return total;
}

int64_t SyntheticWeights::HeldBytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_bytes_;
}

Status SyntheticWeights::generation_status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return generation_status_;
}

Status WriteSyntheticModelDir(const std::string& dir, const SyntheticModelSpec& spec) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError(dir + ": cannot create directory: " + ec.message());
  auto write_json = [](const nlohmann::json& value) {
    return [value](std::ostream& out) -> Status {
      out << value.dump(2) << "\n";
      return Status::Ok();
    };
  };
  FP4LAB_RETURN_IF_ERROR(WriteFileAtomically((fs::path(dir) / "config.json").string(), write_json(spec.config)));
  nlohmann::json marker = {{"seed", spec.seed},
                           {"origin", spec.origin},
                           {"weights", "deterministic random (engine/synthetic_weights.h), generated on load"}};
  if (!spec.tokenizer_dir.empty()) marker["tokenizer"] = spec.tokenizer_dir;
  return WriteFileAtomically((fs::path(dir) / kSyntheticMarkerFile).string(), write_json(marker));
}

bool IsSyntheticModelDir(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(std::filesystem::path(dir) / kSyntheticMarkerFile, ec);
}

Result<SyntheticModelSpec> ReadSyntheticModelDir(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string marker_path = (fs::path(dir) / kSyntheticMarkerFile).string();
  FP4LAB_ASSIGN_OR_RETURN(nlohmann::json marker, ReadJsonFile(marker_path));
  SyntheticModelSpec spec;
  if (!marker.is_object() || !marker.contains("seed") || !marker["seed"].is_number_unsigned()) {
    return Status::InvalidArgument(marker_path + ": field 'seed' must be a non-negative integer");
  }
  spec.seed = marker["seed"].get<uint64_t>();
  if (marker.contains("origin") && marker["origin"].is_string()) spec.origin = marker["origin"].get<std::string>();
  if (marker.contains("tokenizer")) {
    if (!marker["tokenizer"].is_string()) {
      return Status::InvalidArgument(marker_path + ": field 'tokenizer' must be a directory path (string)");
    }
    spec.tokenizer_dir = marker["tokenizer"].get<std::string>();
  }
  FP4LAB_ASSIGN_OR_RETURN(spec.config, ReadJsonFile((fs::path(dir) / "config.json").string()));
  if (spec.config.is_object()) spec.config.erase("quantization_config");
  return spec;
}

}  // namespace fp4lab
