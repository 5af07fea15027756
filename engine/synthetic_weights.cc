#include "engine/synthetic_weights.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <new>
#include <system_error>
#include <thread>

#include "engine/codecs.h"
#include "engine/file_util.h"
#include "engine/nvfp4.h"

namespace fp4lab {

namespace {

constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;  // SplitMix64's increment
constexpr int kLevels = 65536;                        // 16-bit uniform slices
constexpr float kBlockScaleCenter = 256.0f;           // block scales span 256 * 2^[-1/2, 1/2)

// SplitMix64's output function.
constexpr uint64_t Finalize(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Output j of SplitMix64 started at state `key`.
constexpr uint64_t Word(uint64_t key, uint64_t j) { return Finalize(key + (j + 1) * kGamma); }

constexpr uint64_t Fnv1a64(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Slice q (0..3) of a word as a 16-bit level.
constexpr uint32_t Slice16(uint64_t word, int q) { return static_cast<uint32_t>(word >> (16 * q)) & 0xFFFFu; }

// Standard normal quantiles at (i + 1/2) / 65536, exactly antisymmetric (so the table's mean is 0).
const std::array<float, kLevels>& NormalTable() {
  static const std::array<float, kLevels> table = [] {
    std::array<float, kLevels> t{};
    for (int i = 0; i < kLevels / 2; ++i) {
      const double p = (i + 0.5) / kLevels;
      double lo = -8.0, hi = 0.0;  // Phi(lo) < p <= Phi(hi) = 1/2
      for (int iter = 0; iter < 56; ++iter) {
        const double mid = 0.5 * (lo + hi);
        if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p) {
          lo = mid;
        } else {
          hi = mid;
        }
      }
      t[i] = static_cast<float>(0.5 * (lo + hi));
      t[kLevels - 1 - i] = -t[i];
    }
    return t;
  }();
  return table;
}

// The block scale a 16-bit level maps to, rounded to E4M3.
uint8_t BlockScaleCode(uint32_t level) {
  const double u = (level + 0.5) / kLevels;
  return F32ToE4M3(static_cast<float>(kBlockScaleCenter * std::exp2(u - 0.5)));
}

// E[s^2] over the block scale distribution after E4M3 rounding, and E[c^2] over uniformly random E2M1 codes: the
// dequantized weight c * s * weight_scale_2 then has mean square E[c^2] * E[s^2] * weight_scale_2^2.
double MeanSquareOfDequantizedUnit() {
  static const double value = [] {
    double s2 = 0.0;
    for (uint32_t level = 0; level < kLevels; ++level) {
      const double s = E4M3ToF32(BlockScaleCode(level));
      s2 += s * s;
    }
    double c2 = 0.0;
    for (uint8_t code = 0; code < 16; ++code) c2 += E2M1ToF32(code) * E2M1ToF32(code);
    return (s2 / kLevels) * (c2 / 16.0);
  }();
  return value;
}

// Runs fill(begin, end) over [0, words), split across threads for large tensors. Every word is computed from its
// index alone, so the split never changes the bytes.
void ParallelFill(int64_t words, const std::function<void(int64_t, int64_t)>& fill) {
  constexpr int64_t kMinWordsPerThread = int64_t{1} << 18;
  const int64_t hardware = std::max(1u, std::thread::hardware_concurrency());
  const int64_t threads = std::clamp<int64_t>(words / kMinWordsPerThread, 1, hardware);
  const int64_t chunk = (words + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t begin = t * chunk, end = std::min(words, begin + chunk);
    if (begin >= end) break;
    try {
      pool.emplace_back(fill, begin, end);
    } catch (const std::system_error&) {
      fill(begin, end);  // no thread available: do this chunk here
    }
  }
  fill(0, std::min(words, chunk));
  for (auto& thread : pool) thread.join();
}

void PutF32(float value, uint8_t* out) { std::memcpy(out, &value, sizeof value); }

}  // namespace

struct SyntheticWeights::Spec {
  enum class Fill {
    kNormalBf16,   // BF16 sigma * z
    kOnesBf16,     // BF16 1.0
    kE2M1Codes,    // U8, two uniformly random E2M1 codes per byte
    kBlockScales,  // F8_E4M3 block scales
    kFp8Normal,    // F8_E4M3 e4m3(z * 448 / max|z|)
    kScalarF32,    // one F32 `value`
  };
  DType dtype = DType::kBF16;
  std::vector<int64_t> shape;
  Fill fill = Fill::kNormalBf16;
  float value = 0.0f;  // kNormalBf16: sigma; kScalarF32: the value

