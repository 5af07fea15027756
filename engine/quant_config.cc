#include "engine/quant_config.h"

#include <fnmatch.h>

#include <cctype>
#include <optional>
#include <utility>

namespace fp4lab {
namespace {

using json = nlohmann::json;

constexpr const char* kModelOptAlgos = "NVFP4, W4A16_NVFP4, FP8, MIXED_PRECISION";
constexpr const char* kModelOptLayerAlgos = "NVFP4, W4A16_NVFP4, FP8";
constexpr const char* kCtFormats = "nvfp4-pack-quantized, mixed-precision";
constexpr const char* kCtGroupFormats = "nvfp4-pack-quantized, float-quantized";
constexpr int kNvfp4GroupSize = 16;

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

Status FieldError(const std::string& file, const std::string& field, const std::string& what) {
  return Status::InvalidArgument(file + ": " + field + ": " + what);
}

// Returns the member `key` of `object` or nullptr when absent or null.
const json* Member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> StringField(const json& value, const std::string& file, const std::string& field) {
  if (!value.is_string()) return FieldError(file, field, "expected a string, got " + value.dump());
  return value.get<std::string>();
}

Result<std::vector<std::string>> StringList(const json& value, const std::string& file, const std::string& field) {
  if (!value.is_array()) return FieldError(file, field, "expected a list of strings, got " + value.dump());
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) {
    FP4LAB_ASSIGN_OR_RETURN(std::string item, StringField(value[i], file, field + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(item));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Name matching.

// Python fnmatch.fnmatchcase semantics on POSIX: no escapes, '*' crosses '.' and '/'.
bool FnMatch(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), FNM_NOESCAPE) == 0;
}

// vLLM's ModelOpt exclusion (see the header): "name*" (no '.' before '*') means {name, name.*}.
bool ExcludePatternMatches(const std::string& pattern, const std::string& prefix) {
  const size_t n = pattern.size();
  if (n >= 2 && pattern[n - 1] == '*' && pattern[n - 2] != '.') {
    const std::string stem = pattern.substr(0, n - 1);
    return FnMatch(stem, prefix) || FnMatch(stem + ".*", prefix);
  }
  return FnMatch(pattern, prefix);
}

Result<CtNamePattern> MakeCtPattern(const std::string& text, const std::string& file, const std::string& field) {
  CtNamePattern pattern;
  pattern.text = text;
  if (text.rfind("re:", 0) == 0) {
    pattern.is_regex = true;
    try {
      pattern.regex = std::regex(text.substr(3), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return FieldError(file, field, "invalid regex '" + text + "': " + e.what());
    }
  }
  return pattern;
}

// Fused Linear names and their checkpoint shards (vLLM packed_modules_mapping for Llama-style models).
std::vector<std::string> FusedShards(const std::string& prefix) {
  static const std::pair<const char*, std::vector<const char*>> kFused[] = {
      {"qkv_proj", {"q_proj", "k_proj", "v_proj"}},
      {"gate_up_proj", {"gate_proj", "up_proj"}},
  };
  const size_t dot = prefix.rfind('.');
  const std::string parent = dot == std::string::npos ? "" : prefix.substr(0, dot + 1);
  const std::string leaf = dot == std::string::npos ? prefix : prefix.substr(dot + 1);
  std::vector<std::string> shards;
  for (const auto& [fused, parts] : kFused) {
    if (leaf != fused) continue;
    for (const char* part : parts) shards.push_back(parent + part);
  }
  return shards;
}

// ---------------------------------------------------------------------------------------------------------------
// Resolution of one unfused Linear prefix.

QuantConfig::Resolution ResolveModelOpt(const QuantConfig& config, const std::string& prefix) {
  for (const std::string& pattern : config.exclude_modules) {
    if (ExcludePatternMatches(pattern, prefix)) {
      return {LinearScheme::kBf16, "excluded by '" + pattern + "' (exclude_modules)"};
    }
  }
  if (config.algorithm == "MIXED_PRECISION") {
    auto it = config.quantized_layers.find(prefix);
    if (it == config.quantized_layers.end()) return {LinearScheme::kBf16, "not listed in quantized_layers"};
    return {it->second, std::string("quantized_layers lists it as ") + std::string(LinearSchemeName(it->second))};
  }
  return {config.uniform_scheme, "quant_algo " + config.algorithm};
}

QuantConfig::Resolution ResolveCompressedTensors(const QuantConfig& config, const std::string& prefix) {
  for (const CtNamePattern& pattern : config.ignore) {
    if (pattern.Matches(prefix)) return {LinearScheme::kBf16, "ignored by '" + pattern.text + "' (ignore)"};
  }
  // compressed-tensors match_targets order: exact names, then regexes, then class names. We resolve Linear
  // layers only, so the only class name that can match is "Linear".
  enum class Kind { kExact, kRegex, kClass };
  for (Kind kind : {Kind::kExact, Kind::kRegex, Kind::kClass}) {
    for (const CtConfigGroup& group : config.groups) {
      for (const CtNamePattern& target : group.targets) {
        bool hit = false;
        if (kind == Kind::kExact) hit = !target.is_regex && target.text == prefix;
        if (kind == Kind::kRegex) hit = target.is_regex && target.Matches(prefix);
        if (kind == Kind::kClass) hit = !target.is_regex && target.text == "Linear";
        if (hit) return {group.scheme, "config group " + group.name + " (target '" + target.text + "')"};
      }
    }
  }
  return {LinearScheme::kBf16, "no config group targets it"};
}

QuantConfig::Resolution ResolveUnfused(const QuantConfig& config, const std::string& prefix) {
  switch (config.format) {
    case QuantConfig::Format::kNone:
      return {LinearScheme::kBf16, "checkpoint is not quantized"};
    case QuantConfig::Format::kModelOpt:
      return ResolveModelOpt(config, prefix);
    case QuantConfig::Format::kCompressedTensors:
      return ResolveCompressedTensors(config, prefix);
  }
  return {LinearScheme::kBf16, "unknown format"};
}

// ---------------------------------------------------------------------------------------------------------------
// ModelOpt parsing.

// Fields of one ModelOpt description (either file), nullptr when absent.
struct ModelOptFields {
  std::string file;
  std::string path;  // field path prefix: "quantization_config" or "quantization"
  const json* quant_algo = nullptr;
  const json* exclude = nullptr;
  std::string exclude_key;
  const json* quantized_layers = nullptr;
  const json* kv_cache = nullptr;
  std::string kv_cache_key;
  const json* group_size = nullptr;
};

ModelOptFields ExtractModelOptFields(const json& object, std::string file, std::string path) {
  ModelOptFields f;
  f.file = std::move(file);
  f.path = std::move(path);
  f.quant_algo = Member(object, "quant_algo");
  for (const char* key : {"ignore", "exclude_modules"}) {
    if ((f.exclude = Member(object, key)) != nullptr) {
      f.exclude_key = key;
      break;
    }
  }
  f.quantized_layers = Member(object, "quantized_layers");
  for (const char* key : {"kv_cache_quant_algo", "kv_cache_scheme"}) {
    if ((f.kv_cache = Member(object, key)) != nullptr) {
      f.kv_cache_key = key;
      break;
    }
  }
  f.group_size = Member(object, "group_size");
  return f;
}

std::string Field(const ModelOptFields& f, const std::string& key) { return f.path + "." + key; }

Result<LinearScheme> ModelOptLinearScheme(const std::string& algo, const std::string& file, const std::string& field) {
  if (algo == "NVFP4") return LinearScheme::kNvfp4;
  if (algo == "W4A16_NVFP4") return LinearScheme::kNvfp4W4A16;
  if (algo == "FP8") return LinearScheme::kFp8;
  return FieldError(file, field, "quant_algo '" + algo + "' is not supported; accepted: " + kModelOptLayerAlgos);
}

Status CheckGroupSize(const json* group_size, const std::string& file, const std::string& field) {
  if (group_size == nullptr) return Status::Ok();
  if (!group_size->is_number_integer() || group_size->get<int64_t>() != kNvfp4GroupSize) {
    return FieldError(file, field, "NVFP4 needs group_size 16, got " + group_size->dump());
  }
  return Status::Ok();
}

// kv_cache_quant_algo (a string or null) or config.json kv_cache_scheme ({"num_bits": 8, "type": "float"} or an
// algorithm string).
Result<std::string> ParseKvCache(const json& value, const std::string& file, const std::string& field) {
  if (value.is_string()) {
    // The KV-cache algorithms TensorRT-LLM's QuantAlgo knows for kv_cache_quant_algo.
    const std::string algo = Upper(value.get<std::string>());
    if (algo == "FP8" || algo == "NVFP4" || algo == "INT8") return algo;
    return FieldError(file, field, "unknown KV-cache algorithm '" + value.get<std::string>() +
                                       "', expected FP8, NVFP4, INT8 or null");
  }
  if (value.is_object()) {
    const json* bits = Member(value, "num_bits");
    const json* type = Member(value, "type");
    if (bits != nullptr && type != nullptr && type->is_string() && type->get<std::string>() == "float" &&
        bits->is_number_integer()) {
      if (bits->get<int64_t>() == 8) return std::string("FP8");
      if (bits->get<int64_t>() == 4) return std::string("NVFP4");
    }
  }
  return FieldError(
      file, field, "expected null, an algorithm name or {\"num_bits\": 8|4, \"type\": \"float\"}, got " + value.dump());
}

// Picks a field from config.json's description, else from hf_quant_config.json's.
const ModelOptFields* Pick(const ModelOptFields* primary, const ModelOptFields* fallback,
                           const json* ModelOptFields::*member) {
  if (primary != nullptr && primary->*member != nullptr) return primary;
  if (fallback != nullptr && fallback->*member != nullptr) return fallback;
  return nullptr;
}

Result<QuantConfig> ParseModelOpt(const ModelOptFields* from_config, const ModelOptFields* from_hf) {
  QuantConfig out;
  out.format = QuantConfig::Format::kModelOpt;
  out.source = from_config != nullptr && from_hf != nullptr ? from_config->file + " + " + from_hf->file
               : from_config != nullptr                     ? from_config->file
                                                            : from_hf->file;

  // quant_algo: required; when both files name one they must agree.
  const ModelOptFields* algo_from = Pick(from_config, from_hf, &ModelOptFields::quant_algo);
  if (algo_from == nullptr) {
    const ModelOptFields* any = from_config != nullptr ? from_config : from_hf;
    return FieldError(any->file, Field(*any, "quant_algo"), std::string("missing; accepted: ") + kModelOptAlgos);
  }
  FP4LAB_ASSIGN_OR_RETURN(std::string algo,
                          StringField(*algo_from->quant_algo, algo_from->file, Field(*algo_from, "quant_algo")));
  out.algorithm = Upper(algo);
  if (from_config != nullptr && from_hf != nullptr && from_config->quant_algo != nullptr &&
      from_hf->quant_algo != nullptr) {
    FP4LAB_ASSIGN_OR_RETURN(std::string other,
                            StringField(*from_hf->quant_algo, from_hf->file, Field(*from_hf, "quant_algo")));
    if (Upper(other) != out.algorithm) {
      return FieldError(
          from_config->file, Field(*from_config, "quant_algo"),
          "'" + algo + "' contradicts " + from_hf->file + " " + Field(*from_hf, "quant_algo") + " '" + other + "'");
    }
  }

  if (const ModelOptFields* f = Pick(from_config, from_hf, &ModelOptFields::exclude)) {
    FP4LAB_ASSIGN_OR_RETURN(out.exclude_modules, StringList(*f->exclude, f->file, Field(*f, f->exclude_key)));
  }
  if (const ModelOptFields* f = Pick(from_config, from_hf, &ModelOptFields::kv_cache)) {
    FP4LAB_ASSIGN_OR_RETURN(out.kv_cache_quant_algo, ParseKvCache(*f->kv_cache, f->file, Field(*f, f->kv_cache_key)));
  }

  if (out.algorithm == "MIXED_PRECISION") {
    const ModelOptFields* f = Pick(from_config, from_hf, &ModelOptFields::quantized_layers);
    if (f == nullptr) {
      const ModelOptFields* any = from_config != nullptr ? from_config : from_hf;
      return FieldError(any->file, Field(*any, "quantized_layers"),
                        "missing; MIXED_PRECISION needs a map from layer name to {\"quant_algo\": ...}");
    }
    const std::string field = Field(*f, "quantized_layers");
    if (!f->quantized_layers->is_object()) {
      return FieldError(f->file, field, "expected an object, got " + f->quantized_layers->dump());
    }
    for (const auto& [layer, layer_config] : f->quantized_layers->items()) {
      const std::string layer_field = field + "[\"" + layer + "\"]";
      const json* layer_algo = layer_config.is_object() ? Member(layer_config, "quant_algo") : nullptr;
      if (layer_algo == nullptr) {
        return FieldError(f->file, layer_field, "expected {\"quant_algo\": ...}, got " + layer_config.dump());
      }
      FP4LAB_ASSIGN_OR_RETURN(std::string name, StringField(*layer_algo, f->file, layer_field + ".quant_algo"));
      FP4LAB_ASSIGN_OR_RETURN(LinearScheme scheme,
                              ModelOptLinearScheme(Upper(name), f->file, layer_field + ".quant_algo"));
      if (scheme != LinearScheme::kFp8) {
        FP4LAB_RETURN_IF_ERROR(
            CheckGroupSize(Member(layer_config, "group_size"), f->file, layer_field + ".group_size"));
      }
      out.quantized_layers[layer] = scheme;
    }
    return out;
  }

  if (out.algorithm != "NVFP4" && out.algorithm != "W4A16_NVFP4" && out.algorithm != "FP8") {
    return FieldError(algo_from->file, Field(*algo_from, "quant_algo"),
                      "'" + algo + "' is not supported; accepted: " + kModelOptAlgos);
  }
  FP4LAB_ASSIGN_OR_RETURN(out.uniform_scheme,
                          ModelOptLinearScheme(out.algorithm, algo_from->file, Field(*algo_from, "quant_algo")));
  if (out.uniform_scheme != LinearScheme::kFp8) {
    if (const ModelOptFields* f = Pick(from_config, from_hf, &ModelOptFields::group_size)) {
      FP4LAB_RETURN_IF_ERROR(CheckGroupSize(f->group_size, f->file, Field(*f, "group_size")));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// compressed-tensors parsing.

// Reads num_bits / type of a quantization-args object ("weights", "input_activations").
struct CtArgs {
  int64_t num_bits = 0;
  std::string type;
  const json* group_size = nullptr;
  std::string strategy;  // empty when absent
  const json* dynamic = nullptr;
};

Result<CtArgs> ParseCtArgs(const json& value, const std::string& file, const std::string& field) {
  if (!value.is_object()) return FieldError(file, field, "expected an object, got " + value.dump());
  CtArgs args;
  const json* bits = Member(value, "num_bits");
  if (bits == nullptr || !bits->is_number_integer()) {
    return FieldError(file, field + ".num_bits", "expected an integer, got " + (bits ? bits->dump() : "nothing"));
  }
  args.num_bits = bits->get<int64_t>();
  const json* type = Member(value, "type");
  if (type == nullptr) return FieldError(file, field + ".type", "missing (expected \"float\")");
  FP4LAB_ASSIGN_OR_RETURN(args.type, StringField(*type, file, field + ".type"));
  args.group_size = Member(value, "group_size");
  if (const json* strategy = Member(value, "strategy")) {
    FP4LAB_ASSIGN_OR_RETURN(args.strategy, StringField(*strategy, file, field + ".strategy"));
  }
  args.dynamic = Member(value, "dynamic");
  return args;
}

constexpr const char* kCtSchemes =
    "weights {num_bits 4, type float, group_size 16} with or without input_activations {num_bits 4, type float}; "
    "weights {num_bits 8, type float, strategy tensor} with input_activations {num_bits 8, type float, strategy "
    "tensor, dynamic false}";

Result<LinearScheme> ParseCtGroupScheme(const json& group, const std::string& file, const std::string& field) {
  const json* weights = Member(group, "weights");
  if (weights == nullptr) return FieldError(file, field + ".weights", "missing");
  FP4LAB_ASSIGN_OR_RETURN(CtArgs w, ParseCtArgs(*weights, file, field + ".weights"));
  std::optional<CtArgs> a;
  if (const json* activations = Member(group, "input_activations")) {
    FP4LAB_ASSIGN_OR_RETURN(a, ParseCtArgs(*activations, file, field + ".input_activations"));
  }
  if (w.num_bits == 4 && w.type == "float") {
    if (w.strategy != "" && w.strategy != "tensor_group") {
      return FieldError(file, field + ".weights.strategy", "NVFP4 needs \"tensor_group\", got \"" + w.strategy + "\"");
    }
    if (w.group_size == nullptr) return FieldError(file, field + ".weights.group_size", "missing (NVFP4 needs 16)");
    FP4LAB_RETURN_IF_ERROR(CheckGroupSize(w.group_size, file, field + ".weights.group_size"));
    if (!a) return LinearScheme::kNvfp4W4A16;
    if (a->num_bits == 4 && a->type == "float") return LinearScheme::kNvfp4;
  } else if (w.num_bits == 8 && w.type == "float" && w.strategy == "tensor" && a && a->num_bits == 8 &&
             a->type == "float" && a->strategy == "tensor" && a->dynamic != nullptr && a->dynamic->is_boolean() &&
             !a->dynamic->get<bool>()) {
    return LinearScheme::kFp8;
  }
  return FieldError(file, field, "unsupported quantization scheme " + group.dump() + "; accepted: " + kCtSchemes);
}

Result<QuantConfig> ParseCompressedTensors(const json& qc, const std::string& file) {
  QuantConfig out;
  out.format = QuantConfig::Format::kCompressedTensors;
  out.source = file;
  const std::string base = "quantization_config";

  const json* format = Member(qc, "format");
  if (format == nullptr) {
    return FieldError(file, base + ".format", std::string("missing; accepted: ") + kCtFormats);
  }
  FP4LAB_ASSIGN_OR_RETURN(out.algorithm, StringField(*format, file, base + ".format"));
  if (out.algorithm != "nvfp4-pack-quantized" && out.algorithm != "mixed-precision") {
    return FieldError(file, base + ".format", "'" + out.algorithm + "' is not supported; accepted: " + kCtFormats);
  }

  if (const json* ignore = Member(qc, "ignore")) {
    FP4LAB_ASSIGN_OR_RETURN(std::vector<std::string> entries, StringList(*ignore, file, base + ".ignore"));
    for (size_t i = 0; i < entries.size(); ++i) {
      FP4LAB_ASSIGN_OR_RETURN(CtNamePattern p,
                              MakeCtPattern(entries[i], file, base + ".ignore[" + std::to_string(i) + "]"));
      out.ignore.push_back(std::move(p));
    }
  }

  const json* groups = Member(qc, "config_groups");
  if (groups == nullptr || !groups->is_object() || groups->empty()) {
    return FieldError(file, base + ".config_groups",
                      "expected a non-empty object of groups, got " + (groups ? groups->dump() : "nothing"));
  }
  for (const auto& [name, group] : groups->items()) {
    const std::string field = base + ".config_groups." + name;
    if (!group.is_object()) return FieldError(file, field, "expected an object, got " + group.dump());
    CtConfigGroup g;
    g.name = name;
    FP4LAB_ASSIGN_OR_RETURN(g.scheme, ParseCtGroupScheme(group, file, field));
    // The group's own format (mixed-precision) or the checkpoint's must fit the scheme.
    std::string group_format = out.algorithm;
    if (const json* f = Member(group, "format")) {
      FP4LAB_ASSIGN_OR_RETURN(group_format, StringField(*f, file, field + ".format"));
      if (group_format != "nvfp4-pack-quantized" && group_format != "float-quantized") {
        return FieldError(file, field + ".format",
                          "'" + group_format + "' is not supported; accepted: " + kCtGroupFormats);
      }
    }
    const bool fp8 = g.scheme == LinearScheme::kFp8;
    if ((fp8 && group_format == "nvfp4-pack-quantized") || (!fp8 && group_format == "float-quantized")) {
      return FieldError(
          file, field,
          "scheme " + std::string(LinearSchemeName(g.scheme)) + " does not fit format '" + group_format + "'");
    }
    const json* targets = Member(group, "targets");
    if (targets == nullptr) return FieldError(file, field + ".targets", "missing");
    FP4LAB_ASSIGN_OR_RETURN(std::vector<std::string> entries, StringList(*targets, file, field + ".targets"));
    for (size_t i = 0; i < entries.size(); ++i) {
      FP4LAB_ASSIGN_OR_RETURN(CtNamePattern p,
                              MakeCtPattern(entries[i], file, field + ".targets[" + std::to_string(i) + "]"));
      g.targets.push_back(std::move(p));
    }
    out.groups.push_back(std::move(g));
  }

  if (const json* kv = Member(qc, "kv_cache_scheme")) {
    FP4LAB_ASSIGN_OR_RETURN(out.kv_cache_quant_algo, ParseKvCache(*kv, file, base + ".kv_cache_scheme"));
  }
  return out;
}

Result<QuantConfig> ParseQuantConfigUnchecked(const json& config, const std::string& config_path,
                                              const json* hf_quant_config, const std::string& hf_path) {
  if (!config.is_object()) return FieldError(config_path, "(top level)", "expected a JSON object");
  std::optional<ModelOptFields> from_hf;
  if (hf_quant_config != nullptr) {
    const json* quantization = hf_quant_config->is_object() ? Member(*hf_quant_config, "quantization") : nullptr;
    if (quantization == nullptr || !quantization->is_object()) {
      return FieldError(hf_path, "quantization", "missing; expected {\"quantization\": {\"quant_algo\": ...}}");
    }
    from_hf = ExtractModelOptFields(*quantization, hf_path, "quantization");
  }

  const json* qc = Member(config, "quantization_config");
  if (qc == nullptr) {
    if (!from_hf) return QuantConfig{};
    return ParseModelOpt(nullptr, &*from_hf);
  }
  if (!qc->is_object()) return FieldError(config_path, "quantization_config", "expected an object, got " + qc->dump());
  const json* method = Member(*qc, "quant_method");
  if (method == nullptr) {
    return FieldError(config_path, "quantization_config.quant_method",
                      "missing; accepted: modelopt, compressed-tensors");
  }
  FP4LAB_ASSIGN_OR_RETURN(std::string method_name,
                          StringField(*method, config_path, "quantization_config.quant_method"));
  method_name = Lower(method_name);
  if (method_name == "modelopt") {
    // Newer exports are flat; a nested {"quantization": {...}} (the hf_quant_config.json shape) is read too.
    const json* nested = Member(*qc, "quantization");
    const ModelOptFields from_config =
        nested != nullptr && nested->is_object()
            ? ExtractModelOptFields(*nested, config_path, "quantization_config.quantization")
            : ExtractModelOptFields(*qc, config_path, "quantization_config");
    return ParseModelOpt(&from_config, from_hf ? &*from_hf : nullptr);
  }
  if (method_name == "compressed-tensors") {
    if (from_hf) {
      return FieldError(hf_path, "quantization",
                        "a ModelOpt description contradicts " + config_path +
                            " quantization_config.quant_method 'compressed-tensors'; remove one of them");
    }
    return ParseCompressedTensors(*qc, config_path);
  }
  return FieldError(config_path, "quantization_config.quant_method",
                    "'" + method_name + "' is not supported; accepted: modelopt, compressed-tensors");
}

json FloatArgs(int num_bits) {
  if (num_bits == 8) return {{"dynamic", false}, {"num_bits", 8}, {"type", "float"}};
  return {{"num_bits", 4},    {"type", "float"},   {"group_size", kNvfp4GroupSize},
          {"dynamic", false}, {"symmetric", true}, {"strategy", "tensor_group"}};
}

}  // namespace


bool CtNamePattern::Matches(const std::string& name) const {
  if (!is_regex) return text == name;
  return std::regex_search(name, regex, std::regex_constants::match_continuous);
}

Result<QuantConfig::Resolution> QuantConfig::Resolve(std::string_view linear_prefix) const {
  const std::string prefix(linear_prefix);
  const std::vector<std::string> shards = FusedShards(prefix);
  if (shards.empty()) return ResolveUnfused(*this, prefix);
  Resolution first = ResolveUnfused(*this, shards[0]);
  std::string names = shards[0];
  for (size_t i = 1; i < shards.size(); ++i) {
    const Resolution r = ResolveUnfused(*this, shards[i]);
    if (r.scheme != first.scheme) {
      return Status::InvalidArgument(source + ": fused layer '" + prefix + "' mixes schemes: '" + shards[0] + "' is " +
                                     std::string(LinearSchemeName(first.scheme)) + " (" + first.reason + ") but '" +
                                     shards[i] + "' is " + std::string(LinearSchemeName(r.scheme)) + " (" + r.reason +
                                     "); all shards of a fused layer need one scheme");
    }
    names += ", " + shards[i];
  }
  first.reason = "fused shards " + names + " agree: " + first.reason;
  return first;
}

Result<QuantConfig> ParseQuantConfig(const nlohmann::json& config, const std::string& config_path,
                                     const nlohmann::json* hf_quant_config, const std::string& hf_path) {
  try {
    return ParseQuantConfigUnchecked(config, config_path, hf_quant_config, hf_path);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(config_path + (hf_quant_config ? " / " + hf_path : "") +
                                   ": malformed quantization description: " + e.what());
  }
}

Result<ModelOptJson> ModelOptQuantConfigJson(LinearScheme scheme, const std::vector<std::string>& exclude_modules,
                                             const std::string& producer_version) {
  std::string algo;
  json group;
  switch (scheme) {
    case LinearScheme::kBf16:
      return Status::InvalidArgument(
          "ModelOpt export: scheme bf16 is not a quantization (accepted: nvfp4, "
          "nvfp4-w4a16, fp8)");
    case LinearScheme::kNvfp4:
      algo = "NVFP4";
      group = {{"weights", FloatArgs(4)}, {"input_activations", FloatArgs(4)}};
      break;
    case LinearScheme::kNvfp4W4A16:
      algo = "W4A16_NVFP4";
      group = {{"weights", FloatArgs(4)}};
      break;
    case LinearScheme::kFp8:
      algo = "FP8";
      group = {{"weights", FloatArgs(8)}, {"input_activations", FloatArgs(8)}};
      break;
  }
  group["targets"] = json::array({"Linear"});
  const json producer = {{"name", "modelopt"}, {"version", producer_version}};

  ModelOptJson out;
  json quantization = {{"quant_algo", algo}, {"kv_cache_quant_algo", nullptr}, {"exclude_modules", exclude_modules}};
  if (scheme != LinearScheme::kFp8) quantization["group_size"] = kNvfp4GroupSize;
  out.hf_quant_config = {{"producer", producer}, {"quantization", quantization}};
  out.quantization_config = {{"quant_method", "modelopt"},
                             {"quant_algo", algo},
                             {"ignore", exclude_modules},
                             {"config_groups", {{"group_0", group}}},
                             {"producer", producer}};
  return out;
}

Result<nlohmann::json> CompressedTensorsQuantConfigJson(LinearScheme scheme, const std::vector<std::string>& ignore) {
  if (scheme != LinearScheme::kNvfp4 && scheme != LinearScheme::kNvfp4W4A16) {
    return Status::InvalidArgument("compressed-tensors export: scheme " + std::string(LinearSchemeName(scheme)) +
                                   " is not supported (accepted: nvfp4, nvfp4-w4a16)");
  }
  json group = {{"weights", FloatArgs(4)}, {"targets", json::array({"Linear"})}};
  if (scheme == LinearScheme::kNvfp4) {
    json activations = FloatArgs(4);
    activations["dynamic"] = "local";
    group["input_activations"] = activations;
  }
  return json{{"quant_method", "compressed-tensors"},
              {"format", "nvfp4-pack-quantized"},
              {"ignore", ignore},
              {"config_groups", {{"group_0", group}}},
              {"quantization_status", "compressed"}};
}

}  // namespace fp4lab