  int64_t Elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int64_t Bytes() const { return Elements() * static_cast<int64_t>(DTypeSize(dtype)); }
};

struct SyntheticWeights::Generated {
  std::vector<uint8_t> bytes;
  TensorView view;
};

SyntheticWeights::~SyntheticWeights() = default;

void SyntheticWeights::Add(const std::string& name, Spec spec) {
  names_.push_back(name);
  specs_.emplace(name, std::move(spec));
}

void SyntheticWeights::AddLinear(const std::string& prefix, int64_t n, int64_t k, bool quantizable,
                                 std::vector<std::string>* excluded) {
  using Fill = Spec::Fill;
  const float sigma = static_cast<float>(1.0 / std::sqrt(static_cast<double>(k)));
  const LinearScheme scheme = options_.scheme;
  const bool nvfp4 = scheme == LinearScheme::kNvfp4 || scheme == LinearScheme::kNvfp4W4A16;
  if (scheme == LinearScheme::kBf16 || !quantizable || (nvfp4 && k % kNvfp4BlockSize != 0)) {
    if (scheme != LinearScheme::kBf16 && quantizable) excluded->push_back(prefix);
    Add(prefix + ".weight", {DType::kBF16, {n, k}, Fill::kNormalBf16, sigma});
    return;
  }
  if (nvfp4) {
    const float weight_scale_2 = static_cast<float>(sigma / std::sqrt(MeanSquareOfDequantizedUnit()));
    Add(prefix + ".weight", {DType::kU8, {n, k / 2}, Fill::kE2M1Codes, 0.0f});
    Add(prefix + ".weight_scale", {DType::kF8E4M3, {n, k / kNvfp4BlockSize}, Fill::kBlockScales, 0.0f});
    Add(prefix + ".weight_scale_2", {DType::kF32, {}, Fill::kScalarF32, weight_scale_2});
    if (scheme == LinearScheme::kNvfp4) {
      Add(prefix + ".input_scale", {DType::kF32, {}, Fill::kScalarF32, kSyntheticActivationAmax / kNvfp4ScaleRange});
    }
    return;
  }
  // FP8: w = z * sigma is stored as e4m3(z * 448 / max|z|) with weight_scale = max|z| * sigma / 448.
  const float z_max = std::fabs(NormalTable()[0]);
  Add(prefix + ".weight", {DType::kF8E4M3, {n, k}, Fill::kFp8Normal, 0.0f});
  Add(prefix + ".weight_scale", {DType::kF32, {}, Fill::kScalarF32, z_max * sigma / kE4M3MaxValue});
  Add(prefix + ".input_scale", {DType::kF32, {}, Fill::kScalarF32, kSyntheticActivationAmax / kE4M3MaxValue});
}

Result<std::unique_ptr<SyntheticWeights>> SyntheticWeights::Create(const ModelConfig& c,
                                                                   const SyntheticWeightsOptions& options) {
  if (c.architecture != "llama") {
    return Status::Unimplemented(options.label + ": synthetic weights cover the llama family (llama, mistral, qwen2, "
                                 "qwen3); this config runs on '" + c.architecture + "'");
  }
  for (const auto& [field, value] : {std::pair<const char*, int>{"hidden_size", c.hidden_size},
                                     {"intermediate_size", c.intermediate_size},
                                     {"num_hidden_layers", c.num_layers},
                                     {"num_attention_heads", c.num_heads},
                                     {"num_key_value_heads", c.num_kv_heads},
                                     {"head_dim", c.head_dim},
                                     {"vocab_size", c.vocab_size}}) {
    if (value <= 0) {
      return Status::InvalidArgument(options.label + ": field '" + field + "' must be positive, got " +
                                     std::to_string(value));
    }
  }
  auto source = std::unique_ptr<SyntheticWeights>(new SyntheticWeights());
  source->options_ = options;
  source->key_ = Finalize(options.seed + kGamma);
  using Fill = Spec::Fill;
  const int64_t d = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim, kv = int64_t{c.num_kv_heads} * c.head_dim;
  const int64_t f = c.intermediate_size, v = c.vocab_size;
  const float embed_sigma = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  std::vector<std::string> excluded = {"lm_head"};
  source->Add("model.embed_tokens.weight", {DType::kBF16, {v, d}, Fill::kNormalBf16, embed_sigma});
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    source->Add(p + "input_layernorm.weight", {DType::kBF16, {d}, Fill::kOnesBf16, 0.0f});
    const std::pair<const char*, int64_t> projections[] = {{"q_proj", q}, {"k_proj", kv}, {"v_proj", kv}};
    for (const auto& [name, rows] : projections) {
      source->AddLinear(p + "self_attn." + name, rows, d, true, &excluded);
      if (c.attention_bias) {
        source->Add(p + "self_attn." + name + ".bias", {DType::kBF16, {rows}, Fill::kNormalBf16, embed_sigma});
      }
    }
    source->AddLinear(p + "self_attn.o_proj", d, q, true, &excluded);
    if (c.qk_norm) {
      source->Add(p + "self_attn.q_norm.weight", {DType::kBF16, {c.head_dim}, Fill::kOnesBf16, 0.0f});
      source->Add(p + "self_attn.k_norm.weight", {DType::kBF16, {c.head_dim}, Fill::kOnesBf16, 0.0f});
    }
    source->Add(p + "post_attention_layernorm.weight", {DType::kBF16, {d}, Fill::kOnesBf16, 0.0f});
    source->AddLinear(p + "mlp.gate_proj", f, d, true, &excluded);
    source->AddLinear(p + "mlp.up_proj", f, d, true, &excluded);
    source->AddLinear(p + "mlp.down_proj", d, f, true, &excluded);
  }
  source->Add("model.norm.weight", {DType::kBF16, {d}, Fill::kOnesBf16, 0.0f});
  if (!c.tie_word_embeddings) source->AddLinear("lm_head", v, d, false, &excluded);

  if (options.scheme != LinearScheme::kBf16) {
    FP4LAB_ASSIGN_OR_RETURN(ModelOptJson json, ModelOptQuantConfigJson(options.scheme, excluded, "fp4lab-synthetic"));
    source->quant_json_ = json.quantization_config;
    FP4LAB_ASSIGN_OR_RETURN(source->quant_,
                            ParseQuantConfig({{"quantization_config", json.quantization_config}},
                                             options.label + " (synthetic quantization_config)", nullptr, ""));
  }
  return source;
}

std::unique_ptr<SyntheticWeights::Generated> SyntheticWeights::Generate(const std::string& name,
                                                                        const Spec& spec) const {
  auto out = std::make_unique<Generated>();
  out->bytes.resize(static_cast<size_t>(spec.Bytes()));
  uint8_t* bytes = out->bytes.data();
  const uint64_t key = key_ ^ Fnv1a64(name);
  const int64_t n = spec.Elements();
  const std::array<float, kLevels>& normal = NormalTable();
  using Fill = Spec::Fill;
  switch (spec.fill) {
    case Fill::kNormalBf16:
      // Four 16-bit levels per word, one per element.
      ParallelFill((n + 3) / 4, [&](int64_t begin, int64_t end) {
        for (int64_t w = begin; w < end; ++w) {
          const uint64_t word = Word(key, static_cast<uint64_t>(w));
          for (int s = 0; s < 4 && 4 * w + s < n; ++s) {
            const uint16_t bits = F32ToBf16(spec.value * normal[Slice16(word, s)]);
            std::memcpy(bytes + 2 * (4 * w + s), &bits, 2);
          }
        }
      });
      break;
    case Fill::kOnesBf16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t one = F32ToBf16(1.0f);
        std::memcpy(bytes + 2 * i, &one, 2);
      }
      break;
    case Fill::kE2M1Codes:
      // Eight random bytes (sixteen codes) per word.
      ParallelFill((n + 7) / 8, [&](int64_t begin, int64_t end) {
        for (int64_t w = begin; w < end; ++w) {
          const uint64_t word = Word(key, static_cast<uint64_t>(w));
          for (int s = 0; s < 8 && 8 * w + s < n; ++s) bytes[8 * w + s] = static_cast<uint8_t>(word >> (8 * s));
        }
      });
      break;
    case Fill::kBlockScales:
      ParallelFill((n + 3) / 4, [&](int64_t begin, int64_t end) {
        for (int64_t w = begin; w < end; ++w) {
          const uint64_t word = Word(key, static_cast<uint64_t>(w));
          for (int s = 0; s < 4 && 4 * w + s < n; ++s) bytes[4 * w + s] = BlockScaleCode(Slice16(word, s));
        }
      });
      break;
    case Fill::kFp8Normal: {
      const float to_code = kE4M3MaxValue / std::fabs(normal[0]);
      ParallelFill((n + 3) / 4, [&](int64_t begin, int64_t end) {
        for (int64_t w = begin; w < end; ++w) {
          const uint64_t word = Word(key, static_cast<uint64_t>(w));
          for (int s = 0; s < 4 && 4 * w + s < n; ++s) bytes[4 * w + s] = F32ToE4M3(normal[Slice16(word, s)] * to_code);
        }
      });
      break;
    }
    case Fill::kScalarF32:
      PutF32(spec.value, bytes);
      break;
  }
  out->view.name = name;
  out->view.dtype = spec.dtype;
  out->view.shape = spec.shape;
  out->view.bytes = std::span<const uint8_t>(out->bytes.data(), out->bytes.size());
  out->view.file = options_.label;
  return out;
}

const TensorView* SyntheticWeights::Find(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = cache_.find(name); it != cache_.end()) return &it->second->view;
  auto spec = specs_.find(name);
  if (spec == specs_.end()) return nullptr;
  std::unique_ptr<Generated> generated;
  try {
    generated = Generate(spec->first, spec->second);
  } catch (const std::bad_alloc&) {
    generation_status_ = Status::ResourceExhausted(
        options_.label + ": out of host memory generating tensor '" + spec->first + "' (" +
        std::to_string(spec->second.Bytes()) + " bytes) with " + std::to_string(held_bytes_) +
        " bytes of synthetic weights already held");
    return nullptr;
  }
  held_bytes_ += static_cast<int64_t>(generated->bytes.size());
  const TensorView* view = &generated->view;
  cache_.emplace(spec->first, std::move(generated));
  return view;
}

int64_t SyntheticWeights::TotalBytes() const {
  int64_t total = 0;
  for (const auto& [name, spec] : specs_) total += spec.Bytes();
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
  const nlohmann::json marker = {{"seed", spec.seed},
                                 {"origin", spec.origin},
                                 {"weights", "deterministic random (engine/synthetic_weights.h), generated on load"}};
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
  FP4LAB_ASSIGN_OR_RETURN(spec.config, ReadJsonFile((fs::path(dir) / "config.json").string()));
  if (spec.config.is_object()) spec.config.erase("quantization_config");
  return spec;
}

}  // namespace fp4lab
